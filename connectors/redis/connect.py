"""Connections to Redis from RedisSettings, and the one classifier of the engine's errors."""

from __future__ import annotations

from typing import Any

import redis
import redis.exceptions as rx

from connectors.base import Endpoint
from connectors.errors import ConfigError, DataError, DmsError, TransientError

from .settings import REDIS_SETTINGS

SETTINGS_HINT = "in --redis-settings"


def client(ep: Endpoint, *, timeout: float = 60) -> redis.Redis:
    """A client as the endpoint's RedisSettings say (TLS, AUTH with a token or an ACL user); ``timeout``:
    the longest wait for an answer, in seconds."""
    s = REDIS_SETTINGS.values(ep)
    kw: dict[str, Any] = dict(host=ep.host or "127.0.0.1", port=ep.port or 6379, socket_timeout=timeout,
                              socket_connect_timeout=min(10, timeout), health_check_interval=30)
    if s["SslSecurityProtocol"] == "ssl-encryption":
        ca = s["SslCaCertificateArn"]
        if ca and ca.startswith("arn:"):
            raise ConfigError(f"{ep.where()}: SslCaCertificateArn {ca} is an ARN, which OpenDMS cannot fetch: give "
                              f"the path of the CA's PEM file {SETTINGS_HINT}")
        kw.update(ssl=True, ssl_cert_reqs="required", ssl_ca_certs=ca or None)
    auth = s["AuthType"]
    if auth != "none" and not ep.password:
        raise ConfigError(f"{ep.where()}: AuthType {auth} needs AuthPassword {SETTINGS_HINT}")
    if auth == "auth-role" and not ep.user:
        raise ConfigError(f"{ep.where()}: AuthType auth-role needs AuthUserName {SETTINGS_HINT}")
    if auth in ("auth-token", "auth-role"):
        kw["password"] = ep.password
    if auth == "auth-role":
        kw["username"] = ep.user
    return redis.Redis(**kw)


def classify(exc: Exception, ep: Endpoint) -> DmsError:
    """A driver error as the error tree of connectors/errors.py, in one line naming the endpoint and the fix."""
    text = " ".join(str(exc).split())
    where = f"{ep.where()}"
    low = text.lower()
    if isinstance(exc, rx.AuthenticationError) or "wrongpass" in low or "noauth" in low or "invalid password" in low:
        return ConfigError(f"{where}: authentication failed ({text}): check AuthType, AuthUserName and "
                           f"AuthPassword {SETTINGS_HINT}")
    if isinstance(exc, rx.NoPermissionError) or "noperm" in low:
        return ConfigError(f"{where}: user {ep.user or 'default'} lacks a right it needs ({text}): grant it "
                           "read and write on the keys, and HSET, HGETALL, DEL, SCAN, MULTI and EXEC")
    if "certificate verify failed" in low:
        return ConfigError(f"{where}: the server's TLS certificate is not trusted ({text}): give its CA's PEM file "
                           f"as SslCaCertificateArn {SETTINGS_HINT}")
    if "wrong version number" in low or "record layer failure" in low or "unexpected eof" in low:
        return ConfigError(f"{where}: TLS failed ({text}): if the server takes plain connections, set "
                           f"SslSecurityProtocol to plaintext {SETTINGS_HINT}")
    if isinstance(exc, (rx.ConnectionError, rx.TimeoutError, ConnectionError, TimeoutError)):
        other = "TLS" if ep.extra.get("SslSecurityProtocol") == "plaintext" else "plain"
        return TransientError(f"cannot reach {where}: {text}; is the server up, are ServerName and Port right, and "
                              f"does it take {other} connections only (SslSecurityProtocol {SETTINGS_HINT})?")
    if isinstance(exc, rx.ResponseError) and (low.startswith("oom") or low.startswith("loading")
                                               or low.startswith("busy") or low.startswith("tryagain")):
        return TransientError(f"{where}: {text}")
    return DataError(f"{where}: {text}")
