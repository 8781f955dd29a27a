"""The web console's WSGI application: static pages (scheduler/console/static/) and the JSON they poll.

`dms api` serves it for every request that is not a DMS API call (scheduler/api/server.py). Routes:

    GET  /                                  the page (login form until a session exists)
    GET  /static/NAME                       its script and style sheet
    POST /console/login                     {"AccessKeyId", "SecretAccessKey"} -> session cookie
    POST /console/logout
    GET  /console/overview                  instances and workers, endpoints, tasks
    GET  /console/tasks/ID                  one task: description, table statistics, figures, last hour
    POST /console/tasks/ID/start            {"StartReplicationTaskType": null | start type}
    POST /console/tasks/ID/stop
    POST /console/tasks/ID/reload           {"Tables": ["schema.table", ...], "ValidateOnly": false}
    POST /console/endpoints/ID/test

Every POST must carry the header X-DMS-Console: 1, which a form on another site cannot send (with the
SameSite cookie, the console's defence against cross-site requests). Failures are one line of JSON,
{"error": ...}: 400 for what the user can fix (the CLI's own messages), 401 without a session, 500 for a
bug of ours (its traceback in the log only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from connectors.errors import DmsError
from worker import logs

from . import views
from .auth import SecretLookup, Sessions

log = logs.get_logger(__name__)

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_JSON = "application/json"
_STATIC = re.compile(r"^/static/([a-z0-9_-]+\.(?:css|js|svg))$")
_MAX_BODY = 64 * 1024
# Served with every answer: nothing of the console may be framed, sniffed or loaded from elsewhere.
_SECURITY = [("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
             ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")]


class _Fail(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class Console:
    def __init__(self, secret_for: SecretLookup | None = None) -> None:
        self.sessions = Sessions(secret_for)
        self._catalog: Any = None
        self._state: Any = None

    # Opened on first use: the page and the login answer without Redis or the catalog.
    @property
    def catalog(self) -> Any:
        if self._catalog is None:
            from connectors.model.catalog import Catalog

            self._catalog = Catalog()
        return self._catalog

    @property
    def state(self) -> Any:
        if self._state is None:
            from ..cli_common import live_state

            self._state = live_state()
        return self._state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO") or "/"
        headers: list[tuple[str, str]] = []
        try:
            status, body, kind = self._route(method, path, environ, headers)
        except _Fail as exc:
            status, body, kind = exc.status, _json({"error": str(exc)}), _JSON
        except DmsError as exc:  # the user's to fix, said as the CLI says it
            status, body, kind = "400 Bad Request", _json({"error": str(exc)}), _JSON
        except Exception as exc:  # a bug of ours (or Redis away): one line here, the traceback in the log
            log.exception("console_request_failed", method=method, path=path)
            status, body, kind = "500 Internal Server Error", _json({"error": f"{type(exc).__name__}: {exc}"}), _JSON
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store"), *_SECURITY, *headers])
        return [body]

    def _route(self, method: str, path: str, environ: dict[str, Any],
               headers: list[tuple[str, str]]) -> tuple[str, bytes, str]:
        if method == "GET" and path in ("/", "/index.html"):
            return "200 OK", _static("index.html"), _TYPES[".html"]
        if method == "GET" and (m := _STATIC.match(path)):
            try:
                return "200 OK", _static(m[1]), _TYPES["." + m[1].rsplit(".", 1)[1]]
            except FileNotFoundError:
                raise _Fail("404 Not Found", f"no file {m[1]}") from None
        if not path.startswith("/console/"):
            raise _Fail("404 Not Found", f"no page {path}: the console is at /")
        if method == "POST" and environ.get("HTTP_X_DMS_CONSOLE") != "1":
            raise _Fail("403 Forbidden", "console requests carry the header X-DMS-Console: 1")
        route = path.removeprefix("/console/").strip("/").split("/")
        if route == ["login"] and method == "POST":
            body = _body(environ)
            cookie = self.sessions.login(str(body.get("AccessKeyId") or ""), str(body.get("SecretAccessKey") or ""))
            if cookie is None:
                log.info("console_login_refused", key=str(body.get("AccessKeyId"))[:32])
                raise _Fail("403 Forbidden", "wrong access key id or secret: make one with `dms api keys create`")
            headers.append(("Set-Cookie", cookie))
            return "200 OK", _json({"AccessKeyId": body["AccessKeyId"]}), _JSON
        key = self.sessions.who(environ.get("HTTP_COOKIE", ""))
        if route == ["logout"] and method == "POST":
            headers.append(("Set-Cookie", self.sessions.logout()))
            return "200 OK", _json({}), _JSON
        if key is None:
            raise _Fail("401 Unauthorized", "log in with an access key")
        doc = self._answer(method, route, environ, key)
        return "200 OK", _json(doc), _JSON

    def _answer(self, method: str, route: list[str], environ: dict[str, Any], key: str) -> Any:
        if method == "GET" and route == ["session"]:
            return {"AccessKeyId": key}
        if method == "GET" and route == ["overview"]:
            return views.overview(self.catalog, self.state)
        if len(route) == 2 and route[0] == "tasks" and method == "GET":
            return views.task_page(self.catalog, self.state, route[1])
        if len(route) == 3 and route[0] == "tasks" and method == "POST":
            task_id, action = route[1], route[2]
            body = _body(environ)
            log.info("console_action", task=task_id, action=action, key=key)
            if action == "start":
                return {"Message": views.start(self.catalog, self.state, task_id, body.get("StartReplicationTaskType"))}
            if action == "stop":
                return {"Message": views.stop(self.catalog, self.state, task_id)}
            if action == "reload":
                tables = body.get("Tables") or []
                if not isinstance(tables, list):
                    raise _Fail("400 Bad Request", "Tables is a list of schema.table names")
                return {"Message": views.reload(self.catalog, self.state, task_id, [str(t) for t in tables],
                                                bool(body.get("ValidateOnly")))}
        if len(route) == 3 and route[0] == "endpoints" and route[2] == "test" and method == "POST":
            log.info("console_action", endpoint=route[1], action="test", key=key)
            return views.test_endpoint(self.catalog, route[1])
        raise _Fail("404 Not Found", f"no console request {method} /console/{'/'.join(route)}")


def _json(doc: Any) -> bytes:
    return json.dumps(doc, default=str).encode()


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0 or length > _MAX_BODY:
        raise _Fail("400 Bad Request", f"a console request's body is JSON of at most {_MAX_BODY} bytes")
    try:
        doc = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
    except ValueError:
        raise _Fail("400 Bad Request", "the request's body is not JSON") from None
    if not isinstance(doc, dict):
        raise _Fail("400 Bad Request", "the request's body is not a JSON object")
    return doc


def make_console_app(secret_for: SecretLookup | None = None) -> Wsgi:
    """The console as a WSGI application; ``secret_for`` looks up an access key's secret (default: the
    keys of `dms api keys create`)."""
    return Console(secret_for)
