"""A Kinesis Data Streams API server for tests: kinesalite, started by deploy/kinesis.sh (installed by
deploy/install-test-deps.sh). DMS_TEST_KINESIS_URL points at a running one instead."""

from __future__ import annotations

import os
import shutil
from typing import ClassVar

from services import MissingServiceError, _run, _Server

NPM_DIR = os.environ.get("DMS_NPM_DIR", os.path.expanduser("~/.cache/opendms/npm"))
# kinesalite takes any credentials; boto3 needs some to sign with (its usual chain reads these).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "opendms-test", "AWS_SECRET_ACCESS_KEY": "opendms-test",
               "AWS_DEFAULT_REGION": "us-east-1"}


class NpmServer(_Server):
    """An AWS API server from npm (deploy/install-test-deps.sh installs it into NPM_DIR), run by a deploy script;
    it takes any credentials, so the AWS ones are set (when unset) for boto3 to sign with."""

    package: ClassVar[str]  # the npm package
    script: ClassVar[str]  # deploy/SCRIPT start DIR PORT | stop DIR

    def start(self) -> NpmServer:
        for key, value in CREDENTIALS.items():
            os.environ.setdefault(key, value)
        if self.external:
            self.url = self.external
            return self
        if not shutil.which("node") or not os.path.exists(os.path.join(NPM_DIR, f"node_modules/{self.package}/cli.js")):
            raise MissingServiceError(f"{self.package} not installed: run deploy/install-test-deps.sh")
        self._start_script(self.script, self.script.removesuffix(".sh") + "-")
        return self

    def stop(self) -> None:
        if self.dir is not None:
            _run(self.script, "stop", str(self.dir))
            self._cleanup()


class KinesisServer(NpmServer):
    env_var = "DMS_TEST_KINESIS_URL"
    package, script = "kinesalite", "kinesis.sh"

    def client(self):
        import boto3

        return boto3.client("kinesis", endpoint_url=self.url, region_name="us-east-1")
