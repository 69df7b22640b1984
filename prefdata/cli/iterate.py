"""`prefdata iterate`: on-policy iterative DPO (prefdata/iterate/loop.py runs it).

    prefdata iterate pipelines/iterate_demo.yaml --out runs/iterate
    prefdata iterate pipelines/iterate_demo.yaml --out runs/iterate --rounds 2 --set sample.k=8
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import SetOption, app


@app.command()
def iterate(
    recipe: Annotated[Path, typer.Argument(help="Iterate recipe: a build recipe plus train: and iterate: sections.")],
    out: Annotated[Path, typer.Option("--out", help="Output dir; rerunning into it continues where it stopped.")],
    rounds: Annotated[Optional[int], typer.Option("--rounds", help="Rounds to run (overrides iterate.rounds).")] = None,
    set_: SetOption = [],
) -> None:
    """Sample with the current policy, label, pair, filter, export, train; repeat; evaluate every round."""
    from prefdata.iterate.loop import iterate as run_iterate
    from prefdata.logs import engine_output_until_exit, terminal_console

    console = terminal_console()
    run_iterate(recipe, out, set_, rounds=rounds, console=console)
    engine_output_until_exit(out / "logs" / "shutdown.log")
