"""Session-wide test servers: see tests/services.py for how they are started or reused."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Keep `import services` working whatever import mode or rootdir pytest is run with.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# A run started in the background of a non-interactive shell (`bash .ci/run &`) inherits SIGINT ignored, and so
# would every process the tests start: a foreground `dms task start` then never sees the Ctrl-C a test sends it
# (it keeps an ignored SIGINT ignored, as Unix programs do). The tests run as from a terminal, whoever starts them.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from cdc_parts import Memory  # noqa: E402
from dms_env import DmsEnv  # noqa: E402
from servers_dynamodb import DynamoServer  # noqa: E402
from servers_kafka import KafkaServer  # noqa: E402
from servers_kinesis import KinesisServer  # noqa: E402
from servers_mariadb import MariaDBServer, fresh_mariadb  # noqa: E402
from servers_mongodb import MongoServer  # noqa: E402
from servers_s3 import S3Server  # noqa: E402
from services import MissingServiceError, PostgresServer, RedisServer, fresh_db  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs real PostgreSQL/Redis servers")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def _in_ci() -> bool:
    """In CI, and whenever deploy/test.sh runs the suite, a missing server fails the run; it never skips."""
    flags = ("CI", "DMS_TEST_REQUIRE_SERVERS")
    return any(os.environ.get(v, "").lower() not in ("", "0", "false", "no") for v in flags)


def _serve(server, **start_args):
    try:
        server.start(**start_args)
    except MissingServiceError as e:
        # A CI run without servers must fail loudly, never pass by skipping everything.
        if _in_ci():
            raise
        pytest.skip(str(e))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    """SOURCE server: wal_level=logical."""
    yield from _serve(PostgresServer("DMS_TEST_PG_URL"), logical=True)


@pytest.fixture(scope="session")
def pg_target() -> Iterator[PostgresServer]:
    """TARGET server: a separate cluster with wal_level=replica."""
    yield from _serve(PostgresServer("DMS_TEST_PG_TARGET_URL"), logical=False)


@pytest.fixture(scope="session")
def pg_replica() -> Iterator[PostgresServer]:
    """A wal_level=replica source, for "not CDC-ready" tests; started only when requested."""
    yield from _serve(PostgresServer("DMS_TEST_PG_REPLICA_URL"), logical=False)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    """A MariaDB 10.11 set up for change capture (deploy/mariadb.sh); started only when requested."""
    yield from _serve(MariaDBServer())


@pytest.fixture(scope="session")
def mariadb_private() -> Iterator[MariaDBServer]:
    """A MariaDB of this process's own, whatever is shared: for tests that change its global settings or purge
    its binlogs, which would disturb the other tests on a shared server."""
    yield from _serve(MariaDBServer(private=True))


@pytest.fixture
def mariadb_own_db(mariadb_private) -> str:
    """A fresh database on this process's own MariaDB (its mysql:// URL)."""
    return fresh_mariadb(mariadb_private)


@pytest.fixture
def mariadb_db(mariadb) -> str:
    """A fresh database on the MariaDB server (its mysql:// URL)."""
    return fresh_mariadb(mariadb)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    yield from _serve(RedisServer())


@pytest.fixture(scope="session")
def redis_target() -> Iterator[RedisServer]:
    """A Redis as a replication target, apart from the one OpenDMS keeps its own state in."""
    yield from _serve(RedisServer("DMS_TEST_REDIS_TARGET_URL"))


@pytest.fixture(scope="session")
def kafka_server() -> Iterator[KafkaServer]:
    """An Apache Kafka broker (KRaft), started when a test first asks for it."""
    yield from _serve(KafkaServer())


@pytest.fixture(scope="session")
def kinesis_server() -> Iterator[KinesisServer]:
    """kinesalite, a Kinesis Data Streams API server (deploy/kinesis.sh)."""
    yield from _serve(KinesisServer())


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server (gofakes3) for the S3 target, started only when a test asks for it."""
    yield from _serve(S3Server())


@pytest.fixture(scope="session")
def dynamodb_server() -> Iterator[DynamoServer]:
    """dynalite, a DynamoDB API server (deploy/dynamodb.sh)."""
    yield from _serve(DynamoServer())


@pytest.fixture(scope="session")
def mongodb() -> Iterator[MongoServer]:
    """A MongoDB wire-protocol server answering as a one-member replica set (tests/servers_mongodb.py)."""
    yield from _serve(MongoServer())


@pytest.fixture(scope="session")
def mongodb_standalone() -> Iterator[MongoServer]:
    """A MongoDB wire-protocol server that is not in a replica set; started only when requested."""
    yield from _serve(MongoServer(), standalone=True)


@pytest.fixture
def dms(tmp_path, redis_server) -> Iterator[DmsEnv]:
    """An OpenDMS installation of its own (catalog, instance, workers) on the shared servers."""
    env = DmsEnv(tmp_path, redis_server.url)
    yield env
    env.close()


@pytest.fixture
def src(pg) -> str:
    """A fresh database on the source server."""
    return fresh_db(pg)


@pytest.fixture
def dst(pg_target) -> str:
    """A fresh database on the target server."""
    return fresh_db(pg_target)


@pytest.fixture
def mem() -> Iterator[Memory]:
    """A memory source and target of one table, capture started (tests/cdc_parts.py)."""
    made = Memory()
    yield made
    made.close()
