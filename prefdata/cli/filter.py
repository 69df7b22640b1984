"""`prefdata filter`: filter steps over a dataset directory, with the build's filter stage driver.

    prefdata filter data/hh --config filters.yaml --out data/hh-filtered --set steps.1.max_ratio=2.0
    # filters.yaml: steps: [{type: quality}, {type: length, max_ratio: 3.0, symmetric: true}, {type: dedup}]

The filter config is a YAML file holding the `filter` section of a recipe (`steps: [...]`),
plus optionally `pair: {...}` (a recipe's pair section) to re-pair rated completions of a
dataset imported with `--format ultrafeedback` (prefdata/filter_dataset.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prefdata.cli._app import SetOption, app


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
