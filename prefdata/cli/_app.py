"""The Typer app and the options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="prefdata",
    help="Build DPO preference datasets (sample -> label -> pair -> filter -> export) and train on them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

SetOption = Annotated[
    list[str],
    typer.Option("--set", help="Override a config key: --set sample.k=8 (repeatable)."),
]


@app.command()
def version() -> None:
    """Print the prefdata version."""
    from prefdata import __version__

    print(__version__)
