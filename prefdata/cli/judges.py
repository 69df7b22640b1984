"""`prefdata judges`: the judge types and built-in checks a recipe's `label.judges` can use.

    prefdata judges
    prefdata build pipelines/label_rm_programmatic.yaml --out runs/label-math   # runs the label stage
"""

from __future__ import annotations

from prefdata.cli._app import app


def judge_catalog() -> list[tuple[str, str, str]]:
    """(kind, name, description / params) rows: judge types (from the judge classes' docstrings),
    then built-in programmatic checks."""
    from prefdata.judges import judge_catalog as judge_types
    from prefdata.judges.programmatic import BUILTINS

    rows = [("type", name, what) for name, what in judge_types()]
    for name, (fn, params) in BUILTINS.items():
        fields = ", ".join(
            f"{f}" + ("" if info.is_required() else f"={info.default!r}") for f, info in params.model_fields.items()
        )
        rows.append(("programmatic", name, f"params: {fields}"))
    return rows


@app.command("judges")
def judges() -> None:
    """List the judge types and built-in programmatic checks for a recipe's `label.judges`."""
    from rich.console import Console
    from rich.table import Table

    table = Table("kind", "name", "what / params", title="label.judges")
    for row in judge_catalog():
        table.add_row(*row)
    Console().print(table)
