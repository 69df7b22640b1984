"""`prefdata inspect | report | filter`: summaries and HTML reports of runs and datasets, and filters.

    prefdata inspect runs/demo                 # a build run: funnel per stage and filter step
    prefdata inspect data/hh                   # a dataset directory (import, export or filter output)
    prefdata report runs/demo                  # one HTML page: funnel, plots, kept pairs, dropped rows by reason
    prefdata filter data/hh --config filters.yaml --out data/hh-filtered --set steps.1.max_ratio=2.0
    # filters.yaml: steps: [{type: quality}, {type: length, max_ratio: 3.0, symmetric: true}, {type: dedup}]

The filter config is a YAML file holding the `filter` section of a recipe (`steps: [...]`),
plus optionally `pair: {...}` (a recipe's pair section) to re-pair rated completions of a
dataset imported with `--format ultrafeedback` (prefdata/filter_dataset.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import SetOption, app


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="Build run directory (--out of `prefdata build`) or dataset directory.")],
) -> None:
    """Print the summary of a run or dataset: rows per stage and filter step, drops by reason, margins, length gap."""
    from prefdata.report import format_summary, summarize

    print(format_summary(summarize(path)))


@app.command("filter")
def filter_(
    data_dir: Annotated[Path, typer.Argument(help="Dataset directory (from `prefdata import` or an export).")],
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML with the filter steps (`steps: [...]`) and optional `pair:`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset directory.")],
    overrides: SetOption = [],
) -> None:
    """Run filter steps over a dataset directory; writes the kept rows, rejects, card and plots to --out."""
    from rich.console import Console

    from prefdata.filter_dataset import filter_dataset_dir

    stats = filter_dataset_dir(data_dir, config, out, overrides)
    console = Console(stderr=True, highlight=False)
    console.print(f"{stats['input_rows']} rows -> kept {stats['kept']}, dropped {stats['rejected']} "
                  f"{stats['rejected_by_reason'] or ''}")
    console.print(f"-> {out} (card {out / 'README.md'}, plots {out / 'plots'}, rejects {out / 'rejects.parquet'})")
    if stats["input_rows"] and not stats["kept"]:
        # e.g. a gap filter on imported pairs that carry no scores (reason missing_margin)
        console.print(f"[yellow]warning: no rows kept; check the steps in {config} against the reasons above[/]")


@app.command("report")
def report(
    path: Annotated[Path, typer.Argument(help="A build run dir (`prefdata build --out`) or a dataset dir.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write (default: PATH/report.html).")] = None,
) -> None:
    """Write one self-contained HTML page: funnel, plots, kept pairs (searchable), dropped rows by reason."""
    from prefdata.html_report import write_report

    typer.echo(f"report written to {write_report(path, out)}")
