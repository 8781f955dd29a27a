"""The WSGI application of `dms api`: DMS's JSON 1.1 protocol for POSTs naming an operation in X-Amz-Target,
the web console (scheduler/console/app.py) for every other request."""

from __future__ import annotations

import json
import socketserver
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog

from connectors.errors import DmsError

from . import errors, keys, sigv4

log = structlog.get_logger("dms.api")

TARGET_PREFIX = "AmazonDMSv20160101."
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY = 16 * 1024 * 1024  # table mappings may be large; nothing DMS takes is larger

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = b"not found: only DMS API requests (POST with X-Amz-Target) are served here\n"
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _console() -> Wsgi:
    """The console's WSGI app, imported when first asked for (the API runs without it)."""
    try:
        from scheduler.console.app import make_console_app
    except ModuleNotFoundError as exc:
        if exc.name not in ("scheduler.console", "scheduler.console.app"):
            raise
        return _not_found
    return make_console_app()


def make_app(catalog_url: str | None = None) -> Wsgi:
    """The whole service: the DMS API and, for everything else, the console."""
    console: list[Wsgi] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("HTTP_X_AMZ_TARGET"):
            return _api(environ, start_response, catalog_url)
        if not console:
            console.append(_console())
        return console[0](environ, start_response)

    return app


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    out = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            out[name.replace("_", "-").lower()] = environ[name]
    return out


def _respond(start_response: Callable[..., Any], status: int, doc: dict[str, Any]) -> list[bytes]:
    body = json.dumps(doc, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error"}.get(status, "Error")
    start_response(f"{status} {reason}", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body))),
                                          ("x-amzn-RequestId", _request_id())])
    return [body]


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise errors.ApiError("SerializationException", "Content-Length is not a number") from None
    if length > MAX_BODY:
        raise errors.ApiError("SerializationException", f"request body over {MAX_BODY} bytes")
    return environ["wsgi.input"].read(length) if length else b""


def _api(environ: dict[str, Any], start_response: Callable[..., Any], catalog_url: str | None) -> list[bytes]:
    target = environ["HTTP_X_AMZ_TARGET"]
    operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else target
    try:
        body = _read_body(environ)
        headers = _headers(environ)
        path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"  # as the client sent it
        key_id, region = sigv4.verify(environ["REQUEST_METHOD"], path,
                                      environ.get("QUERY_STRING", ""), headers, body,
                                      lambda key: keys.secret_for(key, catalog_url))
        from .operations import OPERATIONS

        if not target.startswith(TARGET_PREFIX) or operation not in OPERATIONS:
            raise errors.unknown_operation(operation)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            raise errors.ApiError("SerializationException", "request body is not JSON") from None
        if not isinstance(params, dict):
            raise errors.ApiError("SerializationException", "request body is not a JSON object")
        from .arns import Context

        result = OPERATIONS[operation](Context(region=region, key_id=key_id, catalog_url=catalog_url), params)
        log.info("api request", operation=operation, key=key_id)
        return _respond(start_response, 200, result)
    except errors.ApiError as exc:
        log.info("api request refused", operation=operation, code=exc.code, error=exc.message)
        return _respond(start_response, exc.status, exc.body())
    except DmsError as exc:  # a check of the CLI's code paths: the user's mistake, said as the CLI says it
        log.info("api request refused", operation=operation, error=str(exc))
        return _respond(start_response, 400, errors.invalid_value(str(exc)).body())
    except Exception as exc:  # a bug of ours: one line to the client, the traceback in our log only
        log.exception("api request failed", operation=operation)
        return _respond(start_response, 500, errors.internal(f"internal error: {type(exc).__name__}: {exc}").body())


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("http", request=format % args)


def serve(address: str, port: int, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve make_app() until interrupted, one thread a request."""
    with make_server(address, port, make_app(), server_class=_Server, handler_class=_Handler) as httpd:
        if on_ready:
            on_ready(f"http://{address}:{httpd.server_port}")
        httpd.serve_forever()
