"""A throwaway Apache Kafka broker (KRaft mode) for tests, started by deploy/kafka.sh.

DMS_TEST_KAFKA_URL (kafka://host:port) points the tests at an existing broker instead of starting one;
its SASL listener (user dms, password dms-secret, as deploy/kafka.sh --sasl makes it) is then
DMS_TEST_KAFKA_SASL_PORT."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from services import MissingServiceError, _make_dir, _run, _Server, external_value, free_port

KAFKA_VERSION = os.environ.get("KAFKA_VERSION", "4.4.0")
KAFKA_LIBS = Path(os.environ.get("KAFKA_LIBS", Path.home() / f".cache/opendms/kafka-{KAFKA_VERSION}/libs"))
SASL_USER, SASL_PASSWORD = "dms", "dms-secret"


class KafkaServer(_Server):
    env_var = "DMS_TEST_KAFKA_URL"

    def start(self) -> KafkaServer:
        if self.external:
            self.sasl_port = int(external_value("DMS_TEST_KAFKA_SASL_PORT") or 0)  # the existing broker's, if any
            self.url = self.external
            return self
        if not list(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
            raise MissingServiceError(f"Kafka {KAFKA_VERSION} jars not in {KAFKA_LIBS}: "
                                      "run deploy/install-test-deps.sh")
        self.dir = _make_dir("kafka-")
        self.sasl_port = free_port()
        try:
            self.url = _run("kafka.sh", "start", str(self.dir), str(free_port()), "--sasl", str(self.sasl_port))
        except RuntimeError as e:
            log = self.dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            self.stop()
            raise RuntimeError(f"{e}\n--- server log ---\n{tail}") from None
        self._warm_up()
        return self

    def _warm_up(self) -> None:
        """One transaction before any test: the broker makes its transaction log on first use, which on a
        busy machine outlasts the 10 s a client gives a broker to answer (the first test of a run failed)."""
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.broker, transactional_id="opendms-warm-up",
                                 enable_idempotence=True, acks="all", max_block_ms=120_000,
                                 request_timeout_ms=120_000)
        try:
            producer.init_transactions()
            producer.begin_transaction()
            producer.send("opendms-warm-up", b"ready")
            producer.commit_transaction()
        finally:
            producer.close(timeout=10)

    @property
    def broker(self) -> str:
        u = urlsplit(self.url)
        return f"{u.hostname}:{u.port}"

    def stop(self) -> None:
        if self.dir is not None:
            _run("kafka.sh", "stop", str(self.dir))
            self._cleanup()
