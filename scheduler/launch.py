"""The `dms` command's entry point: `dms task start` goes to a running worker when one plans starts
(start_requests.py), before any of the CLI's own imports; every other command is the CLI (cli.py)."""

from __future__ import annotations

import sys


def main() -> None:
    from .start_requests import ask

    try:
        code = ask(sys.argv[1:])
    except KeyboardInterrupt:  # as the CLI says it (cli.py): a start already sent goes on in the worker
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    if code is not None:
        sys.exit(code)
    from .cli import main as cli

    cli()
