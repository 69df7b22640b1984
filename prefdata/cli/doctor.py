"""`prefdata doctor`: the machine, its engines, and what a recipe would ask of them (prefdata/doctor.py).

    prefdata doctor
    prefdata doctor verifiable.yaml --set prompts.limit=8
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import SetOption, app


@app.command()
def doctor(
    recipe: Annotated[Optional[Path], typer.Argument(help="A recipe: show the engine settings its models would "
                                                          "get and a rough sampling time.")] = None,
    set_: SetOption = [],
    measure: Annotated[float, typer.Option("--measure", help="Seconds spent timing the model (0: no estimate).")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Report CPU / GPU, instruction sets, memory and engines; with a recipe, its engine settings."""
    from prefdata.doctor import machine_report, recipe_report
    from prefdata.logs import engine_output, terminal_console

    console = terminal_console()
    report = {"machine": machine_report()}
    if recipe is not None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp, engine_output(Path(tmp) / "doctor.log"):
            report["models"] = recipe_report(recipe, set_, measure)  # model loading chatter stays off the screen
    if as_json:
        typer.echo(json.dumps(report, indent=2))  # on stdout, for a pipe
        return
    machine = report["machine"]
    console.print(f"[bold]machine[/]  {machine['cpu']}, {machine['cores']} cores, "
                  f"{machine['memory_gib']['available']} of {machine['memory_gib']['total']} GiB free")
    console.print(f"  instruction sets: {' '.join(machine['isa']) or 'none of note'}; native bf16: "
                  f"{'yes' if machine['native_bf16'] else 'no'} (dtype auto on CPU = {machine['auto_dtype_on_cpu']})")
    console.print(f"  GPUs: {', '.join(machine['gpus']) or 'none'}")
    console.print("  " + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()), highlight=False)
    for m in report.get("models", []):
        console.print(f"[bold]{m['backend']}:{m['model']}[/]  {m['prompts']} prompts -> {m['answers']} answers of "
                      f"up to {m['max_tokens']} tokens; longest prompt {m.get('longest_prompt_tokens', '-')} tokens"
                      + (f"; {m['refused_prompt_too_long']} prompts do not fit the context"
                         if m["refused_prompt_too_long"] else "")
                      + (f"; dynamic sampling: up to {m['dynamic_answers_at_most']} answers over every round"
                         if "dynamic_answers_at_most" in m else ""), highlight=False)
        for key, value in m.get("engine", {}).items():
            console.print(f"  {key} = {value}  [dim]({m['engine_reasons'].get(key, 'vLLM default')})[/]",
                          highlight=False)
        est = m.get("estimate")
        if est:
            console.print(f"  measured: {est['tokens_per_s']} tokens/s at batch {est['batch']} ({est['dtype']}); "
                          f"generation at most ~{est['generation_s_upper_bound']} s, plus the engine start",
                          highlight=False)
