"""kafka-python, as the Kafka target uses it: producers, topics, reading a topic to its committed end, the
endpoint test, and the one classifier of the driver's errors into connectors/errors.py."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kerr
from kafka.admin import NewTopic

from connectors.base import Endpoint
from connectors.errors import ConfigError, DataError, DmsError, TransientError

log = structlog.get_logger(__name__)


class _RefusedLogins(logging.Handler):
    """kafka-python logs every failed connection attempt, many lines a second while a broker is away, and
    a refused SASL login only there (its bootstrap then just times out). Its log goes here instead of the
    user's: what matters reaches the user once, classified below, a refused login included."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: dict[str, tuple[float, str]] = {}  # broker host:port -> (when, the broker's words)

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "SaslAuthenticationFailed" in text or "Authentication failed" in text:
            address = text.partition("[")[2].partition("<-")[0]
            words = text.rpartition("SaslAuthenticationFailedError: ")[2] or text
            self.last[address] = (time.monotonic(), words.rstrip(")"))

    def refused(self, brokers: list[str], within: float = 60.0) -> str:
        found = [self.last.get(b) for b in brokers]
        recent = [text for when, text in filter(None, found) if time.monotonic() - when < within]
        return recent[0] if recent else ""


LOGINS = _RefusedLogins()
_driver_log = logging.getLogger("kafka")
_driver_log.setLevel(logging.ERROR)
_driver_log.propagate = False
_driver_log.addHandler(LOGINS)

TIMEOUT_MS = 10_000  # connecting, metadata, a request: a broker that does not answer in this is away
READ_SECONDS = 60.0  # longest wait to read a topic to its committed end
TRANSACTION_TIMEOUT_MS = 600_000  # a chunk of a full load is one transaction (the broker allows 15 min)


def driver_error(exc: BaseException) -> bool:
    """Whether the error is the driver's or the network's (classified), not the caller's (raised as it is)."""
    return isinstance(exc, kerr.KafkaError)


def classify(exc: Exception, ep: Endpoint) -> DmsError:
    """A driver error -> what the worker does about it, in one line naming the endpoint and the fix."""
    if isinstance(exc, DmsError):
        return exc
    where = f"kafka endpoint {ep.id}"
    refused = LOGINS.refused(_brokers(ep)) if isinstance(exc, kerr.KafkaTimeoutError) else ""
    if refused or isinstance(exc, (kerr.SaslAuthenticationFailedError, kerr.UnsupportedSaslMechanismError,
                                   kerr.IllegalSaslStateError)):
        return ConfigError(f"{where}: the broker refused the SASL login ({refused or _text(exc)}): check "
                           "KafkaSettings.SaslUsername, SaslPassword and SaslMechanism")
    if isinstance(exc, (kerr.TopicAuthorizationFailedError, kerr.TransactionalIdAuthorizationFailedError,
                        kerr.ClusterAuthorizationFailedError, kerr.GroupAuthorizationFailedError)):
        return ConfigError(f"{where}: not allowed ({_text(exc)}): grant the user Write and Describe on the topics "
                           "and on transactional ids opendms-*, or set KafkaSettings.ExactlyOnce false")
    if isinstance(exc, (kerr.MessageSizeTooLargeError, kerr.RecordListTooLargeError)):
        return DataError(f"{where}: a message is over what the broker or the topic takes ({_text(exc)}): raise the "
                         "topic's max.message.bytes and KafkaSettings.MessageMaxBytes")
    if isinstance(exc, (kerr.KafkaTimeoutError, kerr.KafkaConnectionError, kerr.NodeNotReadyError,
                        kerr.RequestTimedOutError, ConnectionError, OSError)):
        if _sasl(ep):  # a refused login may show only as a bootstrap that never ends, its log line unseen
            return TransientError(f"{where}: the broker at {','.join(_brokers(ep))} does not answer or refused the "
                                  f"SASL login ({_text(exc)}): check KafkaSettings.Broker, that the broker runs, and "
                                  "SaslUsername, SaslPassword and SaslMechanism")
        return TransientError(f"{where}: the broker at {','.join(_brokers(ep))} does not answer ({_text(exc)}): "
                              "check KafkaSettings.Broker and that the broker runs")
    if isinstance(exc, kerr.KafkaError) and getattr(exc, "retriable", False):
        return TransientError(f"{where}: {_text(exc)} (retried)")
    if isinstance(exc, kerr.ProducerFencedError):
        return TransientError(f"{where}: another worker took over this task's transactions ({_text(exc)})")
    return DataError(f"{where}: {_text(exc)}")


