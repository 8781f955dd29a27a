"""Redis as a target (keyed): a second server, apart from the one OpenDMS keeps its state in; emptied when
a module makes its target (modules of one session run one after the other)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import redis

from connectors.base import Endpoint

from . import Engine, register


@register
class RedisEngine(Engine):
    name = "redis"
    roles = ("target",)
    pairs = (("postgres", "redis"), ("sqlite", "redis"))

    @classmethod
    def make(cls, role: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
        return cls(request.getfixturevalue("redis_target").url)

    def __init__(self, url: str) -> None:
        self.url = urlsplit(url)
        redis.Redis(self.url.hostname, self.url.port).flushall()

    def endpoint(self, kind: str) -> Endpoint:
        return Endpoint(f"redis-{kind}", kind, "redis", self.url.hostname or "", self.url.port or 6379,
                        extra={"SslSecurityProtocol": "plaintext"})
