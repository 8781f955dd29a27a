"""Throwaway MongoDB wire-protocol servers for tests (deploy/mongodb.sh: mongo-java-server in memory).

The default one answers as the primary of a one-member replica set with change streams; ``standalone``
answers as a server outside any replica set. DMS_TEST_MONGODB_URL points the replica set at an existing
server instead (a real MongoDB replica set, say).
"""

from __future__ import annotations

import os
from pathlib import Path

from services import INSTALL_HINT, MissingServiceError, _make_dir, _run, _Server, free_port

CACHE = Path(os.environ.get("OPENDMS_CACHE", Path.home() / ".cache" / "opendms")) / "mongodb-server"


class MongoServer(_Server):
    env_var = "DMS_TEST_MONGODB_URL"

    def start(self, standalone: bool = False) -> MongoServer:
        if self.external and not standalone:
            self.url = self.external
            return self
        if not (CACHE / "lib" / "mongodb-test-server-1.jar").exists():
            raise MissingServiceError(f"the test MongoDB server is not built in {CACHE}: {INSTALL_HINT}")
        self.dir = _make_dir("mongodb-")
        args = [str(self.dir), str(free_port())] + (["--standalone"] if standalone else [])
        try:
            self.url = _run("mongodb.sh", "start", *args)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.dir is not None:
            _run("mongodb.sh", "stop", str(self.dir))
            self._cleanup()

    def client(self):
        import pymongo

        return pymongo.MongoClient(self.url, serverSelectionTimeoutMS=5000)