def _text(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _sasl(ep: Endpoint) -> bool:
    from .settings import values
    return "sasl" in str(values(ep).get("SecurityProtocol") or "").lower()


def _brokers(ep: Endpoint) -> list[str]:
    from .settings import values  # the endpoint's broker list, for messages only
    return [b for b in str(values(ep)["Broker"]).split(",") if b] or [ep.host]


def producer(config: Mapping[str, Any], ep: Endpoint, transactional_id: str | None, max_bytes: int) -> KafkaProducer:
    """An idempotent producer (acks=all, ordered per partition through retries); transactional when given an id,
    its transactions initialised (which fences an older producer of the same id and aborts its transaction)."""
    try:
        made = KafkaProducer(**config, acks="all", enable_idempotence=True, transactional_id=transactional_id,
                             transaction_timeout_ms=TRANSACTION_TIMEOUT_MS if transactional_id else 60_000,
                             linger_ms=5, batch_size=512 * 1024, max_request_size=max(max_bytes + 4096, 1_048_576),
                             max_block_ms=TIMEOUT_MS, request_timeout_ms=TIMEOUT_MS * 3,
                             allow_auto_create_topics=False,
                             # init_transactions polls for its coordinator at this interval: 100 ms (the
                             # default) made it 0.21 s on a loopback broker, 10 ms 0.03 s, paid by every
                             # `dms task start` and `endpoint test` of a Kafka target
                             retry_backoff_ms=10)
        if transactional_id:
            made.init_transactions()
        return made
    except Exception as exc:
        raise classify(exc, ep) from exc


def _admin(config: Mapping[str, Any], ep: Endpoint) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(**config, request_timeout_ms=TIMEOUT_MS)
    except Exception as exc:
        raise classify(exc, ep) from exc


def ensure_topic(config: Mapping[str, Any], ep: Endpoint, topic: str, *, compacted: bool = False) -> str:
    """Makes the topic when it is missing (broker defaults for partitions and replicas); '' when it was there,
    else what was done. A ConfigError when it is missing and cannot be made."""
    admin = _admin(config, ep)
    try:
        if topic in admin.list_topics():
            return ""
        configs = {"cleanup.policy": "compact"} if compacted else {}
        try:
            admin.create_topics([NewTopic(topic, -1, -1, topic_configs=configs)], timeout_ms=TIMEOUT_MS)
        except kerr.TopicAlreadyExistsError:
            return ""
        except (kerr.TopicAuthorizationFailedError, kerr.ClusterAuthorizationFailedError, kerr.PolicyViolationError,
                kerr.InvalidTopicError) as exc:
            raise ConfigError(f"kafka endpoint {ep.id}: topic {topic} does not exist and cannot be created "
                              f"({_text(exc)}): create it, or allow this user to create topics") from None
        log.info("topic_created", endpoint=ep.id, topic=topic)
        return f"topic {topic} created"
    except DmsError:
        raise
    except Exception as exc:
        raise classify(exc, ep) from exc
    finally:
        admin.close()


def read_topic(config: Mapping[str, Any], ep: Endpoint, topic: str) -> Iterator[Any]:
    """Every committed message of the topic, partition by partition in offset order, up to the committed end
    as it stands when the read starts (a ``read_committed`` consumer without a group)."""
    try:
        consumer = KafkaConsumer(**config, isolation_level="read_committed", enable_auto_commit=False,
                                 group_id=None, request_timeout_ms=TIMEOUT_MS * 3, max_partition_fetch_bytes=8 << 20)
    except Exception as exc:
        raise classify(exc, ep) from exc
    try:
        found = consumer.partitions_for_topic(topic)
        if not found:
            return
        parts = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        held: dict[int, list[Any]] = {p.partition: [] for p in parts}
        deadline = time.monotonic() + READ_SECONDS
        while any(consumer.position(p) < ends[p] for p in parts):
            if time.monotonic() > deadline:
                raise TransientError(f"kafka endpoint {ep.id}: topic {topic} could not be read to its end in "
                                     f"{READ_SECONDS:.0f} s (an open transaction holds it?)")
            for tp, messages in consumer.poll(timeout_ms=500).items():
                held[tp.partition].extend(m for m in messages if m.offset < ends[tp])
        for p in parts:
            yield from held[p.partition]
    except DmsError:
        raise
    except Exception as exc:
        raise classify(exc, ep) from exc
    finally:
        consumer.close()


def check(config: Mapping[str, Any], ep: Endpoint, topic: str, checkpoints: str, exactly_once: bool) -> list[str]:
    """`dms endpoint test`: the broker answers (and takes the login), the topics exist or can be made, and
    the user may run transactions (ExactlyOnce) or at least write."""
    try:
        admin = _admin(config, ep)
    except DmsError as exc:
        return [str(exc)]
    try:
        topics = set(admin.list_topics())
    except Exception as exc:
        return [str(classify(exc, ep))]
    finally:
        admin.close()
    problems = []
    for name, compacted in ((topic, False), (checkpoints, True)):
        if name in topics:
            continue
        try:
            ensure_topic(config, ep, name, compacted=compacted)
        except DmsError as exc:
            problems.append(str(exc))
    if problems:
        return problems
    try:
        probe = producer(config, ep, f"opendms-{ep.id}-endpoint-test" if exactly_once else None, 1_000_000)
    except DmsError as exc:
        return [str(exc)]
    try:
        probe.partitions_for(topic)
    except Exception as exc:
        problems.append(str(classify(exc, ep)))
    finally:
        probe.close(timeout=5)
    return problems
