"""`dms api` as a test runs it: a real server process on a free loopback port, for a DmsEnv's installation,
with an access key made by `dms api keys create --json`; clients are boto3's and the AWS CLI's own."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from typing import Any

from dms_env import DmsEnv, wait_for

REGION = "us-east-1"


class ApiServer:
    def __init__(self, dms: DmsEnv) -> None:
        self.dms = dms
        key = json.loads(dms.dms("api", "keys", "create", "--json").stdout)
        self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.log = dms.tmp / "api.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "scheduler", "api", "--port", "0"], env=dms.env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        found = wait_for(lambda: self.proc.poll() is not None or re.search(r"on (http://\S+)", self.log.read_text()),
                         60, "dms api to listen")
        assert self.proc.poll() is None, f"dms api exited {self.proc.returncode}:\n{self.log.read_text()}"
        self.url = found[1]

    def client(self, secret: str | None = None, key_id: str | None = None, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("dms", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=key_id or self.key_id, aws_secret_access_key=secret or self.secret,
                            config=Config(retries={"max_attempts": 1}, **config))

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`aws dms ARGS --endpoint-url URL` (awscli from PyPI, run by this Python), JSON output."""
        env = {**self.dms.env, "AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret,
               "AWS_DEFAULT_REGION": REGION, "AWS_CONFIG_FILE": os.devnull,
               "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": ""}
        proc = subprocess.run([sys.executable, "-m", "awscli", "dms", *args, "--endpoint-url", self.url,
                               "--output", "json"], env=env, capture_output=True, text=True, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws dms {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def aws_json(self, *args: str) -> Any:
        return json.loads(self.aws(*args).stdout)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
