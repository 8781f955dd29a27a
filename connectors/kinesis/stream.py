"""One Kinesis data stream through boto3: the client from KinesisSettings and boto3's credential chain, batched
PutRecords that retry only the failed entries and keep each partition key's records in order, reading the
shards back, and the one classifier of the engine's errors."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions as bx

from connectors.base import Endpoint
from connectors.errors import ConfigError, DataError, DmsError, TransientError

from .settings import KINESIS_SETTINGS

MAX_ENTRIES = 500  # PutRecords' limits: entries per call, bytes per call, bytes per record
MAX_CALL_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
MAX_KEY_CHARS = 256
RETRIES = 12  # rounds of retrying failed entries (back-off 0.05 s doubling to 2 s) before giving up
HINT = "in --kinesis-settings"
_TRANSIENT = {"ProvisionedThroughputExceededException", "LimitExceededException", "InternalFailure",
              "ServiceUnavailable", "ThrottlingException", "KMSThrottlingException", "ResourceInUseException"}
# Which link of its chain boto3 took the credentials from is no news worth a line of every command's output.
logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
_CREDENTIALS = {"UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException",
                "ExpiredTokenException", "IncompleteSignature", "MissingAuthenticationToken"}


@dataclass(frozen=True, slots=True)
class Entry:
    key: str  # the partition key
    data: bytes


@dataclass(frozen=True, slots=True)
class Read:
    """A record read back: when it arrived (ms), its shard's index and its sequence number, its data."""

    arrived: float
    shard: int
    sequence: int
    data: bytes


def stream_name(arn: str | None) -> tuple[str, str]:
    """StreamArn -> (region, stream name), or a ConfigError naming what is wrong."""
    parts = (arn or "").split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "kinesis" or not parts[5].startswith("stream/"):
        raise ConfigError(f"KinesisSettings.StreamArn {arn!r} is not a stream's ARN: give "
                          f"arn:aws:kinesis:REGION:ACCOUNT:stream/NAME {HINT}")
    return parts[3], parts[5].removeprefix("stream/")


