"""`prefdata report`: one self-contained HTML page of a build run or a dataset directory.

    prefdata report runs/demo                  # funnel, plots, kept pairs, dropped rows by reason
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import app


@app.command("report")
def report(
    path: Annotated[Path, typer.Argument(help="A build run dir (`prefdata build --out`) or a dataset dir.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write (default: PATH/report.html).")] = None,
) -> None:
    """Write one self-contained HTML page: funnel, plots, kept pairs (searchable), dropped rows by reason."""
    from prefdata.html_report import write_report

    typer.echo(f"report written to {write_report(path, out)}")
