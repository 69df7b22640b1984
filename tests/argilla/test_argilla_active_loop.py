"""The human loop with a simulated annotator, against the real local Argilla server:
select -> push -> answer (REST, as the UI does) -> pull -> mixed build -> train -> evaluate.

    python -m pytest -q tests/argilla/test_argilla_active_loop.py

Addition prompts with three candidates each (the right sum and two wrong ones) are labelled
by the demo's noisy reward model; the budget goes to the prompts with the smallest margin;
the annotator ranks with the exact check, so every human pair is right.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.argilla.pull import pull
from prefdata.argilla.push import push
from prefdata.argilla.settings import ArgillaConfig
from prefdata.argilla.simulate import annotate, ranking_answer, reference_check
from prefdata.errors import PrefdataError
from prefdata.rundir import RunDir
from prefdata.runner import build

# imported with the module: at test time `conftest` may name another folder's conftest
from addition_runs import addition_run
from conftest import annotator

RECIPE = """
name: active
seed: 0
prompts: {{path: {prompts}, prompt_column: prompt, reference_column: reference}}
sample:
  k: 3
  models: [{{backend: vllm, model: {model}}}]  # never runs: candidates are given
label:
  source: mixed
  judges: [{{type: programmatic, id: rm, function: "prefdata.demo.task:noisy_reward"}}]
pair: {{strategy: best_vs_worst}}
export: {{format: standard, plots: false}}
argilla: {{dataset: active, budget: 0.5, select: margin}}
"""
PROBLEMS = [(a, b) for a in range(2, 10) for b in range(1, 3)]  # 16 prompts


def test_ranking_answers_share_ranks_on_ties():
    got = ranking_answer(["response_1", "response_2", "response_3"], [1.0, 0.0, 1.0])
    assert got == [{"value": "response_1", "rank": 1}, {"value": "response_2", "rank": 3},
                   {"value": "response_3", "rank": 1}]


def _run(tmp_path, model) -> tuple:
    """The run labelled by its judges; each prompt's right sum is its second candidate."""
    recipe, run_dir, cands, _ = addition_run(tmp_path, RECIPE, model, PROBLEMS,
                                             lambda ref: [str(int(ref) + 1), ref, str(int(ref) + 2)])
    build(recipe, run_dir, external={"candidates": cands})
    return recipe, run_dir, cands


@pytest.mark.slow
def test_select_push_answer_pull_then_a_mixed_build_trains(argilla_server, client, tmp_path, tiny_model_dir):
    from prefdata.demo.evaluate import greedy_eval, load_model
    from prefdata.trainer.config import validate_train_config
    from prefdata.trainer.dpo import train

    recipe, run_dir, cands = _run(tmp_path, tiny_model_dir)
    config = ArgillaConfig(dataset="active", budget=0.5, select="margin")
    pushed = push(run_dir, client, config, progress=False)
    selection = pl.read_parquet(run_dir / "human" / "selection.parquet")
    selected = set(selection.filter("selected")["prompt_id"])
    assert pushed["records"] == len(selected) == 8

    ann = annotator(client, "simulated")
    done = annotate(ann, "active", reference_check(run_dir))
    assert done["answered"] == 8 and set(done["prompts"]) == selected and done["erred"] == 0
    assert annotate(ann, "active", reference_check(run_dir))["answered"] == 0  # answers once

    pulled = pull(run_dir, client, "active")
    assert pulled["records_kept"] == 8 and pulled["annotators"] == ["simulated"]
    manifest = build(recipe, run_dir, external={"candidates": cands})
    assert not {s.name: s.skipped for s in manifest.stages}["label"]  # the pull re-labels
    pairs = pl.read_parquet(RunDir(run_dir).stage("pair").data)
    human = pairs.filter(pl.col("provenance") != "judges")
    assert set(human["prompt_id"]) == selected  # exactly the answered prompts are the humans'
    assert human["chosen_id"].str.ends_with(":1").all()  # the exact check picks the right sum
    by = json.loads(RunDir(run_dir).stage("pair").manifest().stats)["provenance"]
    assert by["judges"] == 8 and by["human"] + by["both"] == 8

    cfg = validate_train_config({
        "model": {"path": str(tiny_model_dir)}, "data": {"dir": str(RunDir(run_dir).dataset), "eval_split": None},
        "reference": {"cache_dir": str(tmp_path / "ref-cache")},
        "dpo": {"output_dir": str(tmp_path / "trained"), "max_steps": 2, "per_device_train_batch_size": 2,
                "learning_rate": 1e-3, "report_to": "none", "save_strategy": "no", "max_length": 64, "seed": 0,
                "disable_tqdm": True}}, "test")
    result = train(cfg)
    assert result.rows["train"] == 16
    tokenizer, model = load_model(tmp_path / "trained")
    scores = greedy_eval(model, tokenizer, [(f"{a}+{b}=", str(a + b)) for a, b in PROBLEMS[:4]])
    assert len(scores["correct"]) == 4 and 0.0 <= scores["accuracy"] <= 1.0


@pytest.mark.slow
def test_an_erring_annotator_errs_at_about_its_rate_and_refuses_a_bad_rate(argilla_server, client, tmp_path,
                                                                        tiny_model_dir):
    recipe, run_dir, _ = _run(tmp_path, tiny_model_dir)
    push(run_dir, client, ArgillaConfig(dataset="active-noisy"), progress=False)  # every prompt
    ann = annotator(client, "careless")
    done = annotate(ann, "active-noisy", reference_check(run_dir), error_rate=0.5, seed=3)
    assert done["answered"] == 16 and 3 <= done["erred"] <= 13
    again = annotate(annotator(client, "careless-2"), "active-noisy", reference_check(run_dir), error_rate=0.5, seed=3)
    assert again["erred"] == done["erred"]  # seeded per record
    with pytest.raises(PrefdataError, match="error_rate 1.5"):
        annotate(ann, "active-noisy", reference_check(run_dir), error_rate=1.5)
