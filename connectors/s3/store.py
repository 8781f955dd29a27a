"""Where the files go: a bucket through boto3 (Amazon S3 or an S3-compatible server), or a local folder.

Both stores make a file visible whole or not at all: an S3 PUT is atomic, and a local file is written
under a hidden temporary name (``.name.tmp-…``, which Athena, Glue and Spark skip) and renamed into place.
So a worker killed mid-write never leaves a half file that a reader would take. Errors become the tree of
connectors/errors.py here, in ``classify``, each one line with the fix.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from connectors.errors import ConfigError, DmsError, TransientError

from .settings import OBJECT, S3Config


class Store:
    """Keys are '/'-separated paths inside the bucket (or under the folder)."""

    where = ""

    def put(self, key: str, data: bytes, *, new: bool = False) -> bool:
        """Write the object whole; with ``new``, only if no object has that key (False when one has)."""
        raise NotImplementedError

    def get(self, key: str) -> bytes | None:
        raise NotImplementedError

    def writer(self, key: str) -> Writer:
        """A file to fill and then commit under ``key`` (visible only once committed, whole)."""
        return Writer(self, key, tempfile.SpooledTemporaryFile(max_size=64 << 20))

    def commit(self, writer: Writer) -> None:
        writer.file.seek(0)
        self.put(writer.key, writer.file.read())

    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""
        raise NotImplementedError

    def delete(self, keys: list[str]) -> None:
        raise NotImplementedError

    def check(self) -> list[str]:
        """What keeps the store from being written, one line each."""
        probe = f"_opendms/probe-{secrets.token_hex(4)}"
        try:
            self.put(probe, b"")
            self.delete([probe])
        except DmsError as exc:
            return [str(exc)]
        return []


class Writer:
    def __init__(self, store: Store, key: str, file: IO[bytes]) -> None:
        self.store, self.key, self.file = store, key, file

    def commit(self) -> None:
        self.file.flush()
        self.store.commit(self)
        self.file.close()

    def abort(self) -> None:
        self.file.close()


class FolderStore(Store):
    def __init__(self, config: S3Config) -> None:
        bucket = config["BucketName"]
        self.root = Path(bucket.removeprefix("file://") if bucket.startswith("file://") else bucket).expanduser()
        self.where = f"folder {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes, *, new: bool = False) -> bool:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
            with open(temp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if new:
                try:
                    os.link(temp, path)  # fails when the name is taken: the claim is atomic
                except FileExistsError:
                    return False
                finally:
                    temp.unlink()
            else:
                os.replace(temp, path)
        except OSError as exc:
            raise self._error(exc, key) from None
        return True

    def writer(self, key: str) -> Writer:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
            return _FolderWriter(self, key, open(temp, "w+b"), temp)
        except OSError as exc:
            raise self._error(exc, key) from None

    def commit(self, writer: Writer) -> None:
        assert isinstance(writer, _FolderWriter)
        try:
            os.fsync(writer.file.fileno())
            os.replace(writer.temp, self._path(writer.key))
        except OSError as exc:
            raise self._error(exc, writer.key) from None

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(exc, key) from None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix.endswith("/") else self._path(prefix).parent
        if not base.is_dir():
            return []
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".") and ".tmp-" in name:
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self._path(key).unlink(missing_ok=True)
            except OSError as exc:
                raise self._error(exc, key) from None

    def check(self) -> list[str]:
        if not self.root.is_dir():
            return [f"{OBJECT}.BucketName: {self.where} does not exist: create it or give another"]
        return super().check()

    def _error(self, exc: OSError, key: str) -> DmsError:
        if isinstance(exc, PermissionError):
            return ConfigError(f"{self.where}: no permission to write {key}: grant it or give another folder")
        return TransientError(f"{self.where}: {key}: {exc.strerror or exc}")


class _FolderWriter(Writer):
    def __init__(self, store: Store, key: str, file: IO[bytes], temp: Path) -> None:
        super().__init__(store, key, file)
        self.temp = temp

    def abort(self) -> None:
        self.file.close()
        self.temp.unlink(missing_ok=True)


class BucketStore(Store):
    def __init__(self, config: S3Config) -> None:
        self.bucket = config["BucketName"]
        self.url = config["EndpointUrl"] or None
        self.owner = config["ExpectedBucketOwner"]
        self.where = f"bucket {self.bucket}" + (f" at {self.url}" if self.url else "")
        self.extra: dict[str, str] = {}
        if config["CannedAclForObjects"] != "none":
            self.extra["ACL"] = config["CannedAclForObjects"]
        if config["EncryptionMode"] == "sse-kms":
            self.extra["ServerSideEncryption"] = "aws:kms"
            if config["ServerSideEncryptionKmsKeyId"]:
                self.extra["SSEKMSKeyId"] = config["ServerSideEncryptionKmsKeyId"]
        self.client = _client(self.url)

    def _owner(self) -> dict[str, str]:
        return {"ExpectedBucketOwner": self.owner} if self.owner else {}

    def put(self, key: str, data: bytes, *, new: bool = False) -> bool:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **self.extra, **self._owner(),
                                   **({"IfNoneMatch": "*"} if new else {}))
        except Exception as exc:  # noqa: BLE001 - botocore's errors are many; classify sorts them
            if new and _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise self.classify(exc, key) from None
        return True

    def commit(self, writer: Writer) -> None:
        writer.file.seek(0)
        try:
            self.client.put_object(Bucket=self.bucket, Key=writer.key, Body=writer.file, **self.extra, **self._owner())
        except Exception as exc:  # noqa: BLE001
            raise self.classify(exc, writer.key) from None

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key, **self._owner())["Body"].read()
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self.classify(exc, key) from None

    def list(self, prefix: str) -> list[str]:
        out: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix,
                                                                          **self._owner())
            for page in pages:
                out.extend(o["Key"] for o in page.get("Contents", ()))
        except Exception as exc:  # noqa: BLE001
            raise self.classify(exc, prefix) from None
        return sorted(out)

    def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            try:
                objects = [{"Key": k} for k in keys[i:i + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True},
                                           **self._owner())
            except Exception as exc:  # noqa: BLE001
                raise self.classify(exc, keys[i]) from None

    def check(self) -> list[str]:
        try:
            self.client.head_bucket(Bucket=self.bucket, **self._owner())
        except Exception as exc:  # noqa: BLE001
            return [str(self.classify(exc, ""))]
        return super().check()

    def classify(self, exc: Exception, key: str) -> DmsError:
        """A boto3/botocore error -> ConfigError (the user must fix it) or TransientError (waiting may)."""
        from botocore.exceptions import (
            ConnectionClosedError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        at = f"{self.where}" + (f" ({key})" if key else "")
        code = _code(exc)
        if isinstance(exc, NoCredentialsError):
            return ConfigError(f"{at}: no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                               "a profile (AWS_PROFILE) or an instance role")
        if isinstance(exc, EndpointConnectionError):
            return TransientError(f"{at}: cannot reach {self.url or 'S3'}: check {OBJECT}.EndpointUrl and that "
                                  "the server runs")
        if isinstance(exc, (ConnectionClosedError, ReadTimeoutError)):
            return TransientError(f"{at}: the connection dropped ({exc}): retrying")
        if code in ("NoSuchBucket", "404") and not key:
            return ConfigError(f"{at}: the bucket does not exist: create it or fix {OBJECT}.BucketName")
        if code == "NoSuchBucket":
            return ConfigError(f"{at}: the bucket does not exist: create it or fix {OBJECT}.BucketName")
        if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return ConfigError(f"{at}: access denied ({code}): give the credentials s3:PutObject, s3:GetObject, "
                               "s3:ListBucket and s3:DeleteObject on the bucket")
        if code in ("SlowDown", "ServiceUnavailable", "InternalError", "503", "500", "RequestTimeout"):
            return TransientError(f"{at}: the server is busy ({code}): retrying")
        return TransientError(f"{at}: {code or type(exc).__name__}: {exc}")


_CLIENTS: dict[tuple[int, str | None, str | None], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _client(url: str | None) -> Any:
    """One boto3 client per server and credentials profile in a process: making one takes a third of a
    second, and a worker opens its target per job. Credentials: boto3's own chain (environment, shared
    files, instance role), never stored by OpenDMS."""
    import boto3
    from botocore.config import Config

    # "Found credentials in environment variables." on every start is noise on a CLI's one-line answers.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    with _CLIENTS_LOCK:
        # Keyed by process too: a client's connections must not be shared with a forked pool's children.
        key = (os.getpid(), url, os.environ.get("AWS_PROFILE"))
        found = _CLIENTS.get(key)
        if found is None:
            session = boto3.session.Session()
            found = _CLIENTS[key] = session.client(
                "s3", endpoint_url=url, region_name=session.region_name or "us-east-1",
                # Two tries here: the worker retries a TransientError itself, with back-off, and `endpoint
                # test` of an unreachable server answers in a second instead of eight.
                config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                              s3={"addressing_style": "path"} if url else None))
        return found


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def open_store(config: S3Config) -> Store:
    return FolderStore(config) if config.local else BucketStore(config)

