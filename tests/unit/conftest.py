"""Unit tests need no server: one that asks for a test server (directly or through another fixture) fails
at once, naming where it belongs. Tests of the CDC job's parts that need Redis are in tests/integration."""

from __future__ import annotations

import pytest

SERVERS = {"pg", "pg_target", "pg_replica", "mariadb", "redis_server", "redis_target", "kafka_server",
           "kinesis_server", "s3_server", "dynamodb_server", "mongodb", "mongodb_standalone"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    wanted = sorted(SERVERS.intersection(getattr(item, "fixturenames", ())))
    if wanted:
        pytest.fail(f"a unit test uses no server, this one asks for {', '.join(wanted)}: move it to tests/integration",
                    pytrace=False)
