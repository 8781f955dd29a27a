"""Connecting to MongoDB from an Endpoint and its MongoDbSettings, and the engine's one error classifier."""

from __future__ import annotations

from typing import Any

from connectors.base import Endpoint
from connectors.errors import ConfigError, DataError, DmsError, PositionLost, TransientError

from .settings import MONGO_DB_SETTINGS

# Server error codes (MongoDB's error_codes.yml) that say a change stream cannot go on from its position.
HISTORY_LOST = {136, 280, 286}  # CappedPositionLost, ChangeStreamFatalError, ChangeStreamHistoryLost
NOT_REPLICA_SET = {40573}  # "The $changeStream stage is only supported on replica sets"
AUTH_FAILED = {18, 13, 11}  # AuthenticationFailed, Unauthorized, UserNotFound


def settings(ep: Endpoint) -> dict[str, Any]:
    """The endpoint's MongoDbSettings, typed, with DMS's defaults."""
    return MONGO_DB_SETTINGS.values(ep)


def client(ep: Endpoint, timeout_ms: int = 10_000):
    """A MongoClient for the endpoint. ServerName may be a whole connection string (mongodb:// or
    mongodb+srv://, with its replica set name, TLS and options); Port, user and password still apply."""
    import pymongo

    s = settings(ep)
    options: dict[str, Any] = {"serverSelectionTimeoutMS": timeout_ms, "connectTimeoutMS": timeout_ms,
                               "appname": "opendms", "tz_aware": True}
    if s["AuthType"] == "password" and ep.user:
        mechanism = s["AuthMechanism"]
        if mechanism == "mongodb_cr":
            raise ConfigError(f"{ep.where()}: MongoDbSettings.AuthMechanism mongodb_cr (MONGODB-CR) was removed in "
                              "MongoDB 4.0 and by its drivers: use scram_sha_1 or default")
        options.update(username=ep.user, password=ep.password, authSource=s["AuthSource"] or "admin")
        if mechanism == "scram_sha_1":
            options["authMechanism"] = "SCRAM-SHA-1"
    if ep.ssl_mode not in ("", "none"):
        options["tls"] = True
        if ep.ssl_mode == "require":
            options["tlsAllowInvalidCertificates"] = True
        if ep.extra.get("sslCa"):
            options["tlsCAFile"] = ep.extra["sslCa"]
    if ep.host.startswith(("mongodb://", "mongodb+srv://")):
        return pymongo.MongoClient(ep.host, **options)
    return pymongo.MongoClient(ep.host or "127.0.0.1", ep.port or 27017, **options)


def classify(exc: BaseException, where: str) -> DmsError:
    """A pymongo error -> the error tree of connectors/errors.py, one line naming where and the fix."""
    from pymongo import errors

    if isinstance(exc, DmsError):
        return exc
    code = getattr(exc, "code", None)
    text = str(exc).split(", full error:")[0]
    if isinstance(exc, errors.ConfigurationError | errors.InvalidURI):
        return ConfigError(f"{where}: {text}: fix the endpoint's connection settings")
    if code in AUTH_FAILED or isinstance(exc, errors.OperationFailure) and "Authentication failed" in text:
        return ConfigError(f"{where}: authentication failed ({text}): check the user, password, AuthSource and "
                           "AuthMechanism of MongoDbSettings")
    if code in HISTORY_LOST:
        return PositionLost(f"{where}: the change stream cannot resume from the task's position ({text}): the "
                            "oplog no longer holds it; reload the task (and size the oplog for the task's stops)")
    if code in NOT_REPLICA_SET:
        return ConfigError(not_replica_set(where))
    if isinstance(exc, errors.ServerSelectionTimeoutError | errors.AutoReconnect | errors.NetworkTimeout
                  | errors.ConnectionFailure):
        return TransientError(f"{where}: cannot reach the server ({text.splitlines()[0][:200]}): is it up?")
    if isinstance(exc, errors.DocumentTooLarge) or code == 10334 or code == 17419:
        return DataError(f"{where}: a document is over MongoDB's 16 MB limit: {text}")
    if isinstance(exc, errors.DuplicateKeyError):
        return DataError(f"{where}: {text}")
    if isinstance(exc, errors.OperationFailure):
        return DataError(f"{where}: {text}")
    if isinstance(exc, errors.PyMongoError):
        return TransientError(f"{where}: {text}")
    return DataError(f"{where}: {exc}")


def not_replica_set(where: str) -> str:
    return (f"{where} is not a replica set, and change streams need one: start mongod with --replSet NAME and run "
            "rs.initiate() (a one-member replica set will do), or use migration type full-load")


def replica_set_name(admin) -> str | None:
    """The replica set the server belongs to (a sharded cluster's router: "mongos"), or None when standalone."""
    hello = admin.command("isMaster")
    if hello.get("msg") == "isdbgrid":
        return "mongos"
    return hello.get("setName")
