"""`prefdata init`: write a commented starting recipe for a model and a prompt file.

    prefdata init --template reward-model --model models/policy --judge-model models/rm \\
        --prompts data/prompts.jsonl --out recipe.yaml

Templates live in pipelines/templates/<name>.yaml; each opens with the commands that run it.
The written recipe is loaded with the same validation as `prefdata build` (or `prefdata
iterate`) before `init` returns, so a recipe that `init` wrote always loads.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from string import Template

from prefdata.errors import PrefdataError
from prefdata.atomic import atomic_path

TEMPLATES = {
    "sample": "sample k answers per prompt with vLLM (no labels yet)",
    "reward-model": "sample, score with a reward model, pair, filter, export",
    "llm-judge": "sample, rate with an LLM judge, pair, filter, export",
    "human": "sample, rank in Argilla, pull, pair, filter, export",
    "iterate": "on-policy iterative DPO with a reward model (prefdata iterate)",
    "verifiable": "add IFEval instructions to the prompts, sample, check, pair, filter, export",
}
NEEDS_JUDGE = ("reward-model", "llm-judge", "iterate")


def template_text(name: str) -> str:
    if name not in TEMPLATES:
        raise PrefdataError(f"--template {name!r}: choose one of {', '.join(TEMPLATES)}")
    return resources.files("prefdata.pipelines").joinpath(f"templates/{name}.yaml").read_text()


def write_recipe(template: str, *, model: str, prompts: Path, out: Path, judge_model: str | None = None,
                 prompt_column: str | None = None, device: str = "auto", holdout: int = 50,
                 force: bool = False) -> Path:
    """Fill the template, write it to `out` and load it back; returns `out`."""
    text = template_text(template)
    if out.exists() and not force:
        raise PrefdataError(f"{out} exists; pass --force to replace it, or another --out")
    if template in NEEDS_JUDGE and not judge_model:
        kind = "an LLM judge model" if template == "llm-judge" else "a reward model"
        raise PrefdataError(f"--template {template} scores answers with {kind}: pass --judge-model PATH")
    column = prompt_column or _prompt_column(prompts)
    values = {"name": out.stem, "model": _absolute(model), "prompts": str(prompts.resolve()), "prompt_column": column,
              "judge_model": _absolute(judge_model or "")}
    if "$device" in text:
        values["device"] = _device() if device == "auto" else device
    # YAML values are quoted (JSON strings are YAML): a path with ': ' or a run named `on` stays a string
    filled = Template(text).substitute(recipe=out, run=out.stem, holdout=holdout,
                                       **{k: json.dumps(v) for k, v in values.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:  # --force replaces the old file only once the new one loads
        tmp.write_text(filled)
        _load(template, tmp)
    return out


def _load(template: str, path: Path) -> None:
    if template == "iterate":
        from prefdata.iterate.config import load_plan

        load_plan(path)
    else:
        from prefdata.recipe import load_recipe
        from prefdata.runner import check_stages

        check_stages(load_recipe(path), str(path))


def _absolute(path: str) -> str:
    """A local path made absolute (the recipe may be run from anywhere); a hub id is kept."""
    return str(Path(path).resolve()) if path and Path(path).exists() else path


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _prompt_column(prompts: Path) -> str:
    """The prompt column of a .jsonl file's first row: prompt, else messages, question, instruction."""
    if not prompts.is_file():
        raise PrefdataError(f"--prompts {prompts}: no such file")
    if prompts.suffix != ".jsonl":
        return "prompt"  # other formats: the template's default; --prompt-column sets another
    with prompts.open() as f:
        first = f.readline()
    try:
        row = json.loads(first)
    except json.JSONDecodeError as e:
        raise PrefdataError(f"{prompts}:1: not a JSON object ({e.msg}); pass a .jsonl prompt file") from None
    for column in ("prompt", "messages", "question", "instruction"):
        if column in row:
            return column
    raise PrefdataError(f"{prompts}:1: no prompt column (looked for prompt, messages, question, instruction; "
                        f"found {', '.join(row) or 'none'}); pass --prompt-column NAME")
