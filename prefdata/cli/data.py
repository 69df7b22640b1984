"""`prefdata import | export | validate`: thin commands over prefdata.io and prefdata.validate.

    prefdata import ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --format hh-rlhf --out data/hh
    prefdata import ../shared/data/llamafactory/dpo_en_demo.json --format llamafactory \\
        --dataset-info ../shared/data/llamafactory/dataset_info.json --name dpo_en_demo --out data/lf
    prefdata export data/lf --format llamafactory --out out/lf
    prefdata validate data/hh --model models/tiny --max-length 512 --max truncated=0.3

Exit codes: 0 ok, 1 validate found a problem above its threshold, 2 unusable input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from prefdata.cli._app import app
from prefdata.errors import ConfigError, PrefdataError


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


class _ImportCommand(TyperCommand):
    """`prefdata import`, whose --format help lists the importer classes' docstrings.

    Importing the importers costs ~0.5 s (polars, pydantic), so the list is built when this
    help is shown, not when the CLI starts.
    """

    def format_help(self, ctx, formatter) -> None:
        from prefdata.io.importer import format_help

        for param in self.params:
            if param.name == "format":
                param.help = format_help()
        super().format_help(ctx, formatter)


@app.command("import", cls=_ImportCommand)
def import_(
    source: Annotated[Path, typer.Argument(help="File (JSON, JSONL, .gz, parquet) or dataset directory to import.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset directory.")],
    format: Annotated[str, typer.Option("--format", "-f", help="auto or a format name (see `prefdata import --help`)")] = "auto",
    test_size: Annotated[float, typer.Option(help="Share of rows for test.parquet, split by prompt (0 = all train).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the train/test split.")] = 0,
    dataset_info: Annotated[Optional[Path], typer.Option(help="LLaMA-Factory dataset_info.json with the column mapping.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Entry of --dataset-info to use.")] = None,
) -> None:
    """Import preference data into a TRL dataset directory (train/test parquet, rejects, stats, card)."""
    from prefdata.io.importer import import_dataset

    stats = import_dataset(source, out, format=format, test_size=test_size, seed=seed,
                           dataset_info=dataset_info, name=name)
    console = _console()
    console.print(f"[bold]{stats['import_format']}[/] {source}: {stats['input_rows']} rows -> kept {stats['kept']}, "
                  f"rejected {stats['rejected']} {stats['rejected_by_reason'] or ''}")
    console.print(f"splits {stats['splits']} -> {out} (details: {out / 'stats.json'}, {out / 'rejects.parquet'})")


@app.command("export")
def export(
    data_dir: Annotated[Path, typer.Argument(help="Dataset directory (from `prefdata import` or the build pipeline).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    format: Annotated[str, typer.Option("--format", "-f", help="trl | llamafactory | jsonl")] = "trl",
    name: Annotated[str, typer.Option(help="Dataset name in LLaMA-Factory's dataset_info.json.")] = "prefdata",
) -> None:
    """Export a dataset directory as TRL parquet, JSONL, or LLaMA-Factory files + dataset_info.json."""
    from prefdata.io.export import export_dataset

    summary = export_dataset(data_dir, out, format=format, name=name)
    _console().print(f"exported {summary['input_rows']} rows as {format}: {summary['splits']}, "
                     f"rejected {summary['rejected']} -> {out}")


def parse_thresholds(items: list[str]):
    from prefdata.validate import CHECKS, Thresholds
    from prefdata.config import validate as validate_config

    values, problems = {}, []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or key not in CHECKS:
            problems.append(f"--max {item!r}: expected CHECK=SHARE with CHECK one of {', '.join(CHECKS)}")
            continue
        try:
            values[key] = float(raw)
        except ValueError:
            problems.append(f"--max {item!r}: {raw!r} is not a number (a share between 0 and 1)")
    if problems:
        raise ConfigError("--max", problems)
    return validate_config(Thresholds, values, "--max")


@app.command("validate")
def validate(
    data_dir: Annotated[Path, typer.Argument(help="Dataset directory to check.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model directory whose tokenizer/chat template TRL will use.")],
    max_length: Annotated[int, typer.Option(help="DPOConfig.max_length you will train with.")] = 1024,
    max: Annotated[Optional[list[str]], typer.Option("--max", help="Threshold CHECK=SHARE, e.g. --max truncated=0.3 (repeatable).")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Also write the report as JSON here.")] = None,
) -> None:
    """Tokenize every example as TRL's DPOTrainer will; exit 1 if a check exceeds its threshold."""
    from rich.table import Table

    from prefdata.validate import validate_dataset, write_report

    thresholds = parse_thresholds(max or [])
    from prefdata.backends.transformers import check_model_path

    try:
        check_model_path(str(model))
    except ValueError as e:
        raise PrefdataError(f"--model: {e}") from None
    result = validate_dataset(data_dir, model, max_length=max_length, thresholds=thresholds, progress=True)
    table = Table(title=f"{data_dir}: {result['examples']} examples, max_length {max_length}")
    for column in ("check", "examples", "share", "threshold", ""):
        table.add_column(column)
    for check, count in result["counts"].items():
        bad = check in result["failed"]
        table.add_row(check, str(count), f"{result['shares'][check]:.1%}", f"{result['thresholds'][check]:.1%}",
                      "[red]FAIL[/]" if bad else "ok")
    console = _console()
    console.print(table)
    if report:
        write_report(result, report)
    if result["failed"]:
        for check in result["failed"]:
            console.print(f"[red]{check}[/]: e.g. {result['sample_rows'][check][:3]}")
        raise typer.Exit(1)
