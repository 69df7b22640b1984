"""`prefdata build`: run a pipeline recipe into a run directory.

    prefdata build pipelines/sample_vllm_cpu.yaml --out runs/demo
    prefdata build pipelines/sample_vllm_cpu.yaml --out runs/demo --set sample.k=8 --force-stage sample
    prefdata build pipelines/x.yaml --out runs/demo --artifact judgments=pulled.parquet   # human labels
"""

from __future__ import annotations

import json
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the resolved recipe and the "
                                          "engine output (always in RUN_DIR/logs/<stage>.log).")] = False,
) -> None:
    """Run the recipe's stages (prompts -> sample -> label -> pair -> filter -> export)."""
    from prefdata.errors import PrefdataError
    from prefdata.logs import terminal_console
    from prefdata.report import funnel_table, rounds_table, rounds_text, run_funnel
    from prefdata.rundir import RunDir
    from prefdata.runner import build as run_build

    external = {}
    for item in artifact:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise PrefdataError(f"--artifact {item!r}: expected NAME=FILE, e.g. --artifact judgments=pulled.parquet")
        external[name] = path
    console = terminal_console()
    manifest = run_build(recipe, out, set_, force_stage=force_stage, until_stage=until_stage,
                         external=external, console=console, verbose=verbose)
    console.print(funnel_table(run_funnel(out, [s.name for s in manifest.stages])))
    rounds = rounds_table((s.name, json.loads(s.stats)) for s in manifest.stages)
    if rounds:
        console.print(f"dynamic sampling, by round:\n{rounds_text(rounds)}")
    console.print(f"run written to {out} (manifest.json; dropped rows with reasons: stages/*/rejects.parquet)")
    if not verbose:  # engines shut down at exit (vLLM prints then): into the log, not onto the console
        from prefdata.logs import engine_output_until_exit

        engine_output_until_exit(RunDir(out).logs / "shutdown.log")
