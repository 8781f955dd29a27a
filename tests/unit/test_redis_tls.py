"""DMS_REDIS_URL with TLS: the broker (kombu) and the state (redis-py) read the same certificate options."""

from __future__ import annotations

import ssl

import redis
from kombu.utils.url import parse_url as kombu_parse_url

from worker.app import tls_verified


def test_rediss_verifies_the_certificate_unless_the_url_says_otherwise() -> None:
    url = tls_verified("rediss://dms:s3cret@redis.internal:6380/0?ssl_ca_certs=/etc/opendms/ca.pem")
    broker = kombu_parse_url(url)
    assert broker["ssl"] == {"ssl_ca_certs": "/etc/opendms/ca.pem", "ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert (broker["userid"], broker["password"], broker["port"]) == ("dms", "s3cret", 6380)
    state = redis.Redis.from_url(url).connection_pool.connection_kwargs
    assert state["ssl_ca_certs"] == "/etc/opendms/ca.pem" and state["ssl_cert_reqs"] == "required"
    assert (state["username"], state["password"]) == ("dms", "s3cret")


def test_the_word_for_no_verification_is_one_both_read() -> None:
    url = tls_verified("rediss://h:6380/0?ssl_cert_reqs=CERT_NONE")
    assert kombu_parse_url(url)["ssl"]["ssl_cert_reqs"] == ssl.CERT_NONE
    assert redis.Redis.from_url(url).connection_pool.connection_kwargs["ssl_cert_reqs"] == "none"


def test_other_urls_are_left_as_they_are() -> None:
    for url in ("redis://dms:p%40ss@h:6379/0", "unix:///run/redis.sock?db=1", "redis://h/0?ssl_cert_reqs=none"):
        assert tls_verified(url) == url
