"""Small addition runs whose candidates are given, not sampled: for tests of labels and humans.

    from addition_runs import addition_run
    recipe, run_dir, candidates, ids = addition_run(tmp_path, RECIPE, model, problems, lambda ref: [ref, "0"])

`RECIPE` is a format string with {prompts} and {model} (the sampler never runs: its model only
has to exist). The prompts stage is built; the candidates file holds `answers(reference)` for
each prompt, in order, as candidate ids `<prompt_id>:0:<j>`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import polars as pl

from prefdata.atomic import write_parquet
from prefdata.frames import frame
from prefdata.records import Candidate
from prefdata.rundir import RunDir
from prefdata.runner import build


def addition_run(tmp_path: Path, recipe_text: str, model, problems: list[tuple[int, int]],
                 answers: Callable[[str], list[str]]) -> tuple[Path, Path, Path, pl.DataFrame]:
    """(recipe, run dir with its prompts stage, candidates file, prompt_id/prompt/reference frame)."""
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"{a}+{b}=", "reference": str(a + b)}) + "\n"
                               for a, b in problems))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_text.format(prompts=prompts, model=model))
    run_dir = tmp_path / "run"
    build(recipe, run_dir, until_stage="prompts")
    ids = pl.read_parquet(RunDir(run_dir).stage("prompts").data).select("prompt_id", "prompt", "reference")
    rows = [Candidate(candidate_id=f"{pid}:0:{j}", prompt_id=pid, text=text, model="m", backend="imported",
                      sample_index=j)
            for pid, ref in ids.select("prompt_id", "reference").iter_rows() for j, text in enumerate(answers(ref))]
    return recipe, run_dir, write_parquet(frame(rows, Candidate), tmp_path / "candidates.parquet"), ids
