"""psycopg2 errors -> the DmsError tree, and DmsErrors crossing process boundaries."""

from __future__ import annotations

import pickle

import psycopg2
import psycopg2.errors
import pytest

from connectors.base import Endpoint
from connectors.errors import ConfigError, DataError, DmsError, ObjectError, PositionLost, Stop, TransientError
from connectors.postgres.connect import classify

EP = Endpoint("src-db", "source", "postgres", "db.example.com", 5433, "shop", "alice", "secret")


def pg_error(code: str, message: str = "server said no") -> psycopg2.Error:
    """The psycopg2 class for ``code`` with pgcode set, as the driver raises it."""
    base = psycopg2.errors.lookup(code)
    cls = type(base.__name__, (base,), {"pgcode": code})
    return cls(message)


def test_helper_builds_real_driver_classes() -> None:
    exc = pg_error("40P01")
    assert exc.pgcode == "40P01"
    assert isinstance(exc, psycopg2.errors.DeadlockDetected)
    assert isinstance(exc, psycopg2.extensions.TransactionRollbackError)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("08006", TransientError),  # connection failure
        ("08001", TransientError),
        ("40P01", TransientError),  # deadlock
        ("40001", TransientError),  # serialization failure
        ("53300", TransientError),  # too many connections
        ("57P01", TransientError),  # admin shutdown
        ("57P03", TransientError),  # cannot connect now (starting up)
        ("55P03", TransientError),  # lock not available
        ("28P01", ConfigError),  # invalid password
        ("28000", ConfigError),
        ("3D000", ConfigError),  # database does not exist
        ("42501", ConfigError),  # insufficient privilege
        ("23505", DataError),  # unique violation
        ("23502", DataError),  # not null violation
        ("22P02", DataError),  # invalid text representation
        ("22003", DataError),  # numeric out of range
        ("23503", DataError),  # foreign key violation
        ("22001", DataError),  # string data right truncation
        ("42P01", ObjectError),  # undefined table
        ("42703", ObjectError),  # undefined column
        ("42601", ObjectError),  # syntax error
        ("42804", ObjectError),  # datatype mismatch
        ("0A000", ObjectError),  # feature not supported: cannot truncate a table referenced by a foreign key
        ("55000", ObjectError),  # object not in prerequisite state
        ("XX000", ObjectError),  # internal error: not known to pass with time
        ("57P02", TransientError),  # crash shutdown
        ("57014", TransientError),  # query cancelled
        ("55006", TransientError),  # object in use
        ("53200", TransientError),  # out of memory
        ("58P01", PositionLost),  # undefined file (WAL segment removed)
    ],
)
@pytest.mark.parametrize("ep", [EP, None])
def test_by_sqlstate(code: str, expected: type[DmsError], ep: Endpoint | None) -> None:
    result = classify(pg_error(code, "some   server\n  message"), ep)
    assert type(result) is expected
    assert "some server message" in str(result)  # whitespace folded onto one line
    assert (EP.where() if ep else "PostgreSQL") in str(result)


@pytest.mark.parametrize(("code", "fix"), [
    ("23503", "foreign key"), ("23514", "make it match the source's definition"), ("22001", "column's type"),
    ("42501", "grant the endpoint's user"), ("42P01", "pg_dump --schema-only"), ("42703", "lacks a column"),
    ("0A000", "as the message says")])
def test_errors_that_waiting_cannot_fix_carry_their_code_and_fix(code: str, fix: str) -> None:
    result = classify(pg_error(code, "the server's words"), EP)
    assert f"SQLSTATE {code}" in str(result) and fix in str(result) and "the server's words" in str(result)


def test_transient_errors_are_the_servers_words_alone() -> None:
    assert str(classify(pg_error("40P01", "deadlock detected"), EP)) == f"{EP.where()}: deadlock detected"


def test_driver_data_errors_without_code_are_not_retried() -> None:
    assert type(classify(psycopg2.DataError("no key"), EP)) is DataError
    assert type(classify(psycopg2.OperationalError("server closed the connection unexpectedly"), EP)) \
        is TransientError


def test_sqlstate_wins_over_message_patterns() -> None:
    # a code is present, so the connect-time message patterns are not consulted
    result = classify(pg_error("23505", "Connection refused in a value"), EP)
    assert type(result) is DataError


