"""`prefdata build`: run a pipeline recipe into a run directory.

    prefdata build pipelines/sample_vllm_cpu.yaml --out runs/demo
    prefdata build pipelines/sample_vllm_cpu.yaml --out runs/demo --set sample.k=8 --force-stage sample
    prefdata build pipelines/x.yaml --out runs/demo --artifact judgments=pulled.parquet   # human labels
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import SetOption, app

RecipeArg = Annotated[Path, typer.Argument(help="Pipeline recipe (YAML), e.g. pipelines/sample_vllm_cpu.yaml.")]
OutOption = Annotated[Path, typer.Option("--out", help="Run directory; re-using one skips unchanged stages.")]
ForceOption = Annotated[
    Optional[str], typer.Option("--force-stage", "--from-stage",
                                help="Re-run this stage and all later ones even if unchanged.")
]
UntilOption = Annotated[
    Optional[str], typer.Option("--until-stage", help="Stop after this stage (e.g. sample, before human labels).")
]
ArtifactOption = Annotated[
    list[str],
    typer.Option("--artifact", help="NAME=FILE.parquet replaces the stage producing NAME, "
                                    "e.g. judgments=pulled.parquet (repeatable)."),
]


@app.command()
def build(
    recipe: RecipeArg,
    out: OutOption,
    set_: SetOption = [],
    force_stage: ForceOption = None,
    until_stage: UntilOption = None,
    artifact: ArtifactOption = [],
) -> None:
    """Run the recipe's stages (prompts -> sample -> label -> pair -> filter -> export)."""
    from rich.console import Console

    from prefdata.errors import PrefdataError
    from prefdata.runner import build as run_build

    external = {}
    for item in artifact:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise PrefdataError(f"--artifact {item!r}: expected NAME=FILE, e.g. --artifact judgments=pulled.parquet")
        external[name] = path
    console = Console(stderr=True)
    manifest = run_build(recipe, out, set_, force_stage=force_stage, until_stage=until_stage,
                         external=external, console=console)
    for stage in manifest.stages:
        state = "reused" if stage.skipped else f"{stage.seconds:.1f}s"
        dropped = stage.dropped or 0
        console.print(f"{stage.name:>8}: {stage.rows_in} in, {stage.rows_out} kept, dropped {dropped} ({state})")
    console.print(f"run written to {out} (manifest.json)")