def classify(exc: Exception, ep: Endpoint, name: str) -> DmsError:
    where = f"{ep.engine} endpoint {ep.id} (stream {name})"
    if isinstance(exc, bx.NoCredentialsError):
        return ConfigError(f"{where}: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                           "AWS_PROFILE (boto3's usual chain; OpenDMS keeps none in its catalog)")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError
                  | bx.ConnectionClosedError):
        return TransientError(f"cannot reach {where}: {exc}; is EndpointUrl {HINT} right, and the server up?")
    if isinstance(exc, bx.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        text = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code == "ResourceNotFoundException":
            return ConfigError(f"{where} does not exist ({text}): create it, or fix StreamArn {HINT}")
        if code in _CREDENTIALS:
            return ConfigError(f"{where}: the AWS credentials were refused ({code}: {text}): check boto3's chain "
                               "(AWS_ACCESS_KEY_ID, AWS_PROFILE) and the rights kinesis:PutRecords, "
                               "kinesis:DescribeStreamSummary, kinesis:ListShards, kinesis:GetRecords")
        if code in _TRANSIENT:
            return TransientError(f"{where}: {code}: {text}")
        return DataError(f"{where}: {code}: {text}")
    return DataError(f"{where}: {exc}")


class Stream:
    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        settings = KINESIS_SETTINGS.values(ep)
        if not settings["StreamArn"]:
            raise ConfigError(f"{ep.where()}: KinesisSettings.StreamArn is required {HINT}")
        self.region, self.name = stream_name(settings["StreamArn"])
        config = botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10,
                                        read_timeout=60)
        self.client: Any = boto3.session.Session().client("kinesis", region_name=self.region, config=config,
                                                          endpoint_url=settings["EndpointUrl"] or None)
        self._read: dict[str, tuple[list[Read], str]] = {}  # shard -> what was read of it, its last sequence

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, method)(StreamName=self.name, **kwargs)
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise classify(exc, self.ep, self.name) from None

    # -- writing -----------------------------------------------------------------------------------

    def put(self, entries: Sequence[Entry]) -> None:
        """Every entry written, each partition key's in the order given: calls of up to 500 entries and 5 MiB;
        after a call, a key with a failed entry sends it and every later entry of that key again (a later
        one that went through is then written twice, after it: at least once, in order), the others are done."""
        for entry in entries:
            size = len(entry.data) + len(entry.key.encode())
            if size > MAX_RECORD_BYTES:
                raise DataError(f"{self.ep.where()}: a record with partition key {entry.key!r} is {size} bytes, over "
                                f"Kinesis's {MAX_RECORD_BYTES} bytes: the table fails (as in DMS)")
        pending = list(entries)
        failures = 0
        while pending:
            call, size = [], 0
            for entry in pending[:MAX_ENTRIES]:
                size += len(entry.data) + len(entry.key.encode())
                if call and size > MAX_CALL_BYTES:
                    break
                call.append(entry)
            result = self.call("put_records", Records=[{"PartitionKey": e.key, "Data": e.data} for e in call])
            again = _resend(call, result.get("Records", []))
            pending = again + pending[len(call):]
            if again:
                failures += 1
                if failures > RETRIES:
                    codes = {r.get("ErrorCode") for r in result.get("Records", []) if r.get("ErrorCode")}
                    raise TransientError(f"{self.ep.where()} (stream {self.name}): {len(again)} record(s) still "
                                         f"refused after {RETRIES} retries ({', '.join(sorted(codes))})")
                time.sleep(min(2.0, 0.05 * 2 ** failures))

    # -- reading back ------------------------------------------------------------------------------

    def shards(self) -> list[dict[str, Any]]:
        page = self.call("list_shards")
        out = list(page.get("Shards", []))
        while page.get("NextToken"):
            page = _unnamed(self, "list_shards", NextToken=page["NextToken"])
            out += page.get("Shards", [])
        return out

    def read(self, only_key: str | None = None) -> Iterator[Read]:
        """Every record of every shard from the oldest kept (with ``only_key``, of the shard that key maps to).
        What was read once is kept: a later read asks each shard only for what came after it."""
        shards = self.shards()
        if only_key is not None:
            point = int(hashlib.md5(only_key.encode()).hexdigest(), 16)  # noqa: S324  (Kinesis's own key hash)
            shards = [s for s in shards if int(s["HashKeyRange"]["StartingHashKey"]) <= point
                      <= int(s["HashKeyRange"]["EndingHashKey"])]
        for shard in shards:
            sid = shard["ShardId"]
            held, last = self._read.get(sid, ([], ""))
            start = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": last} if last \
                else {"ShardIteratorType": "TRIM_HORIZON"}
            it = self.call("get_shard_iterator", ShardId=sid, **start)["ShardIterator"]
            index = int(sid.rsplit("-", 1)[-1]) if sid.rsplit("-", 1)[-1].isdigit() else 0
            while it:
                page = _unnamed(self, "get_records", ShardIterator=it, Limit=10_000)
                records = page.get("Records", [])
                for r in records:
                    held.append(Read(r["ApproximateArrivalTimestamp"].timestamp(), index, int(r["SequenceNumber"]),
                                     r["Data"]))
                    last = r["SequenceNumber"]
                if not records or page.get("MillisBehindLatest", 0) == 0 and len(records) < 10_000:
                    break
                it = page.get("NextShardIterator")
            self._read[sid] = (held, last)
            yield from held


def _unnamed(stream: Stream, method: str, **kwargs: Any) -> dict[str, Any]:
    """A call that takes no StreamName (a shard iterator or a page token names the stream)."""
    try:
        return getattr(stream.client, method)(**kwargs)
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise classify(exc, stream.ep, stream.name) from None


def _resend(call: Sequence[Entry], results: Sequence[dict[str, Any]]) -> list[Entry]:
    """The entries to send again, in order: for each key with a failed entry, that entry and every later one."""
    failed: set[str] = set()
    again = []
    for entry, result in zip(call, results, strict=True):
        if entry.key in failed or result.get("ErrorCode"):
            failed.add(entry.key)
            again.append(entry)
    return again
