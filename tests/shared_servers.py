"""The heavy test servers, started once per test run and shared by every test process (deploy/test.sh).

    python tests/shared_servers.py DIR     start them all at once; as each answers, write its setting to
                                           DIR/VARIABLE (DMS_TEST_KAFKA_URL, ...); on SIGTERM stop them all

Test processes read those files through services.external_value as soon as a test needs the server, so the
servers come up while ruff and the first tests run. One that fails writes DIR/VARIABLE.failed, and every test
that needs it then fails with its error (never skips). PostgreSQL and Redis stay per process.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers_dynamodb import DynamoServer  # noqa: E402
from servers_kafka import KafkaServer  # noqa: E402
from servers_kinesis import KinesisServer  # noqa: E402
from servers_mariadb import MariaDBServer  # noqa: E402
from servers_mongodb import MongoServer  # noqa: E402
from servers_s3 import S3Server  # noqa: E402

# Every variable this writes: deploy/test.sh exports them as DMS_TEST_SHARED for external_value to wait on.
SERVERS = {"kafka": KafkaServer, "mongodb": MongoServer, "mariadb": MariaDBServer, "kinesis": KinesisServer,
           "dynamodb": DynamoServer, "s3": S3Server}


def variables() -> list[str]:
    return [cls.env_var for cls in SERVERS.values()] + ["DMS_TEST_KAFKA_SASL_PORT"]


def _publish(folder: Path, name: str, value: str) -> None:
    part = folder / f".{name}.part"
    part.write_text(value + "\n")
    part.rename(folder / name)  # whole or not at all: a reader never sees half a URL


def main(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    started: list = []
    lock = threading.Lock()  # started: appended from several threads

    def start(name: str, cls: type) -> None:
        began = time.monotonic()
        try:
            server = cls(private=True)  # never one the environment names: these are the run's own
            with lock:
                started.append(server)
            server.start()
        except BaseException:
            for variable in [cls.env_var] + (["DMS_TEST_KAFKA_SASL_PORT"] if cls is KafkaServer else []):
                _publish(folder, f"{variable}.failed", f"{name}: {traceback.format_exc()}")
            print(f"shared servers: {name} FAILED (see {folder / cls.env_var}.failed)", flush=True)
            return
        if isinstance(server, KafkaServer):
            _publish(folder, "DMS_TEST_KAFKA_SASL_PORT", str(server.sasl_port))
        _publish(folder, server.env_var, server.url)
        print(f"shared servers: {name} ready in {time.monotonic() - began:.0f} s", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=start, args=item, daemon=True) for item in SERVERS.items()]
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(1)
    for t in threads:
        t.join(60)  # a server still starting is stopped once its start returns
    for server in started:
        try:
            server.stop()
        except Exception as exc:  # stop the others all the same
            print(f"shared servers: stopping {type(server).__name__}: {exc}", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--variables":
        print(" ".join(variables()))
        sys.exit(0)
    if len(sys.argv) != 2:
        sys.exit("usage: shared_servers.py DIR | --variables")
    sys.exit(main(Path(sys.argv[1])))
