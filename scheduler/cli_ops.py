"""`dms worker`, `dms flower`, `dms secrets`: a fleet's processes, what they open to the network, and the key
that encrypts the catalog's passwords.

Registered on the `dms` group by cli.py. Errors are DmsErrors, turned into one line by the group.
"""

from __future__ import annotations

import ipaddress
import sys

import click

from connectors.errors import ConfigError
from connectors.model import secret_key
from connectors.model.catalog import Catalog


def is_loopback(address: str) -> bool:
    """Only this machine can connect: 127.0.0.0/8, ::1 or `localhost` (an empty address means every one)."""
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


@click.command()
@click.option("--instance", "instance_id", required=True, help="replication instance whose queues to serve")
@click.option("--concurrency", "-c", default=4, show_default=True, help="jobs run at once by this process")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--metrics-port", type=int, default=None,
              help="serve Prometheus metrics on this port (http://ADDRESS:PORT/metrics), without a login")
@click.option("--metrics-address", default="127.0.0.1", show_default=True,
              help="address the metrics port binds; 0.0.0.0 opens it to every network this machine is on")
def worker(instance_id: str, concurrency: int, loglevel: str, metrics_port: int | None, metrics_address: str) -> None:
    """Run a replication-instance worker in the foreground (start more to scale)."""
    from worker.instance import serve

    instance_id = instance_id.lower()  # identifiers are case-insensitive, as everywhere in `dms`
    catalog = Catalog()
    catalog.instance(instance_id)
    for task in catalog.tasks():  # a worker without the key that encrypted its endpoints' passwords never starts
        if task.instance == instance_id:
            catalog.endpoint(task.source)
            catalog.endpoint(task.target)
    from .start_requests import serve as plan_starts

    serve(instance_id, concurrency, loglevel, metrics=(metrics_address, metrics_port) if metrics_port else None,
          planner=plan_starts)


def _flower_options(argv: list[str]):
    """Flower's options as Flower itself will read them: FLOWER_* variables, flowerconfig.py, then argv."""
    import flower.options  # noqa: F401  (defines Flower's options)
    from flower.command import apply_env_options, apply_options
    from tornado.options import Error, options

    try:
        apply_env_options()
        apply_options("dms flower", argv)
    except (Error, KeyError, ValueError) as exc:
        raise ConfigError(f"flower: {exc}; see `celery flower --help` for Flower's options") from None
    return options


def check_flower_exposure(argv: list[str]) -> None:
    """Flower can revoke and stop jobs: beyond loopback it must ask for a login."""
    options = _flower_options(argv)
    if options.unix_socket or is_loopback(options.address) or options.basic_auth or options.auth:
        return
    raise ConfigError(
        f"flower --address {options.address or '(every address)'} would open Flower, which can stop jobs, to the "
        "network without a login: set FLOWER_BASIC_AUTH=user:password (or --basic-auth, or Flower's OAuth "
        "settings --auth/FLOWER_AUTH), or listen on --address 127.0.0.1")


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", default=5555, show_default=True, help="port of Flower's web UI and HTTP API")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="address to listen on; any but loopback needs a Flower login (FLOWER_BASIC_AUTH)")
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
def flower(port: int, address: str, flower_args: tuple[str, ...]) -> None:
    """Run Celery Flower on the configured broker: every instance's workers and jobs.

    Flower's own settings come from FLOWER_* variables, e.g. FLOWER_BASIC_AUTH=user:password, or follow
    as Flower's own options (--basic-auth=user:password, --auth=REGEX ...).
    """
    from worker.app import QUICK_RETRIES, configured_app, redis_client

    argv = [f"--port={port}", f"--address={address}", *flower_args]
    check_flower_exposure(argv)
    redis_client(retries=QUICK_RETRIES).ping()
    sys.exit(configured_app().start(["flower", *argv]) or 0)


@click.group()
def secrets() -> None:
    """The key that encrypts endpoint passwords in the catalog (DMS_SECRET_KEY or a key file)."""


@secrets.command("generate-key")
def generate_key() -> None:
    """Print a new key, for DMS_SECRET_KEY."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@secrets.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored password: with a new key in the key file, or with DMS_SECRET_KEY's first key.

    Passwords stored in plain text by an older OpenDMS are encrypted too. Running workers keep working:
    they read the key file, which holds the new and the old key while the passwords change."""
    catalog = Catalog()
    current = secret_key.load()
    if current is not None and current.from_env:
        count, plain = catalog.reencrypt_passwords(current, current)
        click.echo(f"{count} password(s) re-encrypted with the first key of {secret_key.ENV_KEY} "
                   f"({plain} of them were plain text)")
        if len(current.keys) == 1:
            click.echo(f"to change the key itself: `dms secrets generate-key`, set {secret_key.ENV_KEY}=NEW,OLD for "
                       "every worker and run `dms secrets rotate` with it, then drop OLD", err=True)
        else:
            click.echo(f"nothing needs the other keys of {secret_key.ENV_KEY} now: drop them everywhere", err=True)
        return
    from cryptography.fernet import Fernet

    path, new = secret_key.key_file(), Fernet.generate_key()
    both = secret_key.Keys(f"the key file {path}", (new, *(current.keys if current else ())), False)
    # While the passwords change, the file holds both keys: a worker reading it then decrypts either.
    secret_key.write_key_file(path, both.keys, replace=True)
    count, plain = catalog.reencrypt_passwords(both, both)
    # Once more: a password that a process which read the file before it changed stored meanwhile.
    catalog.reencrypt_passwords(both, both)
    secret_key.write_key_file(path, (new,), replace=True)
    click.echo(f"new key in {path}: {count} password(s) re-encrypted with it ({plain} of them were plain text); "
               "the old key is gone")
