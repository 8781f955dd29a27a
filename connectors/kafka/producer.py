"""The producer of records: confluent-kafka (librdkafka), not kafka-python.

kafka-python spends about 300 us of Python per message (send, its accumulator, its sender thread holding
the GIL), so a target on it could not pass about 3,500 messages/s on the benchmark machine; librdkafka
batches in C threads and took 50,000/s in the same run, transactions included (docs/engines/kafka.md has
the figures). The rest of the target (topics, reading back, ``dms endpoint test``) stays on kafka-python.

Exactly once is librdkafka's transactional producer: ``init_transactions`` fences an older producer of the
same transactional id and aborts what it left open; ``commit_transaction`` sends what is queued and commits
it with the checkpoint, or fails whole.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from connectors.base import Endpoint
from connectors.errors import ConfigError, DataError, DmsError, TransientError

DELIVERY_TIMEOUT_MS = 120_000  # a record not acknowledged in this fails its batch (kafka-python's default too)
WAIT_SECONDS = 120.0  # longest wait for a commit, an abort or a flush
INIT_SECONDS = 30.0
LINGER_MS = 100  # a broker that does not take a producer's first transaction in this is away

_log = logging.getLogger("kafka.rdkafka")  # under client.py's "kafka" logger: kept from the user's log

_AWAY = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT, KafkaError._MSG_TIMED_OUT,
         KafkaError._RESOLVE, KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION,
         KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR}
_LOGIN = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError.ILLEGAL_SASL_STATE,
          KafkaError.UNSUPPORTED_SASL_MECHANISM}
_RIGHTS = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
           KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}
_TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE}
_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


class RecordProducer:
    """An idempotent producer (acks=all, ordered per partition through retries); transactional when given an
    id. Every failure it raises is a DmsError naming the endpoint."""

    def __init__(self, config: Mapping[str, Any], ep: Endpoint, transactional_id: str | None, max_bytes: int,
                 transaction_timeout_ms: int) -> None:
        self.ep = ep
        self.transactional = bool(transactional_id)
        self.failed: KafkaError | None = None  # the first record the broker did not take
        self.login: KafkaError | None = None  # a refused login, told only through error_cb
        request = max(max_bytes + 4096, 1_048_576)
        # Every send ends in a commit or a flush, which sends what is queued at once, linger or not: a
        # long linger costs no latency, and while a batch is being made it fills request-sized batches
        # (at 5 ms, a few dozen records each: librdkafka's broker thread then took 5-6 us of CPU a record, at
        # 100 ms about 1 us, measured on 20,000-record transactions)
        conf = {**config, "enable.idempotence": True, "acks": "all", "linger.ms": LINGER_MS,
                "batch.num.messages": 100_000, "batch.size": min(1_000_000, request), "message.max.bytes": request,
                "queue.buffering.max.messages": 500_000, "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                "delivery.report.only.error": True, "on_delivery": self._delivered, "error_cb": self._error,
                "logger": _log, "topic.metadata.refresh.interval.ms": 60_000}
        if transactional_id:
            conf.update({"transactional.id": transactional_id, "transaction.timeout.ms": transaction_timeout_ms})
        try:
            self._p = Producer(conf)
            if transactional_id:
                self._p.init_transactions(INIT_SECONDS)
        except KafkaException as exc:
            self._served()
            raise self.classify(exc) from exc

    def _delivered(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None and self.failed is None:
            self.failed = err

    def _error(self, err: KafkaError) -> None:
        if err.code() in _LOGIN:
            self.login = err

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        while True:
            try:
                self._p.produce(topic, value, key, headers=headers)
                return
            except BufferError:  # the local queue is full: let librdkafka send some
                self._p.poll(0.05)
            except KafkaException as exc:
                raise self.classify(exc) from exc

    def begin(self) -> None:
        self._call(self._p.begin_transaction)

    def commit(self) -> None:
        self._call(self._p.commit_transaction, WAIT_SECONDS)
        self._raise_failed()

    def abort(self) -> None:
        self._call(self._p.abort_transaction, WAIT_SECONDS)

    def flush(self) -> None:
        left = self._call(self._p.flush, WAIT_SECONDS)
        self._raise_failed()
        if left:
            raise TransientError(f"kafka endpoint {self.ep.id}: {left} records not acknowledged in "
                                 f"{WAIT_SECONDS:.0f} s: check that the broker runs")

    def close(self) -> None:
        try:
            self._p.purge()
            self._p.flush(1)
        except Exception:  # a producer that failed may not close cleanly: it is gone either way
            pass

    def _call(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except KafkaException as exc:
            self._served()
            raise self.classify(exc) from exc

    def _served(self) -> None:
        """The callbacks librdkafka has queued (a refused login among them): they run only in poll."""
        try:
            self._p.poll(0)
        except Exception:  # no producer was made, or it is past serving: nothing more to learn
            pass

    def _raise_failed(self) -> None:
        if self.failed is not None:
            raise self.classify(KafkaException(self.failed))

    def classify(self, exc: KafkaException) -> DmsError:
        """librdkafka's error -> what the worker does about it, in one line naming the endpoint and the fix
        (the same words as client.classify says for kafka-python's)."""
        err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        code = err.code() if err is not None else None
        text = err.str() if err is not None else (" ".join(str(exc).split()) or type(exc).__name__)
        where = f"kafka endpoint {self.ep.id}"
        if code in _LOGIN or (self.login is not None and code in _AWAY):
            words = (self.login or err).str()
            return ConfigError(f"{where}: the broker refused the SASL login ({words}): check "
                               "KafkaSettings.SaslUsername, SaslPassword and SaslMechanism")
        if code in _RIGHTS:
            return ConfigError(f"{where}: not allowed ({text}): grant the user Write and Describe on the topics "
                               "and on transactional ids opendms-*, or set KafkaSettings.ExactlyOnce false")
        if code in _TOO_LARGE:
            return DataError(f"{where}: a message is over what the broker or the topic takes ({text}): raise the "
                             "topic's max.message.bytes and KafkaSettings.MessageMaxBytes")
        if code in _FENCED:
            return TransientError(f"{where}: another worker took over this task's transactions ({text})")
        if code in _AWAY:
            return TransientError(f"{where}: the broker at {self._brokers()} does not answer ({text}): "
                                  "check KafkaSettings.Broker and that the broker runs")
        if err is not None and (err.retriable() or err.txn_requires_abort()):
            return TransientError(f"{where}: {text} (retried)")
        return DataError(f"{where}: {text}")

    def _brokers(self) -> str:
        from .settings import values  # the endpoint's broker list, for messages only
        return str(values(self.ep)["Broker"]) or self.ep.host
