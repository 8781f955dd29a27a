"""A DynamoDB API server for tests: dynalite (npm; never the vendor's local DynamoDB), started by
deploy/dynamodb.sh (installed by deploy/install-test-deps.sh). DMS_TEST_DYNAMODB_URL points at a running one."""

from __future__ import annotations

import os
import shutil

from servers_kinesis import CREDENTIALS, NPM_DIR
from services import MissingServiceError, _run, _Server


class DynamoServer(_Server):
    env_var = "DMS_TEST_DYNAMODB_URL"

    def start(self) -> DynamoServer:
        for key, value in CREDENTIALS.items():
            os.environ.setdefault(key, value)  # dynalite takes any; boto3 needs some to sign with
        if self.external:
            self.url = self.external
            return self
        if not shutil.which("node") or not os.path.exists(os.path.join(NPM_DIR, "node_modules/dynalite/cli.js")):
            raise MissingServiceError("dynalite not installed: run deploy/install-test-deps.sh")
        self._start_script("dynamodb.sh", "dynamodb-")
        return self

    def stop(self) -> None:
        if self.dir is not None:
            _run("dynamodb.sh", "stop", str(self.dir))
            self._cleanup()
