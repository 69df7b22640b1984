"""`prefdata inspect`: the summary of a build run or a dataset directory, in the terminal.

    prefdata inspect runs/demo                 # a build run: funnel per stage and filter step
    prefdata inspect data/hh                   # a dataset directory (import, export or filter output)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prefdata.cli._app import app


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="Build run directory (--out of `prefdata build`) or dataset directory.")],
) -> None:
    """Print the summary of a run or dataset: rows per stage and filter step, drops by reason, margins, length gap."""
    from prefdata.report import format_summary, summarize

    print(format_summary(summarize(path)))
