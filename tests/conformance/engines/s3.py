"""Amazon S3 as a target (CSV and Parquet files in DMS's layout) on a real S3-compatible server (gofakes3):
its `read` reads the files back and folds their I/U/D records into rows."""

from __future__ import annotations

from typing import ClassVar

import pytest

from connectors.base import Endpoint

from . import Engine, register

APPEND = "an append target checks no change against what its files hold: apply-error policies do not apply"
PARQUET_GAPS = {
    "timestamptz_offset": "Parquet keeps a timestamp with time zone as a UTC instant: +05:30 arrives as +00",
    "date_special": "Parquet dates and timestamps hold no infinity and no BC dates",
    "float8_special": "",  # Parquet keeps NaN and infinities: no gap
}


class _S3Engine(Engine):
    roles = ("target",)
    cannot: ClassVar[dict[str, str]] = {"test_conflicts_are_skipped_and_reported": APPEND,
                                         "test_a_failing_conflict_applies_nothing": APPEND}
    settings: ClassVar[dict[str, str]] = {}

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        server = request.getfixturevalue("s3_server")
        return cls(server.url, server.bucket())

    def __init__(self, url: str, bucket: str) -> None:
        self.url, self.bucket = url, bucket

    def endpoint(self, kind: str) -> Endpoint:
        extra = {"BucketName": self.bucket, "EndpointUrl": self.url, "BucketFolder": "dms", **self.settings}
        return Endpoint(f"{self.name}-{kind}", kind, "s3", extra=extra)


@register
class S3CsvEngine(_S3Engine):
    name = "s3csv"
    pairs = (("postgres", "s3csv"), ("sqlite", "s3csv"))
    # A column an update did not carry (PostgreSQL's unchanged TOAST values) is written as DMS's
    # CsvNoSupValue, so the rows folded from the files keep it.
    # A CDC file per batch here (CdcMaxBatchInterval 0); the Parquet engine gathers batches (DMS's 60 s).
    settings: ClassVar[dict[str, str]] = {"UseCsvNoSupValue": "true", "CsvNoSupValue": "@NOSUP@",
                                          "AddColumnName": "true", "CdcMaxBatchInterval": "0"}


@register
class S3ParquetEngine(_S3Engine):
    name = "s3parquet"
    pairs = (("postgres", "s3parquet"), ("sqlite", "s3parquet"))
    settings: ClassVar[dict[str, str]] = {"DataFormat": "parquet", "ParquetVersion": "parquet-2-0"}
    type_gaps: ClassVar[dict[str, str]] = {k: v for k, v in PARQUET_GAPS.items() if v}
    keeps_unsent_values = False
