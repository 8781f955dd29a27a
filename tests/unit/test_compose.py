"""docker-compose.yml, deploy/Dockerfile and .env.example agree with the code (read only: no Docker needed)."""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import flower.options  # noqa: F401  (defines Flower's options in tornado's registry)
import pytest
from tornado.options import options as flower_options

from scheduler.cli import main
from scheduler.cli_ops import is_loopback

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker-compose.yml: pip install pyyaml")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
CODE_DIRS = ("scheduler", "worker", "connectors")

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def substitute(value: str) -> str:
    """What compose makes of a value when only the defaults are known; required variables become a placeholder."""
    return INTERPOLATION.sub(lambda m: m["arg"] if m["op"] in ("-", ":-") else f"<{m['name']}>", value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def built_from_our_dockerfile(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if build is None:
        return False
    if isinstance(build, str):
        return (ROOT / build / "Dockerfile").resolve() == DOCKERFILE
    return (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def our_services() -> dict[str, dict[str, Any]]:
    ours = {name: svc for name, svc in services().items() if built_from_our_dockerfile(svc)}
    our_images = {svc["image"] for svc in ours.values() if "image" in svc}
    ours |= {name: svc for name, svc in services().items() if svc.get("image") in our_images}
    return ours


def argv(command: str | list[str]) -> list[str]:
    words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
    return [substitute(w) for w in words]


def parse_dms(args: list[str]) -> click.Context:
    """Parse a `dms` command line through click's command tree, as `dms` would, without running it."""
    command: click.Command = main
    path, rest = ["dms"], list(args)
    while isinstance(command, click.Group):
        assert rest and not rest[0].startswith("-"), f"`{shlex.join(path + rest)}`: a subcommand of {path} expected"
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"`{shlex.join(path + rest)}`: {rest[0]!r} is not a command of `{' '.join(path)}`"
        path.append(rest.pop(0))
        command = sub
    try:
        return command.make_context(" ".join(path), rest)
    except click.ClickException as exc:
        raise AssertionError(f"`{shlex.join(path + rest)}`: {exc.format_message()}") from None


def test_parse_dms_refuses_what_dms_refuses() -> None:
    assert parse_dms(["worker", "--instance", "ri1", "--metrics-port", "9100"]).params["metrics_port"] == 9100
    for bad in (["workers"], ["worker", "--instanse", "ri1"], ["worker"], ["flower", "--port", "x"], ["task"]):
        with pytest.raises(AssertionError):
            parse_dms(bad)


@cache
def python_sources() -> str:
    return "\n".join(p.read_text() for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*.py")))


def test_our_image_is_used_by_worker_and_dms() -> None:
    assert {"worker", "dms"} <= our_services().keys()
    assert services()["dms"].get("profiles") == ["cli"], "the one-off CLI service must not start with `up`"


def test_every_command_of_our_image_is_a_real_dms_command() -> None:
    for name, svc in our_services().items():
        if "entrypoint" in svc:
            assert argv(svc["entrypoint"]) == ["dms"], f"{name}: entrypoint must stay `dms`"
        if "command" in svc:
            parse_dms(argv(svc["command"]))
        test = (svc.get("healthcheck") or {}).get("test") or []
        if test[:2] == ["CMD", "dms"]:
            parse_dms(argv(test[2:]))
    assert parse_dms(argv(services()["worker"]["command"])).params["instance_id"] == "ri1"
    assert parse_dms(argv(services()["flower"]["command"])).params["address"] == "0.0.0.0"


def test_dockerfile_entrypoint_and_cmd() -> None:
    text = DOCKERFILE.read_text()
    entrypoints = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, re.M)
    cmds = re.findall(r"^CMD\s+(\[.*\])\s*$", text, re.M)
    assert entrypoints and yaml.safe_load(entrypoints[-1]) == ["dms"]
    assert cmds, "CMD must be in exec (JSON) form"
    assert yaml.safe_load(cmds[-1]) == ["--help"]
    assert re.search(r"^USER\s+(?!root\b|0\b)\S+", text, re.M), "the image must run as a non-root user"


def flower_reads(name: str) -> bool:
    """Flower takes every option of its own from a FLOWER_<OPTION> variable."""
    return name.startswith("FLOWER_") and name.removeprefix("FLOWER_").lower() in flower_options


def test_every_variable_set_for_our_image_is_read() -> None:
    names = set()
    for svc in our_services().values():
        names |= set(environment(svc))
    # Also keys in x- extension blocks and list-form entries: `DMS_X: v` or `- DMS_X=v` at the start of a line.
    names |= set(re.findall(r"^\s*(?:-\s*)?(DMS_[A-Z0-9_]+)\s*[:=]", COMPOSE.read_text(), re.M))
    assert {"DMS_REDIS_URL", "DMS_CATALOG_URL", "FLOWER_BASIC_AUTH"} <= names
    # Endpoint passwords are read by `dms endpoint create --password-env NAME`, as the comments show.
    password_env = set(re.findall(r"--password-env\s+([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    unread = sorted(n for n in names if f'"{n}"' not in python_sources() and not flower_reads(n)
                    and n not in password_env)
    assert not unread, f"set in docker-compose.yml but read by nothing: {unread}"
    assert flower_reads("FLOWER_BASIC_AUTH") and not flower_reads("FLOWER_NO_SUCH_OPTION")


def test_every_service_our_processes_reach_is_there_and_healthy_first() -> None:
    for name, svc in our_services().items():
        env = environment(svc)
        assert env["DMS_REDIS_URL"].startswith("redis://redis:"), name
        if "DMS_CATALOG_URL" in env or name in ("worker", "dms"):
            assert env["DMS_CATALOG_URL"].startswith("postgresql+psycopg2://"), name
            assert "@catalog" in env["DMS_CATALOG_URL"] and env["DMS_CATALOG_URL"].endswith("/dms_catalog"), name
        depends = svc.get("depends_on") or {}
        for var in ("DMS_REDIS_URL", "DMS_CATALOG_URL"):
            if var not in env:
                continue
            host = urlsplit(substitute(env[var])).hostname
            assert host in services(), f"{name}: {var} names host {host!r}, which is no service"
            assert "healthcheck" in services()[host], f"{host} needs a healthcheck"
            assert isinstance(depends, dict) and depends.get(host, {}).get("condition") == "service_healthy", \
                f"{name} must wait for {host} to be healthy"
    for endpoint in ("source", "target"):  # the quick start's endpoints (dms endpoint create ... --host source)
        assert "healthcheck" in services()[endpoint]


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, svc in services().items():
        if "cli" not in (svc.get("profiles") or []):
            assert "healthcheck" in svc, f"{name} needs a healthcheck"
            assert svc.get("restart") in ("unless-stopped", "always"), name


def test_flower_is_reachable_from_the_host_only_and_asks_for_a_login() -> None:
    flower = services()["flower"]
    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    assert "FLOWER_BASIC_AUTH" in environment(flower)


def test_worker_metrics_open_to_the_compose_network_only_when_said_so() -> None:
    assert parse_dms(["worker", "--instance", "ri1", "--metrics-port", "9100"]).params["metrics_address"] == "127.0.0.1"
    worker = services()["worker"]
    words = argv(worker["command"])
    port = parse_dms(words).params["metrics_port"]
    if port is None:
        return
    # Prometheus scrapes worker:PORT across the compose network: every address, said explicitly, and no
    # port published on the host (the endpoint has no login).
    assert words[words.index("--metrics-address") + 1] == "0.0.0.0"
    assert not worker.get("ports")
    assert f"http://127.0.0.1:{port}/metrics" in " ".join(worker["healthcheck"]["test"])


def test_every_process_that_reads_the_catalog_has_the_same_secret_key() -> None:
    """A key file made inside a one-off `dms` container would vanish with it: the key comes from .env."""
    for name, svc in our_services().items():
        env = environment(svc)
        if "DMS_CATALOG_URL" in env:
            key = INTERPOLATION.fullmatch(env.get("DMS_SECRET_KEY", ""))
            assert key and key["name"] == "DMS_SECRET_KEY" and key["op"] == ":?", f"{name}: DMS_SECRET_KEY required"


def test_flower_beyond_loopback_requires_its_login() -> None:
    checked = 0
    for name, svc in our_services().items():
        words = argv(svc.get("command") or [])
        if words[:1] != ["flower"] or is_loopback(parse_dms(words).params["address"]):
            continue
        checked += 1
        login = INTERPOLATION.fullmatch(environment(svc).get("FLOWER_BASIC_AUTH", ""))
        assert login and login["name"] == "FLOWER_BASIC_AUTH" and login["op"] in (":?", "?"), \
            f"{name}: Flower listens beyond loopback, so FLOWER_BASIC_AUTH must be a required ${{VAR:?...}}"
    assert checked, "flower listens on 0.0.0.0 inside its container"


def test_worker_is_scalable_and_waits_for_redis_and_catalog() -> None:
    worker = services()["worker"]
    assert "container_name" not in worker, "a fixed container_name forbids --scale worker=N"
    assert not worker.get("ports"), "published ports forbid --scale worker=N"
    depends = worker.get("depends_on") or {}
    assert {"redis", "catalog"} <= set(depends)
    if isinstance(depends, dict):
        for dep in ("redis", "catalog"):
            assert depends[dep].get("condition") == "service_healthy", dep
            assert "healthcheck" in services()[dep], f"{dep} needs a healthcheck for service_healthy"
    assert worker.get("restart") in ("unless-stopped", "always", "on-failure")


def test_every_image_is_pinned() -> None:
    images = [svc["image"] for svc in services().values() if "image" in svc and not svc.get("build")]
    images += re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M)
    assert images
    for image in images:
        tag = image.rsplit("/", 1)[-1].partition(":")[2].partition("@")[0]
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{image}: pin a versioned tag"


def test_no_literal_password() -> None:
    required = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}")
    found = 0
    for name, svc in services().items():
        for key, value in environment(svc).items():
            if "PASSWORD" in key.upper():
                found += 1
                assert required.fullmatch(value), f"{name}.{key} must be a required ${{VAR:?...}} interpolation"
    assert found
    # Passwords inside URLs (user:password@host) too, anywhere in the file.
    for url_password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", COMPOSE.read_text()):
        assert required.fullmatch(url_password), f"literal password in a URL: {url_password!r}"


def test_redis_persists_every_write() -> None:
    redis = services()["redis"]
    args = argv(redis["command"])
    assert args[0] == "redis-server"
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--appendfsync") + 1] == "always"
    assert any(v.split(":")[-1] == "/data" for v in redis.get("volumes", [])), "the AOF needs a volume"


def test_source_allows_logical_replication() -> None:
    args = argv(services()["source"]["command"])
    assert "wal_level=logical" in args


def test_env_example_documents_every_interpolated_variable() -> None:
    used = {m["name"] for m in INTERPOLATION.finditer(COMPOSE.read_text())}
    lines = ENV_EXAMPLE.read_text().splitlines()
    documented = {}
    for i, line in enumerate(lines):
        if m := re.match(r"([A-Za-z_][A-Za-z0-9_]*)=", line):
            documented[m[1]] = i > 0 and lines[i - 1].startswith("#")
    missing = sorted(used - documented.keys())
    assert not missing, f".env.example lacks {missing}"
    uncommented = sorted(n for n, ok in documented.items() if not ok)
    assert not uncommented, f".env.example: add a one-line comment above {uncommented}"
