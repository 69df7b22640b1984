"""`prefdata init`: write a commented starting recipe (prefdata/recipe_templates.py).

    prefdata init --template reward-model --model models/policy --judge-model models/rm \\
        --prompts data/prompts.jsonl --out recipe.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prefdata.cli._app import app
from prefdata.recipe_templates import TEMPLATES

TEMPLATE_HELP = "; ".join(f"{name}: {what}" for name, what in TEMPLATES.items())


@app.command()
def init(
    template: Annotated[str, typer.Option("--template", help=TEMPLATE_HELP)],
    model: Annotated[str, typer.Option("--model", help="The policy model to sample from (local dir or hub id).")],
    prompts: Annotated[Path, typer.Option("--prompts", help="Prompt file (.jsonl, .json, .parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Where the recipe is written, e.g. recipe.yaml.")],
    judge_model: Annotated[Optional[str], typer.Option(
        "--judge-model", help="Reward model (reward-model, iterate) or judge LLM (llm-judge).")] = None,
    prompt_column: Annotated[Optional[str], typer.Option(
        "--prompt-column", help="Prompt column (default: found in the file's first row).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
) -> None:
    """Write a commented recipe that opens with its commands; it is validated before init returns."""
    from prefdata.recipe_templates import write_recipe

    path = write_recipe(template, model=model, prompts=prompts, out=out, judge_model=judge_model,
                        prompt_column=prompt_column, force=force)
    first = path.read_text().splitlines()[0].lstrip("# ")
    typer.echo(f"wrote {path} ({template}); run it with:\n  {first}")
