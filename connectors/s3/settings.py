"""DMS's S3Settings: the keys this target takes, their defaults and allowed values, checked once.

The settings live on the endpoint as extra attributes under DMS's own key names (text), as `dms endpoint
create --s3-settings` or `--extra` keeps them. ``S3Config.of(endpoint)`` reads and checks them all: an
unknown key is refused naming the closest known one, a wrong value names what is allowed. ``EndpointUrl`` is
OpenDMS's own key (DMS has no address for S3): the URL of an S3-compatible server.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import Endpoint
from connectors.errors import ConfigError
from connectors.settings_object import Key, SettingsObject

OBJECT = "S3Settings"

# key -> (type, default, allowed values). Only keys a target uses; source-only keys are refused by name.
KEYS: dict[str, tuple[type, Any, tuple[str, ...]]] = {
    "BucketName": (str, "", ()),
    "BucketFolder": (str, "", ()),
    "EndpointUrl": (str, "", ()),  # ours: an S3-compatible server (DMS has no such key)
    "ServiceAccessRoleArn": (str, "", ()),
    "ExpectedBucketOwner": (str, "", ()),
    "DataFormat": (str, "csv", ("csv", "parquet")),
    "CsvDelimiter": (str, ",", ()),
    "CsvRowDelimiter": (str, "\n", ()),
    "CsvNullValue": (str, "NULL", ()),
    "AddColumnName": (bool, False, ()),
    "Rfc4180": (bool, True, ()),
    "AddTrailingPaddingCharacter": (bool, False, ()),
    "UseCsvNoSupValue": (bool, False, ()),
    "CsvNoSupValue": (str, "", ()),
    "CompressionType": (str, "none", ("none", "gzip")),
    "EncryptionMode": (str, "sse-s3", ("sse-s3", "sse-kms")),
    "ServerSideEncryptionKmsKeyId": (str, "", ()),
    "CannedAclForObjects": (str, "none", ("none", "private", "public-read", "public-read-write",
                                          "authenticated-read", "aws-exec-read", "bucket-owner-read",
                                          "bucket-owner-full-control")),
    "IncludeOpForFullLoad": (bool, False, ()),
    "CdcInsertsOnly": (bool, False, ()),
    "CdcInsertsAndUpdates": (bool, False, ()),
    "TimestampColumnName": (str, "", ()),
    "UseTaskStartTimeForFullLoadTimestamp": (bool, False, ()),
    "DatePartitionEnabled": (bool, False, ()),
    "DatePartitionSequence": (str, "YYYYMMDD", ("YYYYMMDD", "YYYYMMDDHH", "YYYYMM", "MMYYYYDD", "DDMMYYYY")),
    "DatePartitionDelimiter": (str, "SLASH", ("SLASH", "UNDERSCORE", "DASH", "NONE")),
    "DatePartitionTimezone": (str, "", ()),
    "CdcMaxBatchInterval": (int, 60, ()),
    "CdcMinFileSize": (int, 32000, ()),
    "MaxFileSize": (int, 1_048_576, ()),
    "ParquetVersion": (str, "parquet-1-0", ("parquet-1-0", "parquet-2-0")),
    "EnableStatistics": (bool, True, ()),
    "EncodingType": (str, "rle-dictionary", ("plain", "plain-dictionary", "rle-dictionary")),
    "DictPageSizeLimit": (int, 1_048_576, ()),
    "RowGroupLength": (int, 10_000, ()),
    "DataPageSize": (int, 1_048_576, ()),
    "ParquetTimestampInMillisecond": (bool, False, ()),
    "PreserveTransactions": (bool, False, ()),
    "CdcPath": (str, "", ()),
    "GlueCatalogGeneration": (bool, False, ()),
}
# Keys of the object that only an S3 *source* takes: named as such rather than "unknown".
SOURCE_ONLY = ("ExternalTableDefinition", "IgnoreHeaderRows")
# Extra attributes that are not S3Settings keys but the endpoint's own (e.g. the target kind).
NOT_SETTINGS = ("targetKind",)
DELIMITERS = {"SLASH": "/", "UNDERSCORE": "_", "DASH": "-", "NONE": ""}
_DATE_PARTS = {"YYYYMMDD": "%Y|%m|%d", "YYYYMMDDHH": "%Y|%m|%d|%H", "YYYYMM": "%Y|%m",
               "MMYYYYDD": "%m|%Y|%d", "DDMMYYYY": "%d|%m|%Y"}


def check_value(name: str, value: Any) -> Any:
    """One key's value, typed (text "true"/"60" from extra attributes too), or a ConfigError naming it."""
    if name in SOURCE_ONLY:
        raise ConfigError(f"{OBJECT}.{name} is for an S3 source; this S3 endpoint is a target: remove it")
    if name not in KEYS:
        close = difflib.get_close_matches(name, list(KEYS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "see docs/engines/s3.md for the keys"
        raise ConfigError(f"{OBJECT} has no key {name!r}: {hint}")
    kind, _default, allowed = KEYS[name]
    wrong = ConfigError(f"{OBJECT}.{name} must be {_kind(kind, allowed)}, not {json.dumps(value)}")
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise wrong
    elif kind is int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
    elif not isinstance(value, str):
        raise wrong
    if allowed and value not in allowed:
        lowered = {a.lower(): a for a in allowed}
        if isinstance(value, str) and value.lower() in lowered:
            return lowered[value.lower()]
        raise ConfigError(f"{OBJECT}.{name} {value!r} is not one of {', '.join(allowed)}")
    return value


class _S3Settings(SettingsObject):
    """`--s3-settings` as the CLI takes it: each key checked as the target checks it, then the whole object
    (a missing BucketName, keys that cannot go together), so `endpoint create` refuses what a task would."""

    def _check(self, name: str, value: Any) -> Any:
        return check_value(name, value)

    def parse(self, text: str) -> dict[str, Any]:
        values = super().parse(text)
        S3Config.parse(values)
        return values


S3_SETTINGS = _S3Settings("S3Settings", "s3-settings", tuple(
    Key(name, kind, default, allowed, ours=name == "EndpointUrl") for name, (kind, default, allowed) in KEYS.items()))


def _kind(kind: type, allowed: tuple[str, ...]) -> str:
    if allowed:
        return f"one of {', '.join(allowed)}"
    return {bool: "true or false", int: "a whole number"}.get(kind, "a string")


@dataclass(frozen=True)
class S3Config:
    """The endpoint's S3Settings, every key typed with its default, and what follows from them."""

    values: Mapping[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @classmethod
    def of(cls, ep: Endpoint) -> S3Config:
        return cls.parse({k: v for k, v in ep.extra.items() if k not in NOT_SETTINGS}, where=ep.id)

    @classmethod
    def parse(cls, given: Mapping[str, Any], where: str = "") -> S3Config:
        values = {name: default for name, (_t, default, _a) in KEYS.items()}
        values.update({name: check_value(name, value) for name, value in given.items()})
        config = cls(values)
        config._check(where)
        return config

    def _check(self, where: str) -> None:
        v = self.values
        at = f"endpoint {where}: " if where else ""
        if not v["BucketName"]:
            raise ConfigError(f"{at}{OBJECT}.BucketName is missing: give the bucket (or file:///path for a folder)")
        if v["CdcInsertsOnly"] and v["CdcInsertsAndUpdates"]:
            raise ConfigError(f"{at}{OBJECT}.CdcInsertsOnly and CdcInsertsAndUpdates cannot both be true: keep one")
        if v["PreserveTransactions"] or v["CdcPath"]:
            raise ConfigError(f"{at}{OBJECT}.PreserveTransactions/CdcPath (cross-table transaction files) are not "
                              "supported by OpenDMS yet: remove them (docs/engines/s3.md)")
        if v["GlueCatalogGeneration"]:
            raise ConfigError(f"{at}{OBJECT}.GlueCatalogGeneration needs AWS Glue, which OpenDMS does not drive: "
                              "remove it")
        if not v["CsvDelimiter"] or not v["CsvRowDelimiter"]:
            raise ConfigError(f"{at}{OBJECT}.CsvDelimiter and CsvRowDelimiter cannot be empty")
        if not 1 <= v["MaxFileSize"] <= 1_048_576:
            raise ConfigError(f"{at}{OBJECT}.MaxFileSize {v['MaxFileSize']} is out of range: give 1 to 1048576 (KB)")
        for name in ("CdcMaxBatchInterval", "CdcMinFileSize", "RowGroupLength", "DataPageSize", "DictPageSizeLimit"):
            if v[name] < 0:
                raise ConfigError(f"{at}{OBJECT}.{name} {v[name]} cannot be negative")
        if v["DatePartitionTimezone"]:
            try:
                ZoneInfo(v["DatePartitionTimezone"])
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(f"{at}{OBJECT}.DatePartitionTimezone {v['DatePartitionTimezone']!r} is not a time "
                                  "zone: give Area/Location, e.g. Europe/Paris") from None

    # -- what follows from the keys --------------------------------------------------------------

    @property
    def parquet(self) -> bool:
        return self.values["DataFormat"] == "parquet"

    @property
    def suffix(self) -> str:
        base = ".parquet" if self.parquet else ".csv"
        # Parquet compresses inside the file (its pages); a CSV file is gzipped whole, as DMS names it.
        return base + (".gz" if self.values["CompressionType"] == "gzip" and not self.parquet else "")

    @property
    def local(self) -> bool:
        bucket = self.values["BucketName"]
        return bucket.startswith("file://") or bucket.startswith("/") or bucket.startswith(".")

    @property
    def folder(self) -> str:
        """The key prefix before schema/table ("" or "folder/")."""
        folder = self.values["BucketFolder"].strip("/")
        return f"{folder}/" if folder else ""

    def op_in_load(self) -> bool:
        return self.values["IncludeOpForFullLoad"]

    def op_in_cdc(self) -> bool:
        """CdcInsertsOnly writes inserts without the op column, unless the full load has one (DMS)."""
        return not self.values["CdcInsertsOnly"] or self.values["IncludeOpForFullLoad"]

    def date_folder(self, when: float) -> str:
        """The commit-date folder of a CDC file ("" unless DatePartitionEnabled), e.g. "2026/12/07/"."""
        if not self.values["DatePartitionEnabled"]:
            return ""
        from datetime import datetime

        zone = ZoneInfo(self.values["DatePartitionTimezone"]) if self.values["DatePartitionTimezone"] else UTC
        parts = datetime.fromtimestamp(when, zone).strftime(_DATE_PARTS[self.values["DatePartitionSequence"]])
        delimiter = DELIMITERS[self.values["DatePartitionDelimiter"]]
        return delimiter.join(parts.split("|")) + "/"
