"""A Kinesis Data Streams API server for tests: kinesalite, started by deploy/kinesis.sh (installed by
deploy/install-test-deps.sh). DMS_TEST_KINESIS_URL points at a running one instead."""

from __future__ import annotations

import os
import shutil

from services import MissingServiceError, _run, _Server

NPM_DIR = os.environ.get("DMS_NPM_DIR", os.path.expanduser("~/.cache/opendms/npm"))
# kinesalite takes any credentials; boto3 needs some to sign with (its usual chain reads these).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "opendms-test", "AWS_SECRET_ACCESS_KEY": "opendms-test",
               "AWS_DEFAULT_REGION": "us-east-1"}


class KinesisServer(_Server):
    env_var = "DMS_TEST_KINESIS_URL"

    def start(self) -> KinesisServer:
        for key, value in CREDENTIALS.items():
            os.environ.setdefault(key, value)
        if self.external:
            self.url = self.external
            return self
        if not shutil.which("node") or not os.path.exists(os.path.join(NPM_DIR, "node_modules/kinesalite/cli.js")):
            raise MissingServiceError("kinesalite not installed: run deploy/install-test-deps.sh")
        self._start_script("kinesis.sh", "kinesis-")
        return self

    def stop(self) -> None:
        if self.dir is not None:
            _run("kinesis.sh", "stop", str(self.dir))
            self._cleanup()

    def client(self):
        import boto3

        return boto3.client("kinesis", endpoint_url=self.url, region_name="us-east-1")