def test_slot_gone_and_wal_removed_are_position_lost() -> None:
    slot = classify(pg_error("42704", 'replication slot "dms_t" does not exist'), EP)
    assert type(slot) is PositionLost and "reload the task" in str(slot)
    other = classify(pg_error("42704", 'type "foo" does not exist'), EP)
    assert type(other) is ObjectError
    wal = classify(psycopg2.OperationalError("requested WAL segment 000000010000000000000003 has already been removed"))
    assert type(wal) is PositionLost


@pytest.mark.parametrize(
    ("message", "expected", "fragments"),
    [
        ('FATAL:  password authentication failed for user "x"', ConfigError,
         ["authentication failed for user 'alice'", "postgres endpoint src-db (db.example.com:5433/shop)"]),
        ("fe_sendauth: no password supplied", ConfigError, ["authentication failed", "src-db"]),
        ('FATAL:  database "shop" does not exist', ConfigError, ["database 'shop' does not exist", "src-db"]),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.1"', ConfigError, ["pg_hba.conf", "'alice'"]),
        ('connection to server at "db.example.com" (10.0.0.5), port 5433 failed: Connection refused\n'
         "\tIs the server running on that host and accepting TCP/IP connections?", TransientError,
         ["connection refused", "src-db (db.example.com:5433/shop)"]),
        ('could not translate host name "db.example.com" to address: Name or service not known', ConfigError,
         ["cannot resolve host 'db.example.com'", "src-db"]),
        ("timeout expired", TransientError, ["cannot reach", "src-db"]),
        ("could not connect to server: No route to host", TransientError, ["cannot reach"]),
        ("server closed the connection unexpectedly", TransientError, ["src-db", "server closed the connection"]),
    ],
)
def test_operational_error_without_code(message: str, expected: type[DmsError], fragments: list[str]) -> None:
    exc = psycopg2.OperationalError(message)
    assert exc.pgcode is None
    result = classify(exc, EP, connecting=True)
    assert type(result) is expected
    for fragment in fragments:
        assert fragment in str(result)
    assert "\n" not in str(result)
    assert "secret" not in str(result)


def test_without_endpoint_message_patterns_are_not_used() -> None:
    result = classify(psycopg2.OperationalError("password authentication failed for user x"))
    assert type(result) is TransientError
    assert str(result).startswith("PostgreSQL: ")


def test_other_exceptions() -> None:
    assert type(classify(psycopg2.InterfaceError("connection already closed"), EP)) is TransientError
    assert type(classify(psycopg2.Error(""), EP)) is TransientError
    assert str(classify(psycopg2.Error(""))) == "PostgreSQL: Error"  # empty message -> the class name


def test_dms_errors_pass_through() -> None:
    err = DataError("already classified")
    assert classify(err, EP) is err


@pytest.mark.parametrize("message", ["SSL SYSCALL error: EOF detected", "SSL connection has been closed unexpectedly"])
def test_ssl_connection_drop_is_transient(message: str) -> None:
    assert type(classify(psycopg2.OperationalError(message), EP)) is TransientError


@pytest.mark.parametrize("cls", [DmsError, ConfigError, TransientError, DataError, PositionLost])
def test_dms_errors_pickle(cls: type[DmsError]) -> None:
    err = cls("something is wrong: fix it")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert str(back) == back.message == "something is wrong: fix it"
    assert back.args == ("something is wrong: fix it",)
    assert back.exit_code == cls.exit_code


def test_exit_codes_and_tree() -> None:
    assert ConfigError.exit_code == 2
    assert DmsError.exit_code == TransientError.exit_code == DataError.exit_code == PositionLost.exit_code == 1
    for cls in (ConfigError, TransientError, DataError, PositionLost):
        assert issubclass(cls, DmsError)
    assert not issubclass(Stop, DmsError)


class Custom(ConfigError):
    def __init__(self, table: str, detail: str = "") -> None:
        super().__init__(f"{table}: {detail}" if detail else table)


def test_subclass_with_other_constructor_still_pickles() -> None:
    back = pickle.loads(pickle.dumps(Custom("t", "bad")))  # rebuilt from (message,)
    assert type(back) is Custom and str(back) == "t: bad"
