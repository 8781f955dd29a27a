"""A DynamoDB API server for tests: dynalite (npm; never the vendor's local DynamoDB), started by
deploy/dynamodb.sh (installed by deploy/install-test-deps.sh). DMS_TEST_DYNAMODB_URL points at a running one."""

from __future__ import annotations

from servers_kinesis import NpmServer


class DynamoServer(NpmServer):
    env_var = "DMS_TEST_DYNAMODB_URL"
    package, script = "dynalite", "dynamodb.sh"
