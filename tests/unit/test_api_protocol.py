"""The API's protocol without a server: SigV4 verification against botocore's own signer, DMS's error shapes,
ARNs, filters and Marker/MaxRecords pagination, through the WSGI application itself on a SQLite catalog."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from scheduler.api import errors, keys, sigv4
from scheduler.api.arns import Context, ident
from scheduler.api.server import make_app
from scheduler.api.shapes import filtered, page

URL = "http://127.0.0.1:9500/"


@pytest.fixture
def catalog(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("DMS_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    return f"sqlite:///{tmp_path / 'catalog.db'}"


def _signed(operation: str, body: dict, key_id: str, secret: str, when: datetime | None = None) -> AWSRequest:
    request = AWSRequest(method="POST", url=URL, data=json.dumps(body).encode(), headers={
        "X-Amz-Target": f"AmazonDMSv20160101.{operation}", "Content-Type": "application/x-amz-json-1.1"})
    signer = SigV4Auth(Credentials(key_id, secret), "dms", "eu-west-1")
    if when is None:
        signer.add_auth(request)
    else:  # botocore signs at "now": a request signed earlier is made by hand the same way
        request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        request.headers["X-Amz-Date"] = request.context["timestamp"]
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signer._inject_signature_to_request(request, signature)
    return request


def _call(app, request: AWSRequest) -> tuple[int, dict]:
    body = request.body or b""
    environ = {"REQUEST_METHOD": request.method, "PATH_INFO": "/", "QUERY_STRING": "", "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": request.headers.get("Content-Type", "")}
    for name, value in request.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.setdefault("HTTP_HOST", "127.0.0.1:9500")
    status: list[str] = []
    out = b"".join(app(environ, lambda s, headers: status.append(s)))
    return int(status[0].split()[0]), json.loads(out) if out.startswith(b"{") else {"text": out.decode()}


def test_a_key_signs_and_nothing_else_does(catalog):
    key_id, secret = keys.create_key(catalog)
    assert len(key_id) == 20 and len(secret) == 40 and keys.secret_for(key_id, catalog) == secret
    assert keys.secret_for("ODMSNOSUCHKEY0000000", catalog) is None
    app = make_app(catalog)
    assert _call(app, _signed("DescribeEndpoints", {}, key_id, secret)) == (200, {"Endpoints": []})
    cases = [
        # another last character (a secret may end in any one, "x" included)
        (_signed("DescribeEndpoints", {}, key_id, secret[:-1] + ("y" if secret[-1] == "x" else "x")),
         "InvalidSignatureException"),
        (_signed("DescribeEndpoints", {}, "ODMSNOSUCHKEY0000000", secret), "UnrecognizedClientException"),
        (_signed("DescribeEndpoints", {}, key_id, secret, datetime.now(UTC) - timedelta(hours=1)),
         "InvalidSignatureException"),
    ]
    tampered = _signed("DescribeEndpoints", {}, key_id, secret)
    tampered.data = b'{"MaxRecords": 20}'
    cases.append((tampered, "InvalidSignatureException"))
    unsigned = AWSRequest(method="POST", url=URL, data=b"{}",
                          headers={"X-Amz-Target": "AmazonDMSv20160101.DescribeEndpoints"})
    cases.append((unsigned, "MissingAuthenticationTokenException"))
    for request, code in cases:
        status, body = _call(app, request)
        assert (status, body["__type"]) == (403, code), body
        assert body["message"] and "Traceback" not in body["message"]


def test_dms_error_codes_for_bad_requests(catalog):
    key_id, secret = keys.create_key(catalog)
    app = make_app(catalog)
    status, body = _call(app, _signed("DescribeEverything", {}, key_id, secret))
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = _call(app, _signed("CreateEndpoint", {"EndpointIdentifier": "e1", "EngineName": "sqlite"},
                                      key_id, secret))
    assert (status, body["__type"]) == (400, "ValidationException") and "'EndpointType'" in body["message"]
    status, body = _call(app, _signed("DeleteEndpoint", {"EndpointArn": "arn:aws:dms:eu-west-1:1:endpoint:nope"},
                                      key_id, secret))
    assert (status, body) == (400, {"__type": "ResourceNotFoundFault",
                                    "message": "Endpoint arn:aws:dms:eu-west-1:1:endpoint:nope not found"})
    status, body = _call(app, _signed("DeleteEndpoint", {"EndpointArn": "arn:aws:dms:eu-west-1:1:task:t1"},
                                      key_id, secret))
    assert body["__type"] == "InvalidParameterValueException"
    assert "of a replication task, not of an endpoint" in body["message"]
    status, body = _call(app, _signed("DescribeEndpoints", {"Filters": [{"Name": "endpoint-id", "Values": ["x"]}]},
                                      key_id, secret))
    assert body["__type"] == "ResourceNotFoundFault"  # what the endpoint_deleted waiter waits for


def test_endpoints_round_trip_with_arns_and_pages(catalog, tmp_path):
    key_id, secret = keys.create_key(catalog)
    app = make_app(catalog)
    for n in range(25):
        status, body = _call(app, _signed("CreateEndpoint", {
            "EndpointIdentifier": f"E{n:02}", "EndpointType": "target", "EngineName": "sqlite",
            "DatabaseName": str(tmp_path / f"{n}.db")}, key_id, secret))
        assert status == 200, body
    assert body["Endpoint"]["EndpointArn"] == "arn:aws:dms:eu-west-1:000000000000:endpoint:e24"
    status, first = _call(app, _signed("DescribeEndpoints", {"MaxRecords": 20}, key_id, secret))
    status, rest = _call(app, _signed("DescribeEndpoints", {"MaxRecords": 20, "Marker": first["Marker"]}, key_id,
                                      secret))
    ids = [e["EndpointIdentifier"] for e in first["Endpoints"] + rest["Endpoints"]]
    assert ids == [f"e{n:02}" for n in range(25)] and "Marker" not in rest
    status, body = _call(app, _signed("DescribeEndpoints", {"MaxRecords": 5}, key_id, secret))
    assert body["__type"] == "InvalidParameterValueException"
    status, body = _call(app, _signed("CreateEndpoint", {"EndpointIdentifier": "e01", "EndpointType": "target",
                                                         "EngineName": "sqlite"}, key_id, secret))
    assert body["__type"] == "ResourceAlreadyExistsFault"


def test_arns_and_filters():
    ctx = Context(region="eu-west-1", key_id="k")
    assert ctx.arn("instance", "ri1") == "arn:aws:dms:eu-west-1:000000000000:rep:ri1"
    assert ident("arn:aws:dms:us-east-1:123456789012:task:T1", "task", "ReplicationTaskArn") == "t1"
    assert ident("T1", "task", "ReplicationTaskArn") == "t1"
    with pytest.raises(errors.ApiError, match="ARN of a replication instance, not of a replication task"):
        ident("arn:aws:dms:us-east-1:1:rep:ri1", "task", "ReplicationTaskArn")
    items = [{"id": "a", "kind": "source"}, {"id": "b", "kind": "target"}]
    getters = {"endpoint-id": lambda d: [d["id"]], "endpoint-type": lambda d: [d["kind"]]}
    assert filtered({"Filters": [{"Name": "endpoint-type", "Values": ["TARGET"]}]}, items, getters) == items[1:]
    with pytest.raises(errors.ApiError, match="not supported here"):
        filtered({"Filters": [{"Name": "engine", "Values": ["x"]}]}, items, getters)
    with pytest.raises(errors.ApiError, match="Marker"):
        page({"Marker": "garbage!"}, items, "Endpoints")


def test_sigv4_names_what_is_wrong():
    with pytest.raises(errors.ApiError) as caught:
        sigv4.verify("POST", "/", "", {"authorization": "Basic abc"}, b"", lambda k: None)
    assert caught.value.code == "IncompleteSignature"


def test_keys_create_prints_the_secret_once_and_a_taken_port_is_one_line(catalog, monkeypatch):
    import socket

    from click.testing import CliRunner

    from scheduler.cli import main

    monkeypatch.setenv("DMS_CATALOG_URL", catalog)
    made = CliRunner().invoke(main, ["api", "keys", "create", "--json"])
    key = json.loads(made.output)
    assert made.exit_code == 0 and keys.secret_for(key["AccessKeyId"], catalog) == key["SecretAccessKey"]
    plain = CliRunner().invoke(main, ["api", "keys", "create"]).output
    assert plain.startswith("AccessKeyId     ODMS") and "not shown again" in plain
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = CliRunner().invoke(main, ["api", "--port", str(taken.getsockname()[1])])
    assert result.exit_code == 2 and result.output.startswith("error: cannot listen on 127.0.0.1:")


def test_tags_live_and_die_with_their_resource(catalog, tmp_path):
    key_id, secret = keys.create_key(catalog)
    app = make_app(catalog)

    def call(operation: str, body: dict) -> dict:
        status, answer = _call(app, _signed(operation, body, key_id, secret))
        assert status == 200, answer
        return answer

    arn = call("CreateEndpoint", {"EndpointIdentifier": "tagged", "EndpointType": "target", "EngineName": "sqlite",
                                  "DatabaseName": str(tmp_path / "t.db"), "Tags": [{"Key": "team", "Value": "a"}]}
               )["Endpoint"]["EndpointArn"]
    call("AddTagsToResource", {"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "b"}, {"Key": "env"}]})
    assert call("ListTagsForResource", {"ResourceArn": arn})["TagList"] == [
        {"Key": "env", "Value": "", "ResourceArn": arn}, {"Key": "team", "Value": "b", "ResourceArn": arn}]
    call("RemoveTagsFromResource", {"ResourceArn": arn, "TagKeys": ["env"]})
    assert [t["Key"] for t in call("ListTagsForResource", {"ResourceArn": arn})["TagList"]] == ["team"]
    call("DeleteEndpoint", {"EndpointArn": arn})
    status, answer = _call(app, _signed("ListTagsForResource", {"ResourceArn": arn}, key_id, secret))
    assert (status, answer["__type"]) == (400, "ResourceNotFoundFault")
    call("CreateEndpoint", {"EndpointIdentifier": "tagged", "EndpointType": "target", "EngineName": "sqlite",
                            "DatabaseName": str(tmp_path / "t.db")})
    assert call("ListTagsForResource", {"ResourceArn": arn})["TagList"] == []  # a new endpoint of the same id


def test_modify_endpoint_instances_and_what_is_offered(catalog, tmp_path):
    key_id, secret = keys.create_key(catalog)
    app = make_app(catalog)

    def call(operation: str, body: dict) -> tuple[int, dict]:
        return _call(app, _signed(operation, body, key_id, secret))

    arn = call("CreateEndpoint", {"EndpointIdentifier": "Ep", "EndpointType": "source", "EngineName": "sqlite",
                                  "DatabaseName": str(tmp_path / "a.db")})[1]["Endpoint"]["EndpointArn"]
    status, body = call("ModifyEndpoint", {"EndpointArn": arn, "DatabaseName": str(tmp_path / "b.db"),
                                           "ExtraConnectionAttributes": "k=v"})
    assert status == 200 and body["Endpoint"]["DatabaseName"] == str(tmp_path / "b.db")
    assert body["Endpoint"]["ExtraConnectionAttributes"] == "k=v" and body["Endpoint"]["EndpointType"] == "SOURCE"
    assert call("ModifyEndpoint", {"EndpointArn": arn, "EngineName": "s3"})[1]["__type"] == \
        "InvalidParameterValueException"
    assert call("ModifyEndpoint", {"EndpointArn": "ep2"})[1]["__type"] == "ResourceNotFoundFault"
    assert call("CreateEndpoint", {"EndpointIdentifier": "e3", "EndpointType": "source", "EngineName": "nosuch"}
                )[1]["__type"] == "InvalidParameterValueException"
    assert call("CreateEndpoint", {"EndpointIdentifier": "e3", "EndpointType": "target", "EngineName": "sqlite",
                                   "KafkaSettings": {"Broker": "x"}})[1]["__type"] == \
        "InvalidParameterCombinationException"

    made = call("CreateReplicationInstance", {"ReplicationInstanceIdentifier": "RI1",
                                              "ReplicationInstanceClass": "dms.t3.micro"})[1]["ReplicationInstance"]
    assert made["ReplicationInstanceStatus"] == "available" and made["ReplicationInstanceIdentifier"] == "ri1"
    listed = call("DescribeReplicationInstances", {"Filters": [{"Name": "replication-instance-id",
                                                                "Values": ["ri1"]}]})[1]["ReplicationInstances"]
    assert [i["ReplicationInstanceArn"] for i in listed] == [made["ReplicationInstanceArn"]]
    assert call("DeleteReplicationInstance", {"ReplicationInstanceArn": "ri1"})[1]["ReplicationInstance"][
        "ReplicationInstanceStatus"] == "deleting"
    assert call("DescribeReplicationInstances", {})[1] == {"ReplicationInstances": []}

    types = call("DescribeEndpointTypes", {"Filters": [{"Name": "engine-name", "Values": ["sqlite"]}]})[1]
    assert {(t["EndpointType"], t["SupportsCDC"]) for t in types["SupportedEndpointTypes"]} == \
        {("source", True), ("target", True)}
    assert call("DescribeEngineVersions", {})[1]["EngineVersions"][0]["Version"]
