"""A throwaway S3-compatible server (gofakes3, deploy/s3.sh) for the S3 target's tests.

DMS_TEST_S3_URL points the tests at an existing S3-compatible server instead (its credentials from boto3's
usual chain). A started server takes any access key; the session's environment gets dummy ones when it has
none, so boto3 (and the workers the tests start) sign their requests.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from services import DEPLOY, MissingServiceError, _make_dir, _run, _Server, free_port

GOFAKES3 = Path(os.environ.get("OPENDMS_CACHE", Path.home() / ".cache/opendms")) / "bin/gofakes3"


class S3Server(_Server):
    env_var = "DMS_TEST_S3_URL"

    def start(self) -> S3Server:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "opendms-test")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "opendms-test")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        if self.external:
            self.url = self.external
            return self
        if not GOFAKES3.exists():
            raise MissingServiceError(f"{GOFAKES3} not found: run deploy/install-test-deps.sh")
        self.dir = _make_dir("s3-")
        try:
            self.url = _run("s3.sh", "start", str(self.dir), str(free_port()))
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.dir is not None:
            _run("s3.sh", "stop", str(self.dir))
            self._cleanup()

    def bucket(self) -> str:
        """A new empty bucket of its own."""
        import boto3

        name = f"opendms-{secrets.token_hex(4)}"
        boto3.client("s3", endpoint_url=self.url, region_name="us-east-1").create_bucket(Bucket=name)
        return name


assert (DEPLOY / "s3.sh").exists()
