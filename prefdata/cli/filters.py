"""`prefdata filters`: the filter step types a recipe's `filter.steps` (and `prefdata filter`) can use.

    prefdata filters
"""

from __future__ import annotations

from prefdata.cli._app import app


@app.command("filters")
def filters() -> None:
    """List the filter step types for a recipe's `filter.steps` (and `prefdata filter --config`)."""
    from rich.console import Console
    from rich.table import Table

    from prefdata.filters import filter_catalog

    table = Table("type", "what", title="filter.steps")
    for name, what in filter_catalog():
        table.add_row(name, what)
    Console().print(table)
