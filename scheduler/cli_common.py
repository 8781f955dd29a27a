"""What every `dms` command shares: identifiers, one-line failures, JSON output, live state."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

import click

SSL_MODES = ("none", "require", "verify-ca", "verify-full")


class _Id(click.ParamType):
    """Identifiers are case-insensitive, as in DMS: stored and used lower-case everywhere."""

    name = "id"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        return str(value).lower()


ID = _Id()



def redis_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def emit(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


def progress(message: str) -> Any:
    """A spinner on stderr while a long step runs, when stderr is a terminal (never in scripts)."""
    from rich.console import Console

    return Console(stderr=True).status(message) if sys.stderr.isatty() else contextlib.nullcontext()


def live_state(long_running: bool = False):
    """Live state in Redis. A command that answers at once gives up on an unreachable Redis within
    seconds; one that runs on (a watch, an in-process task) rides out a Redis restart as workers do."""
    from worker.app import QUICK_RETRIES, redis_client
    from worker.state import StateStore

    return StateStore(redis_client() if long_running else redis_client(retries=QUICK_RETRIES))


def quiet_logs() -> None:
    from worker import logs

    logs.setup(os.environ.get("DMS_LOG_LEVEL", "WARNING"))
