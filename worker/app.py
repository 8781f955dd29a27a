"""The one Celery app, its settings (from the environment, read once) and the Redis client."""

from __future__ import annotations

import os
import re
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from connectors.errors import ConfigError

from . import embedded as embedded_redis

if TYPE_CHECKING:
    from celery import Celery

# Seconds a job's lease lives without a heartbeat: how fast a killed worker's jobs are taken over.
LEASE_SECONDS = float(os.environ.get("DMS_LEASE_SECONDS", "15"))
QUICK_RETRIES = 4  # Redis retries for a person waiting at the CLI: about 1.5 s, a blip but not a restart
# Rows per chunk when a big table's full load is split into chunks that several workers load at once.
CHUNK_ROWS = int(os.environ.get("DMS_CHUNK_ROWS", "500000"))


def embedded() -> bool:
    """No DMS_REDIS_URL: this machine runs OpenDMS on its own, with the embedded Redis."""
    return not os.environ.get("DMS_REDIS_URL")


def redis_url() -> str:
    if embedded():
        return embedded_redis.url()
    url = os.environ["DMS_REDIS_URL"]
    try:
        parse_url(url)
    except ValueError as exc:
        raise ConfigError(f"DMS_REDIS_URL {shown_url(url)} is not a Redis URL: {exc}; write it as "
                          "redis://[[user]:password@]host:port/db, rediss://... or unix:///path/to/socket") from None
    return tls_verified(url)


def redis_home() -> str:
    """Which Redis this process uses, as the catalog records it for a task started here (no password)."""
    return "embedded" if embedded() else shown_url(os.environ["DMS_REDIS_URL"])


def tls_verified(url: str) -> str:
    """A rediss:// URL that verifies the server's certificate unless it says otherwise (ssl_cert_reqs=none):
    redis-py verifies by default and kombu does not, and the broker and the state must agree. Kombu also
    reads CERT_REQUIRED where redis-py reads only `required`: the URL gets the word both read."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name == "ssl_cert_reqs" for name, _ in query):
        query.append(("ssl_cert_reqs", "required"))
    query = [(n, v.lower().removeprefix("cert_") if n == "ssl_cert_reqs" else v) for n, v in query]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def shown_url(url: str) -> str:
    """The URL with its password masked, fit for a message or a log line, even when it is malformed."""
    url = re.sub(r"^((?:[^:/?#]*://)?[^:@/?#]*):[^/?#]*@", r"\1:***@", url)
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def broker_url() -> str:
    """Kombu spells a unix socket differently from redis-py."""
    url = redis_url()
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


def redis_client(retries: int = 40) -> redis.Redis:
    """A client whose retries ride out a Redis restart (AOF keeps the data) instead of failing the job:
    40 retries wait about 75 s. A person waiting at the CLI gets a few, and the error in about a second."""
    return _client(redis_url(), retries)


@cache
def _client(url: str, retries: int) -> redis.Redis:
    client = redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=30, socket_connect_timeout=5,
        health_check_interval=15, retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    embedded_redis.on_exit_close(client.close)
    return client


def queue_name(instance: str, kind: str) -> str:
    """Each replication instance has a full-load queue and a CDC queue."""
    return f"dms.{instance}.{kind}"


@cache
def celery_app() -> Celery:
    """The one Celery app, built on first use: a command that sends and serves no job never imports Celery."""
    from celery import Celery

    app = Celery("opendms", include=["worker.tasks"])
    app.conf.update(
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],  # job messages carry ids only; never unpickle what the broker hands us
        # Acknowledged when done, one message per pool process: a worker holds only the jobs it runs, so a
        # killed worker strands none in a prefetch buffer. Its running jobs are recovered through their
        # leases (worker/recovery.py) within seconds; the broker's own redelivery, after the visibility
        # timeout, only brings late duplicates, which the lease and the table states turn away.
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        broker_transport_options={"visibility_timeout": 12 * 3600},
    )
    return app


def configured_app() -> Celery:
    """The app with its broker: DMS_REDIS_URL is read when a job is first sent or served, not at import."""
    app, url = celery_app(), broker_url()
    if app.conf.broker_url != url:
        app.conf.broker_url = url
        embedded_redis.on_exit_close(app.close)
    return app
