"""Dynamic sampling through the real runner: a tiny transformers model, rounds of sample + label for the
prompts whose answers tie, killed between and inside rounds, and on a two-node Ray cluster.

    python -m pytest -q tests/dynamic/test_rounds.py -m "not slow"
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from prefdata import runner
from prefdata.errors import PrefdataError
from prefdata.pairing.build import PairConfig, build_pairs
from prefdata.report import format_summary, summarize

K, MAX = 2, 8
SAME = ["candidate_id", "prompt_id", "text", "seed", "sample_index"]


def write_recipe(root: Path, **sample) -> Path:
    (root / "prompts.jsonl").write_text("".join(json.dumps({"prompt": f"what is {i} plus {i}?"}) + "\n"
                                                for i in range(16)))
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "name": "dynamic", "seed": 1, "prompts": {"path": "prompts.jsonl"},
        "sample": {"k": K, "shard_size": 4, "sampling": {"max_tokens": 12}, **sample},
        # a 0/1 check: the tiny model's answers often all pass or all fail, so many prompts tie; the
        # length judge is a reference label, so the aggregate is recomputed over every round
        "label": {"aggregate_judges": ["vowels"], "judges": [
            {"type": "programmatic", "id": "vowels", "name": "regex", "params": {"pattern": "[aeiou]{2}"}},
            {"type": "programmatic", "id": "length", "name": "length"}]},
        "pair": {}, "export": {"test_size": 0},
    }))
    return path


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, tiny_model_dir) -> Path:
    return write_recipe(tmp_path_factory.mktemp("dynamic"), dynamic={"max_per_prompt": MAX},
                        models=[{"backend": "transformers", "model": str(tiny_model_dir)}])


@pytest.fixture(scope="module")
def reference(recipe, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    return run_dir, runner.build(recipe, run_dir)


def data(run_dir: Path, stage: str) -> pl.DataFrame:
    return pl.read_parquet(run_dir / "stages" / stage / "data.parquet")


def rounds(manifest) -> list[int]:
    return [int(s.name.split(".")[1]) for s in manifest.stages if s.name.startswith("label.")]


@pytest.mark.timeout(300)
def test_each_round_samples_exactly_the_prompts_still_without_a_pair(reference):
    run_dir, manifest = reference
    done = rounds(manifest)
    assert done, "no second round: the tiny model's answers gave every prompt a pair at once"
    before = ("sample", "label")
    for r in done:
        candidates, judgments = data(run_dir, before[0]), data(run_dir, before[1])
        prompts = data(run_dir, "prompts")
        _, no_pair, _, _ = build_pairs(prompts, candidates, judgments, PairConfig(), seed=1)
        counts = dict(candidates.group_by("prompt_id").len().iter_rows())
        want = {p for p in no_pair["row_id"] if counts.get(p, 0) + K <= MAX}
        assert set(data(run_dir, f"select.{r}")["prompt_id"]) == want
        union = data(run_dir, f"sample.{r}")
        new = union.join(candidates, on="candidate_id", how="anti")
        assert set(new["prompt_id"]) == want and new.height == K * len(want)
        assert set(new["sample_index"]) == set(range(r * K, r * K + K))  # numbered after the earlier rounds
        assert union.head(candidates.height).equals(candidates)  # the earlier rounds, unchanged
        before = (f"sample.{r}", f"label.{r}")
    final = data(run_dir, before[0])
    assert final["candidate_id"].is_unique().all()
    assert final.group_by("prompt_id").len()["len"].max() <= MAX
    last = json.loads(next(s for s in manifest.stages if s.name == f"select.{done[-1] + 1}").stats)
    assert last["selected"] == 0 and last["candidates"] == final.height  # the rounds ended, and say why
    pair = json.loads(next(s for s in manifest.stages if s.name == "pair").stats)
    first = json.loads(next(s for s in manifest.stages if s.name == "select.1").stats)
    assert pair["candidates"] == final.height and pair["pairs"] > first["pairs"]  # more prompts paired
    table = summarize(run_dir)["rounds"]  # what `prefdata build` and `prefdata report` show, one row per round
    assert [r["round"] for r in table] == [0, *done] and table[-1]["candidates"] == final.height
    assert table[-1]["pairs"] == pair["pairs"] and "pairs/1k cand" in format_summary(summarize(run_dir))


@pytest.mark.timeout(300)
def test_the_rounds_labels_equal_one_label_stage_over_every_candidate(reference, recipe, tmp_path):
    run_dir, manifest = reference
    last = rounds(manifest)[-1]
    once = runner.build(recipe, tmp_path / "once", ["sample.dynamic=null"], until_stage="label",
                        external={"candidates": run_dir / "stages" / f"sample.{last}" / "data.parquet"})
    assert [s.name for s in once.stages] == ["prompts", "sample", "label"]
    columns = ["judgment_id", "judge_id", "score", "rank", "parse_status"]
    got = data(run_dir, f"label.{last}").select(columns).sort("judgment_id")
    want = data(tmp_path / "once", "label").select(columns).sort("judgment_id")
    assert got.filter(pl.col("judge_id") == "aggregate").height == data(run_dir, f"sample.{last}").height
    assert got.equals(want)


@pytest.mark.timeout(300)
def test_a_rerun_reuses_every_round_and_adding_rounds_keeps_the_first(reference, recipe, tmp_path):
    run_dir, manifest = reference
    again = runner.build(recipe, run_dir)
    assert [s.name for s in again.stages] == [s.name for s in manifest.stages]
    assert all(s.skipped for s in again.stages)
    plain = tmp_path / "plain"
    runner.build(recipe, plain, ["sample.dynamic=null"], until_stage="label")
    grown = runner.build(recipe, plain)  # the same recipe with dynamic sampling on: round 0 is reused
    assert [s.name for s in grown.stages if s.skipped] == ["prompts", "sample", "label"]
    assert data(plain, "pair").equals(data(run_dir, "pair"))


@pytest.mark.timeout(120)
def test_a_budget_below_the_first_round_is_refused_before_any_model_loads(recipe, tmp_path):
    with pytest.raises(PrefdataError, match=r"sample.dynamic.budget 20 is smaller than the first round: 16 prompts "
                                            r"x k=2 x 1 model\(s\) = 32 candidates; set it to at least 32"):
        runner.build(recipe, tmp_path / "run", ["sample.dynamic.budget=20"])
    assert not (tmp_path / "run" / "stages" / "sample").exists()


def _start(recipe: Path, run_dir: Path, point: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "prefdata.cli", "build", str(recipe), "--out", str(run_dir)],
                            env={**os.environ, "PREFDATA_KILL_AT": point}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("point", ["dynamic:round:1", "round1/sample:shard:1", "round2/label:judged"])
def test_a_run_killed_between_or_inside_rounds_resumes_to_identical_candidates(point, reference, recipe, tmp_path):
    ref_dir, manifest = reference
    if point.startswith("round2") and 2 not in rounds(manifest):
        pytest.skip("the reference run has no round 2")
    proc = _start(recipe, tmp_path / "run", point)
    assert proc.wait(timeout=500) == -signal.SIGKILL
    assert not (tmp_path / "run" / "stages" / "pair" / "DONE").exists()
    resumed = runner.build(recipe, tmp_path / "run")
    assert [s.name for s in resumed.stages] == [s.name for s in manifest.stages]
    last = f"sample.{rounds(manifest)[-1]}"
    assert data(tmp_path / "run", last).select(SAME).equals(data(ref_dir, last).select(SAME))
    assert data(tmp_path / "run", "pair").equals(data(ref_dir, "pair"))
    if point == "round1/sample:shard:1":
        stats = json.loads(next(s for s in resumed.stages if s.name == "sample.1").stats)
        assert next(iter(stats["models"].values()))["shards_resumed"] >= 1


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dynamic_sampling_on_a_ray_cluster(ray_cluster, tiny_model_dir, tmp_path):
    """The ray backend samples every round as Ray Data vLLM replicas; the rounds work as with any backend."""
    recipe = write_recipe(tmp_path, dynamic={"max_per_prompt": 2 * K}, shard_size=16, models=[{
        "backend": "ray", "model": str(tiny_model_dir), "max_model_len": 256, "max_num_seqs": 32,
        "dtype": "float32", "enforce_eager": True}])
    run_dir = tmp_path / "run"
    manifest = runner.build(recipe, run_dir, [f"ray.address={ray_cluster}", "prompts.limit=8"])
    assert rounds(manifest) == [1], [s.name for s in manifest.stages]
    union = data(run_dir, "sample.1")
    assert set(union["backend"]) == {"ray"}
    selected = set(data(run_dir, "select.1")["prompt_id"])
    new = union.filter(pl.col("sample_index") >= K)
    assert selected and set(new["prompt_id"]) == selected and new.height == K * len(selected)
    assert json.loads(next(s for s in manifest.stages if s.name == "pair").stats)["candidates"] == union.height


@pytest.mark.timeout(120)
def test_doctor_says_how_many_answers_the_rounds_may_cost(recipe):
    from prefdata.doctor import recipe_report

    [model] = recipe_report(recipe, measure_s=0)
    assert model["answers"] == 16 * K and model["dynamic_answers_at_most"] == 16 * MAX
    [model] = recipe_report(recipe, ["sample.dynamic.budget=40"], measure_s=0)
    assert model["dynamic_answers_at_most"] == 40
