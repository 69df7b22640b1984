"""`prefdata` command line: thin commands that parse, load a config and call one function.

    prefdata --help
    prefdata import ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --format hh-rlhf --out data/hh

Heavy imports (torch, vllm, argilla) live inside command bodies so `--help` is instant.
User errors (PrefdataError) print as a short message and exit 2, never a traceback.
"""

from __future__ import annotations

import sys

from rich.console import Console

from prefdata.cli._app import app
from prefdata.errors import PrefdataError

# Each module registers its commands on `app`.
from prefdata.cli import (  # noqa: E402,F401
    data, init, build, judges, filters, filter, inspect, report, train, iterate, argilla, demo, convert, doctor, eval,
)


def main() -> None:
    try:
        app()
    except PrefdataError as e:
        Console(stderr=True).print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)


__all__ = ["app", "main"]
