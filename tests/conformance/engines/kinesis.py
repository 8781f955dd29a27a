"""Kinesis Data Streams as a target (append), on kinesalite: a stream of two shards per module, read back by
the target's `read` (every shard, folded into the latest row per key)."""

from __future__ import annotations

import secrets

import pytest

from connectors.base import Endpoint

from . import Engine, register

APPEND = "an append target checks no change against what the stream holds: apply-error policies do not apply"


@register
class KinesisEngine(Engine):
    name = "kinesis"
    roles = ("target",)
    pairs = (("postgres", "kinesis"), ("sqlite", "kinesis"))
    cannot = {
        "test_conflicts_are_skipped_and_reported": APPEND,
        "test_a_failing_conflict_applies_nothing": APPEND,
        "test_before_load_empties_the_selected_tables_together_and_keep_touches_nothing":
            "records appended cannot be truncated (task create refuses TRUNCATE_BEFORE_LOAD on an append target)",
    }

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(request.getfixturevalue("kinesis_server"))

    def __init__(self, server) -> None:
        self.url = server.url
        self.stream = f"conformance-{secrets.token_hex(4)}"
        server.client().create_stream(StreamName=self.stream, ShardCount=2)

    def endpoint(self, kind: str) -> Endpoint:
        # IncludeNullAndEmpty: without it (DMS's default) a record leaves out NULLs and '' alike.
        return Endpoint(f"kinesis-{kind}", kind, "kinesis", extra={
            "StreamArn": f"arn:aws:kinesis:us-east-1:000000000000:stream/{self.stream}", "EndpointUrl": self.url,
            "IncludeNullAndEmpty": "true"})
