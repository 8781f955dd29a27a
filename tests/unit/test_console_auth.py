"""The console's login and session cookie (scheduler/console/): which requests get in, which do not."""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

from scheduler.console.app import make_console_app

KEYS = {"ODMSTESTKEY": "s3cret"}


def _call(app, method: str, path: str, body: dict | None = None, cookie: str = "", console_header: bool = True):
    data = json.dumps(body).encode() if body is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(data)),
               "wsgi.input": io.BytesIO(data), "HTTP_COOKIE": cookie}
    if console_header:
        environ["HTTP_X_DMS_CONSOLE"] = "1"
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    payload = b"".join(app(environ, start_response))
    return int(answer["status"].split()[0]), answer["headers"], payload


def _login(app, key: str = "ODMSTESTKEY", secret: str = "s3cret"):
    return _call(app, "POST", "/console/login", {"AccessKeyId": key, "SecretAccessKey": secret})


def test_the_page_and_its_files_are_served_without_a_session():
    app = make_console_app(KEYS.get)
    status, headers, body = _call(app, "GET", "/")
    assert status == 200 and b'id="login-form"' in body and headers["X-Frame-Options"] == "DENY"
    for name, kind in (("console.js", "text/javascript"), ("chart.js", "text/javascript"), ("console.css", "text/css")):
        status, headers, body = _call(app, "GET", f"/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
    assert _call(app, "GET", "/static/../app.py")[0] == 404


def test_a_right_key_opens_a_session_that_the_cookie_carries():
    app = make_console_app(KEYS.get)
    status, headers, body = _login(app)
    assert status == 200 and json.loads(body) == {"AccessKeyId": "ODMSTESTKEY"}
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0]
    status, _, body = _call(app, "GET", "/console/session", cookie=value)
    assert status == 200 and json.loads(body) == {"AccessKeyId": "ODMSTESTKEY"}
    status, headers, _ = _call(app, "POST", "/console/logout", cookie=value)
    assert status == 200 and "Max-Age=0" in headers["Set-Cookie"]


def test_wrong_keys_forged_cookies_and_cross_site_posts_are_refused():
    app = make_console_app(KEYS.get)
    for key, secret in (("ODMSTESTKEY", "wrong"), ("NOSUCHKEY", "s3cret"), ("", "")):
        status, headers, body = _login(app, key, secret)
        assert status == 403 and "Set-Cookie" not in headers
        assert json.loads(body)["error"].startswith("wrong access key id or secret")
    assert _call(app, "GET", "/console/overview")[0] == 401
    value = _login(app)[1]["Set-Cookie"].split(";")[0]
    payload, _, signature = value.rpartition(".")
    forged = payload.replace("ODMSTESTKEY", "ODMSOTHERKEY") + "." + signature
    assert _call(app, "GET", "/console/session", cookie=forged)[0] == 401
    assert _call(app, "GET", "/console/session", cookie=value + "0")[0] == 401
    # A session of one console process means nothing to another (each signs with a key of its own).
    assert _call(make_console_app(KEYS.get), "GET", "/console/session", cookie=value)[0] == 401
    status, _, body = _call(app, "POST", "/console/tasks/t1/stop", cookie=value, console_header=False)
    assert status == 403 and "X-DMS-Console" in json.loads(body)["error"]
    status, _, body = _call(app, "POST", "/console/login", console_header=False,
                            body={"AccessKeyId": "ODMSTESTKEY", "SecretAccessKey": "s3cret"})
    assert status == 403
