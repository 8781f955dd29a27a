"""DMS's own API (`dms api`): a whole full-load-and-cdc migration driven by boto3 alone, one by the AWS CLI, and
bad requests answered with DMS's error codes, never a traceback. Real servers, real workers, real clients."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from api_env import REGION, ApiServer
from dms_env import SELECT_ALL, DmsEnv, converged, execute, wait_for

pytestmark = pytest.mark.integration

FAST = {"Delay": 1, "MaxAttempts": 120}  # the waiters' own acceptors, polled every second instead of 15


@pytest.fixture(scope="module")
def dms(tmp_path_factory, redis_server):
    """One installation and one `dms api` for the module (names differ per test): each costs seconds to start."""
    env = DmsEnv(tmp_path_factory.mktemp("api"), redis_server.url)
    yield env
    env.close()


@pytest.fixture(scope="module")
def api(dms):
    server = ApiServer(dms)
    yield server
    server.close()


def _by_arn(arn: str, name: str = "replication-task-arn") -> list[dict]:
    return [{"Name": name, "Values": [arn]}]


def _endpoint_args(ident: str, kind: str, url: str) -> dict:
    u = urlsplit(url)
    return {"EndpointIdentifier": ident, "EndpointType": kind, "EngineName": "postgres", "ServerName": u.hostname,
            "Port": u.port, "DatabaseName": u.path.lstrip("/"), "Username": u.username, "Password": u.password}


def test_boto3_drives_a_full_load_and_cdc_migration(dms, api, src, dst):
    execute(src, "CREATE TABLE items (id int PRIMARY KEY, t text)",
            "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 200) g")
    c = api.client()
    account = "000000000000"
    source = c.create_endpoint(**_endpoint_args(f"bsrc-{dms.suffix}", "source", src))["Endpoint"]
    target = c.create_endpoint(**_endpoint_args(f"bdst-{dms.suffix}", "target", dst))["Endpoint"]
    assert source["EndpointArn"] == f"arn:aws:dms:{REGION}:{account}:endpoint:bsrc-{dms.suffix}"
    assert source["EndpointType"] == "SOURCE" and source["Status"] == "active" and "Password" not in source
    with pytest.raises(c.exceptions.ResourceAlreadyExistsFault):
        c.create_endpoint(**_endpoint_args(f"bsrc-{dms.suffix}", "source", src))

    ri = c.create_replication_instance(ReplicationInstanceIdentifier=f"bri-{dms.suffix}",
                                       ReplicationInstanceClass="dms.t3.micro")["ReplicationInstance"]
    ri_arn = ri["ReplicationInstanceArn"]
    assert ri_arn == f"arn:aws:dms:{REGION}:{account}:rep:bri-{dms.suffix}"
    c.get_waiter("replication_instance_available").wait(Filters=_by_arn(ri_arn, "replication-instance-arn"),
                                                        WaiterConfig=FAST)
    for ep in (source, target):
        c.test_connection(ReplicationInstanceArn=ri_arn, EndpointArn=ep["EndpointArn"])
    c.get_waiter("test_connection_succeeds").wait(Filters=_by_arn(ri_arn, "replication-instance-arn"),
                                                  WaiterConfig=FAST)
    dms.start_worker(instance=f"bri-{dms.suffix}")

    task = c.create_replication_task(
        ReplicationTaskIdentifier="boto-task", SourceEndpointArn=source["EndpointArn"],
        TargetEndpointArn=target["EndpointArn"], ReplicationInstanceArn=ri_arn, MigrationType="full-load-and-cdc",
        TableMappings=json.dumps(SELECT_ALL),
        ReplicationTaskSettings=json.dumps({"TargetMetadata": {"BatchApplyEnabled": False}}))["ReplicationTask"]
    arn = task["ReplicationTaskArn"]
    assert arn == f"arn:aws:dms:{REGION}:{account}:task:boto-task" and task["Status"] == "ready"
    c.get_waiter("replication_task_ready").wait(Filters=_by_arn(arn), WaiterConfig=FAST)

    c.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
    c.get_waiter("replication_task_running").wait(Filters=_by_arn(arn), WaiterConfig=FAST)
    wait_for(lambda: converged(src, dst, "items"), 90, "the full load")
    execute(src, "INSERT INTO items VALUES (1001, 'captured')", "UPDATE items SET t = 'changed' WHERE id = 1",
            "DELETE FROM items WHERE id = 2")
    wait_for(lambda: converged(src, dst, "items"), 90, "the changes to be applied")

    def table() -> dict:
        stats = c.describe_table_statistics(ReplicationTaskArn=arn)["TableStatistics"]
        counted = stats and stats[0]["Inserts"] + stats[0]["Updates"] + stats[0]["Deletes"] >= 3
        return stats[0] if counted else {}

    stats = wait_for(table, 30, "the applied changes to be counted")
    assert (stats["SchemaName"], stats["TableName"], stats["TableState"]) == ("public", "items", "Table completed")
    assert (stats["FullLoadRows"], stats["Inserts"], stats["Updates"], stats["Deletes"]) == (200, 1, 1, 1)
    assert c.describe_table_statistics(ReplicationTaskArn=arn, Filters=[
        {"Name": "table-state", "Values": ["Table error"]}])["TableStatistics"] == []
    described = c.describe_replication_tasks(Filters=_by_arn(arn))["ReplicationTasks"][0]
    assert described["Status"] == "running" and described["ReplicationTaskStats"]["TablesLoaded"] == 1
    assert described["SourceEndpointArn"] == source["EndpointArn"] and described["ReplicationInstanceArn"] == ri_arn

    def now() -> dict:
        return c.describe_table_statistics(ReplicationTaskArn=arn)["TableStatistics"][0]

    c.reload_tables(ReplicationTaskArn=arn, TablesToReload=[{"SchemaName": "public", "TableName": "items"}])
    wait_for(lambda: (t := now())["FullLoadReloaded"] and t["TableState"] == "Table completed", 60, "the reload")
    assert now()["FullLoadRows"] == 200 and converged(src, dst, "items")

    with pytest.raises(c.exceptions.InvalidResourceStateFault):  # a running task is neither deleted nor modified
        c.delete_replication_task(ReplicationTaskArn=arn)
    c.stop_replication_task(ReplicationTaskArn=arn)
    c.get_waiter("replication_task_stopped").wait(Filters=_by_arn(arn), WaiterConfig=FAST)
    stopped = c.describe_replication_tasks(Filters=_by_arn(arn))["ReplicationTasks"][0]
    assert stopped["StopReason"] == "Stop Reason NORMAL"
    with pytest.raises(c.exceptions.InvalidResourceStateFault):  # DMS: start-replication is for a first start
        c.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="start-replication")
    execute(src, "INSERT INTO items VALUES (1002, 'while stopped')")
    c.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="resume-processing")
    c.get_waiter("replication_task_running").wait(Filters=_by_arn(arn), WaiterConfig=FAST)
    wait_for(lambda: converged(src, dst, "items"), 90, "the change made while stopped to be applied")
    c.stop_replication_task(ReplicationTaskArn=arn)
    c.get_waiter("replication_task_stopped").wait(Filters=_by_arn(arn), WaiterConfig=FAST)
    c.start_replication_task(ReplicationTaskArn=arn, StartReplicationTaskType="reload-target")
    c.get_waiter("replication_task_running").wait(Filters=_by_arn(arn), WaiterConfig=FAST)
    wait_for(lambda: (t := now())["FullLoadRows"] == 201 and t["TableState"] == "Table completed", 60,
             "the reload of the target")
    c.stop_replication_task(ReplicationTaskArn=arn)
    c.get_waiter("replication_task_stopped").wait(Filters=_by_arn(arn), WaiterConfig=FAST)

    assert c.delete_replication_task(ReplicationTaskArn=arn)["ReplicationTask"]["Status"] == "deleting"
    c.get_waiter("replication_task_deleted").wait(Filters=_by_arn(arn), WaiterConfig=FAST)
    for ep in (source, target):
        c.delete_endpoint(EndpointArn=ep["EndpointArn"])
        c.get_waiter("endpoint_deleted").wait(Filters=_by_arn(ep["EndpointArn"], "endpoint-arn"), WaiterConfig=FAST)
    c.delete_replication_instance(ReplicationInstanceArn=ri_arn)
    c.get_waiter("replication_instance_deleted").wait(Filters=_by_arn(ri_arn, "replication-instance-arn"),
                                                      WaiterConfig=FAST)
    assert dms.json("task", "list")["ReplicationTasks"] == []  # one catalog: the CLI sees what the API did


def test_the_aws_cli_drives_a_migration(dms, api, src, dst, tmp_path):
    execute(src, "CREATE TABLE notes (id int PRIMARY KEY, t text)",
            "INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 50) g")
    arns = {}
    for ident, kind, url in ((f"csrc-{dms.suffix}", "source", src), (f"cdst-{dms.suffix}", "target", dst)):
        u = urlsplit(url)
        arns[kind] = api.aws_json(
            "create-endpoint", "--endpoint-identifier", ident, "--endpoint-type", kind, "--engine-name", "postgres",
            "--server-name", u.hostname, "--port", str(u.port), "--database-name", u.path.lstrip("/"),
            "--username", u.username, "--password", u.password)["Endpoint"]["EndpointArn"]
    ri = api.aws_json("create-replication-instance", "--replication-instance-identifier", f"cri-{dms.suffix}",
                      "--replication-instance-class", "dms.t3.micro")["ReplicationInstance"]["ReplicationInstanceArn"]
    dms.start_worker(instance=f"cri-{dms.suffix}")
    mappings = tmp_path / "mappings.json"
    mappings.write_text(json.dumps(SELECT_ALL))
    arn = api.aws_json("create-replication-task", "--replication-task-identifier", "cli-task",
                       "--source-endpoint-arn", arns["source"], "--target-endpoint-arn", arns["target"],
                       "--replication-instance-arn", ri, "--migration-type", "full-load-and-cdc",
                       "--table-mappings", f"file://{mappings}")["ReplicationTask"]["ReplicationTaskArn"]
    by_arn = ["--filters", f"Name=replication-task-arn,Values={arn}"]
    api.aws("wait", "replication-task-ready", *by_arn)
    api.aws("start-replication-task", "--replication-task-arn", arn, "--start-replication-task-type",
            "start-replication")
    api.aws("wait", "replication-task-running", *by_arn)
    wait_for(lambda: converged(src, dst, "notes"), 90, "the full load")
    execute(src, "INSERT INTO notes VALUES (51, 'captured')")
    wait_for(lambda: converged(src, dst, "notes"), 90, "the insert to be applied")
    stats = api.aws_json("describe-table-statistics", "--replication-task-arn", arn)["TableStatistics"]
    assert [(t["TableName"], t["FullLoadRows"], t["TableState"]) for t in stats] == [("notes", 50, "Table completed")]
    api.aws("stop-replication-task", "--replication-task-arn", arn)
    c = api.client()
    wait_for(lambda: c.describe_replication_tasks(Filters=[{"Name": "replication-task-arn", "Values": [arn]}])[
        "ReplicationTasks"][0]["Status"] == "stopped", 90, "the task to stop")
    api.aws("delete-replication-task", "--replication-task-arn", arn)
    api.aws("wait", "replication-task-deleted", *by_arn)
    gone = api.aws("describe-replication-tasks", *by_arn, check=False)
    assert gone.returncode in (254, 255) and "(ResourceNotFoundFault)" in gone.stderr and "Traceback" not in gone.stderr


def test_bad_requests_get_dms_errors(dms, api, tmp_path):
    from botocore import UNSIGNED
    from botocore.exceptions import ClientError

    def code(call) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as caught:
            call()
        err = caught.value.response
        return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]

    c = api.client()
    status, error, message = code(lambda: c.delete_replication_task(
        ReplicationTaskArn=f"arn:aws:dms:{REGION}:000000000000:task:no-such-task"))
    assert (status, error) == (400, "ResourceNotFoundFault") and "no-such-task" in message
    status, error, _ = code(lambda: c.describe_table_statistics(ReplicationTaskArn="arn:aws:dms:x:1:task:none"))
    assert error == "ResourceNotFoundFault"
    loose = api.client(parameter_validation=False)  # what boto3 checks itself, the server checks too
    status, error, message = code(lambda: loose.create_replication_instance(ReplicationInstanceIdentifier="ri-x"))
    assert (status, error) == (400, "ValidationException") and "ReplicationInstanceClass" in message
    status, error, _ = code(lambda: _raw(api, "AmazonDMSv20160101.DescribeEverything"))
    assert (status, error) == (400, "UnknownOperationException")
    status, error, _ = code(lambda: api.client(secret="wrong" * 8).describe_endpoints())
    assert (status, error) == (403, "InvalidSignatureException")
    status, error, _ = code(lambda: api.client(key_id="ODMSUNKNOWNKEY000000").describe_endpoints())
    assert (status, error) == (403, "UnrecognizedClientException")
    status, error, _ = code(lambda: api.client(signature_version=UNSIGNED).describe_endpoints())
    assert (status, error) == (403, "MissingAuthenticationTokenException")
    _task_states_and_checks(dms, c, tmp_path)
    assert "Traceback" not in api.log.read_text()


def _task_states_and_checks(dms, c, tmp_path) -> None:
    """A task's state and definition refused as DMS refuses them, with the CLI's one-line reasons."""
    import sqlite3

    db = tmp_path / "source.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id integer PRIMARY KEY)")
    arns = [c.create_endpoint(EndpointIdentifier=f"l{kind}-{dms.suffix}", EndpointType=kind, EngineName="sqlite",
                              DatabaseName=str(tmp_path / f"{kind}.db" if kind == "target" else db)
                              )["Endpoint"]["EndpointArn"] for kind in ("source", "target")]
    ri = c.create_replication_instance(ReplicationInstanceIdentifier=f"lri-{dms.suffix}",
                                       ReplicationInstanceClass="any")["ReplicationInstance"]["ReplicationInstanceArn"]
    args = {"SourceEndpointArn": arns[0], "TargetEndpointArn": arns[1], "ReplicationInstanceArn": ri,
            "MigrationType": "full-load"}
    with pytest.raises(c.exceptions.ClientError) as caught:
        c.create_replication_task(ReplicationTaskIdentifier="bad", TableMappings='{"rules": []}', **args)
    assert caught.value.response["Error"] == {
        "Code": "InvalidParameterValueException",
        "Message": "table mappings select nothing: add a selection rule with rule-action include"}
    arn = c.create_replication_task(ReplicationTaskIdentifier=f"lt-{dms.suffix}", TableMappings=json.dumps(SELECT_ALL),
                                    **args)["ReplicationTask"]["ReplicationTaskArn"]
    with pytest.raises(c.exceptions.InvalidResourceStateFault, match="not running: nothing to stop"):
        c.stop_replication_task(ReplicationTaskArn=arn)
    with pytest.raises(c.exceptions.InvalidResourceStateFault, match="is used by task"):
        c.delete_endpoint(EndpointArn=arns[0])
    with pytest.raises(c.exceptions.ClientError, match="MaxFullLoadSubTasks is 'many': give a whole number"):
        c.modify_replication_task(ReplicationTaskArn=arn, ReplicationTaskSettings=json.dumps(
            {"FullLoadSettings": {"MaxFullLoadSubTasks": "many"}}))
    with pytest.raises(c.exceptions.InvalidResourceStateFault):  # reloads are for running tasks
        c.reload_tables(ReplicationTaskArn=arn, TablesToReload=[{"SchemaName": "main", "TableName": "t"}])
    assert c.delete_replication_task(ReplicationTaskArn=arn)["ReplicationTask"]["Status"] == "deleting"


def _raw(api: ApiServer, target: str) -> None:
    """A signed request naming an operation botocore does not know, answered as botocore reads errors."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError

    request = AWSRequest(method="POST", url=api.url + "/", data=b"{}",
                         headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(api.key_id, api.secret), "dms", REGION).add_auth(request)
    prepared = request.prepare()
    try:
        urllib.request.urlopen(urllib.request.Request(prepared.url, data=prepared.body, headers=dict(prepared.headers),
                                                      method="POST"), timeout=30)
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
        raise ClientError({"Error": {"Code": body["__type"], "Message": body["message"]},
                           "ResponseMetadata": {"HTTPStatusCode": exc.code}}, "Raw") from None
