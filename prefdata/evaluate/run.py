"""`evaluate`: the whole `prefdata eval` (see prefdata/evaluate/__init__.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


from prefdata.atomic import write_parquet
from prefdata.errors import PrefdataError
from prefdata.evaluate.answers import answer, model_slug
from prefdata.evaluate.compare import compare, summarize
from prefdata.evaluate.prompts import read_eval_prompts
from prefdata.evaluate.report import write_report
from prefdata.evaluate.scores import prompt_scores

DEFAULT_SAMPLER = {"backend": "vllm"}


def evaluate(models: list[str], prompts: str | Path, out: str | Path, baseline: str | None = None,
             sampler: dict[str, Any] | None = None, max_tokens: int = 512, console=None) -> dict[str, Any]:
    """Answer, score and compare; writes OUT/results.json, OUT/index.html and per model
    OUT/models/<name>/scores.parquet. `sampler` is a sample-stage model entry without `model`
    (default: vllm with prefdata's engine sizing)."""
    from prefdata.backends.transformers import model_path_problems

    models = list(dict.fromkeys(str(m) for m in models))
    baseline = str(baseline) if baseline is not None else models[0]
    if baseline not in models:
        models.insert(0, baseline)
    problems = model_path_problems([(f"model {m}", m) for m in models])
    if problems:
        raise PrefdataError("; ".join(problems))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = read_eval_prompts(Path(prompts))  # a bad row stops here, before any model loads
    prompts_file = write_parquet(table, out / "prompts.parquet")
    sampler = {**DEFAULT_SAMPLER, **(sampler or {})}
    tables = {}
    for i, model in enumerate(models):
        if console is not None:
            console.print(f"[bold]eval[/] model {i + 1} of {len(models)}: {model}")
        run = answer(model, prompts_file, out, sampler, max_tokens, console=console)
        tables[model] = prompt_scores(run, table)
        write_parquet(tables[model], out / "models" / model_slug(model) / "scores.parquet")
        _release_engines()  # the next model's engine gets the memory
    results = {
        "baseline": baseline, "max_tokens": max_tokens, "sampler": sampler,
        "prompts": {"file": str(prompts), "count": table.height,
                    "stand_in": int(tables[baseline]["stand_in"].sum())},
        "models": summarize(tables), "compared": compare(tables, baseline),
    }
    write_report(out, results)
    return results


def _release_engines() -> None:
    import gc

    from prefdata.backends.vllm import release_engines

    release_engines()
    gc.collect()


__all__ = ["evaluate"]
