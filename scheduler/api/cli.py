"""`dms api`: serve DMS's API (and the web console); `dms api keys create`: an access key for it."""

from __future__ import annotations

import click

from scheduler.cli_common import emit


@click.group(invoke_without_command=True)
@click.option("--port", default=9500, show_default=True, type=click.IntRange(0, 65535))
@click.option("--address", default="127.0.0.1", show_default=True,
              help="the address to listen on (0.0.0.0: every interface; requests are signed, but not encrypted)")
@click.pass_context
def api(ctx: click.Context, port: int, address: str) -> None:
    """Serve AWS DMS's API (JSON 1.1, Signature Version 4) for boto3, the AWS CLI and Terraform, and the web console.

    Clients sign with a key of `dms api keys create`: e.g. `aws dms describe-replication-tasks
    --endpoint-url http://127.0.0.1:9500`."""
    if ctx.invoked_subcommand is not None:
        return
    from .server import serve

    try:
        serve(address, port, lambda url: click.echo(f"DMS API on {url} (Ctrl-C stops it)", err=True))
    except OSError as exc:
        from connectors.errors import ConfigError

        raise ConfigError(f"cannot listen on {address}:{port}: {exc.strerror}; pick another --port or --address")\
            from None
    except KeyboardInterrupt:
        pass


@api.group()
def keys() -> None:
    """Access keys of the API."""


@keys.command("create")
@click.option("--json", "as_json", is_flag=True)
def keys_create(as_json: bool) -> None:
    """Make an access key; its secret is shown this once (kept encrypted in the catalog)."""
    from .keys import create_key

    key_id, secret = create_key()
    if as_json:
        return emit({"AccessKeyId": key_id, "SecretAccessKey": secret})
    click.echo(f"AccessKeyId     {key_id}\nSecretAccessKey {secret}\n"
               "the secret is not shown again: keep it where your AWS credentials are (e.g. aws configure)")
