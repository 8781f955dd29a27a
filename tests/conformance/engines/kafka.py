"""Apache Kafka, a target only (append kind): each database is a topic of its own on the session's broker,
and `read` folds the topic back into rows (each key's latest image, as a read_committed consumer sees it)."""

from __future__ import annotations

import secrets

import pytest

from connectors.base import Endpoint

from . import Engine, register

APPEND = "an append target checks no change against what the topic holds: apply-error policies do not apply"


@register
class KafkaEngine(Engine):
    name = "kafka"
    roles = ("target",)
    pairs = (("postgres", "kafka"),)
    cannot = {
        "test_conflicts_are_skipped_and_reported": APPEND,
        "test_a_failing_conflict_applies_nothing": APPEND,
        "test_before_load_empties_the_selected_tables_together_and_keep_touches_nothing":
            "records appended cannot be truncated (task create refuses TRUNCATE_BEFORE_LOAD on an append target)",
    }
    doc_type = ""

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(request.getfixturevalue("kafka_server").broker)

    def __init__(self, broker: str) -> None:
        self.broker = broker
        self.topic = f"conformance-{secrets.token_hex(4)}"

    def endpoint(self, kind: str) -> Endpoint:
        # NULL and '' are told apart only with IncludeNullAndEmpty (DMS leaves both out by default). Checkpoints
        # of its own: task names repeat from run to run, and a broker given by DMS_TEST_KAFKA_URL outlives runs.
        # The endpoint's id names its transactional producers: one per topic, so the test processes that share
        # the run's broker (with the same task names) never fence each other's.
        return Endpoint(f"kafka-{kind}-{self.topic}", kind, "kafka", extra={
            "Broker": self.broker, "Topic": self.topic, "CheckpointTopic": f"{self.topic}-checkpoints",
            "IncludeNullAndEmpty": "true"})
