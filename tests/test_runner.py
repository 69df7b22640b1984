"""The build runner: content-addressed skipping, accounting, errors, the shipped recipe
end to end on real vLLM, and kill -9 mid-sampling followed by an exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml

from prefdata import runner
from prefdata.config import StrictModel
from prefdata.errors import ConfigError, PrefdataError
from prefdata.recipe import recipe_model
from prefdata.rundir import RunDir
from prefdata.stages import PromptsStage, SampleStage
from prefdata.stages.base import Stage, StageOutput
from prefdata.ledger import empty_rejects, rejects_from

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "pipelines" / "sample_vllm_cpu.yaml"
RUNS: Counter = Counter()


# --- trivial downstream stages (the real label/pair/filter/export are other issues) ---------
class Threshold(StrictModel):
    threshold: float = 0.0


class LengthLabel(Stage):
    name, Config, inputs, output = "label", Threshold, ("prompts", "candidates"), "judgments"

    def run(self, inputs, ctx):
        RUNS["label"] += 1
        c = inputs["candidates"]
        data = c.select("prompt_id", "candidate_id", pl.col("text").str.len_chars().cast(pl.Float64).alias("score"))
        return StageOutput(data=data, rejects=empty_rejects(), rows_in=c.height)


class MaxMinPair(Stage):
    name, Config, inputs, output = "pair", Threshold, ("prompts", "candidates", "judgments"), "pairs"

    def run(self, inputs, ctx):
        RUNS["pair"] += 1
        j = inputs["judgments"]
        data = j.group_by("prompt_id", maintain_order=True).agg(
            (pl.col("score").max() - pl.col("score").min()).alias("margin")
        )
        return StageOutput(data=data, rejects=empty_rejects(), rows_in=data.height)


class MarginFilter(Stage):
    name, Config, inputs, output, optional = "filter", Threshold, ("pairs",), "pairs", True

    def run(self, inputs, ctx):
        RUNS["filter"] += 1
        p, keep = inputs["pairs"], pl.col("margin") >= self.config.threshold
        rejects = rejects_from(p.filter(~keep), stage="filter", reason="low_margin", message="margin below threshold",
                               id_column="prompt_id", value_columns=["margin"])
        return StageOutput(data=p.filter(keep), rejects=rejects, rows_in=p.height)


class CopyExport(Stage):
    name, Config, inputs, output = "export", Threshold, ("pairs",), "dataset"

    def run(self, inputs, ctx):
        RUNS["export"] += 1
        return StageOutput(data=inputs["pairs"], rejects=empty_rejects(), rows_in=inputs["pairs"].height)


# A recipe of test-defined stages: one list of stage classes is all the runner needs.
DownstreamRecipe = recipe_model((PromptsStage, SampleStage, LengthLabel, MaxMinPair, MarginFilter, CopyExport))


@pytest.fixture
def fake_downstream():
    RUNS.clear()
    return RUNS


def write_recipe(path: Path, tiny_model_dir, prompts: int = 4, **sections) -> Path:
    src = path.parent / "prompts.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"question number {i}?"}) + "\n" for i in range(prompts)))
    recipe = {
        "name": "t", "seed": 0, "prompts": {"path": "prompts.jsonl"},
        "sample": {"k": 2, "sampling": {"max_tokens": 6}, "shard_size": 2,
                   "models": [{"backend": "transformers", "model": str(tiny_model_dir)}]},
        **sections,
    }
    path.write_text("# prefdata build t.yaml --out run\n" + yaml.safe_dump(recipe))
    return path


def skipped(manifest) -> dict[str, bool]:
    return {s.name: s.skipped for s in manifest.stages}


@pytest.mark.slow
def test_only_changed_stages_rerun(tmp_path, tiny_model_dir, fake_downstream):
    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir, label={}, pair={}, filter={}, export={})
    run_dir = tmp_path / "run"
    first = runner.build(recipe, run_dir, recipe_model=DownstreamRecipe)
    assert not any(skipped(first).values())
    assert json.loads((run_dir / "manifest.json").read_text())["stages"][1]["rows_kept"] == 4
    assert (run_dir / "recipe.resolved.yaml").read_text().count("threshold: 0.0") == 4

    again = runner.build(recipe, run_dir, recipe_model=DownstreamRecipe)
    assert all(skipped(again).values()) and RUNS["label"] == 1

    changed = runner.build(recipe, run_dir, ["filter.threshold=1000"], recipe_model=DownstreamRecipe)
    assert skipped(changed) == {"prompts": True, "sample": True, "label": True, "pair": True,
                                "filter": False, "export": False}
    filt = changed.stages[4]
    assert filt.rows_in == 4 and filt.rows_kept == 0 and filt.dropped == {"low_margin": 4}

    forced = runner.build(recipe, run_dir, ["filter.threshold=1000"], force_stage="pair", recipe_model=DownstreamRecipe)
    assert skipped(forced)["label"] and not skipped(forced)["pair"]
    # pair re-ran with the same output: its artifact hash is unchanged, so filter's key is too
    assert forced.stages[3].output_hash == changed.stages[3].output_hash


@pytest.mark.slow
def test_stages_added_later_reuse_finished_ones(tmp_path, tiny_model_dir, fake_downstream):
    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir)
    first = runner.build(recipe, tmp_path / "run", recipe_model=DownstreamRecipe)
    assert [s.name for s in first.stages] == ["prompts", "sample"]
    write_recipe(tmp_path / "t.yaml", tiny_model_dir, label={}, pair={})
    later = runner.build(recipe, tmp_path / "run", recipe_model=DownstreamRecipe)
    assert skipped(later) == {"prompts": True, "sample": True, "label": False, "pair": False}


def test_accounting_mismatch_is_an_internal_error_and_leaves_no_done(tmp_path, tiny_model_dir):
    class Lossy(PromptsStage):
        def run(self, inputs, ctx):
            return StageOutput(data=pl.DataFrame({"x": [1]}), rejects=empty_rejects(), rows_in=3)

    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir)
    with pytest.raises(AssertionError, match=r"stage 'prompts': kept 1 \+ dropped 0 != 3 input rows"):
        runner.build(recipe, tmp_path / "run", recipe_model=recipe_model((Lossy, SampleStage)))
    assert not (tmp_path / "run" / "stages" / "prompts" / "DONE").exists()


def test_bad_recipe_reports_every_error_at_once(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "prompts": {"path": "p.jsonl", "limt": 3},
        "sample": {"k": 0, "sampling": {"max_tokens": "many"},
                   "models": [{"backend": "vllm", "model": "/x", "tensor_parallel_size": "two"}, {"backend": "tgi", "model": "y"}]},
    }))
    with pytest.raises(ConfigError) as e:
        runner.build(bad, tmp_path / "run")
    text = str(e.value)
    for expected in ("prompts.limt: unknown key", "sample.k: Input should be greater than or equal to 1",
                     "sample.sampling.max_tokens", "sample.models.0.vllm.tensor_parallel_size",
                     "sample.models.1.plugin: unknown sampler 'tgi'"):
        assert expected in text, text


def test_missing_model_path_fails_before_anything_runs(tmp_path, tiny_model_dir):
    recipe = write_recipe(tmp_path / "t.yaml", tmp_path / "no-such-model")
    with pytest.raises(ConfigError, match="sample.models.0.model: model path .* does not exist"):
        runner.build(recipe, tmp_path / "run")
    assert not (tmp_path / "run" / "stages").exists()


def test_missing_judge_model_fails_before_sampling(tmp_path, tiny_model_dir):
    label = {"judges": [{"type": "reward_model", "id": "rm", "path": str(tmp_path / "no-rm")},
                        {"type": "llm", "id": "j", "aspects": ["helpfulness"],
                         "sampler": {"backend": "transformers", "model": str(tmp_path / "no-judge")}}]}
    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir, label=label)
    with pytest.raises(ConfigError) as e:
        runner.build(recipe, tmp_path / "run")
    assert "label.judges.0.path: model path" in str(e.value)
    assert "label.judges.1.sampler.model: model path" in str(e.value)
    assert not (tmp_path / "run" / "stages").exists()


def test_cli_prints_user_errors_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("prompts: {path: x.jsonl}\nsample: {k: 0, models: []}\n")
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "build", str(bad), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "sample.k" in proc.stderr and "sample.models" in proc.stderr and "Traceback" not in proc.stderr


# --- the shipped recipe on real vLLM, and kill -9 ---------------------------------------------
@pytest.fixture(scope="module")
def acceptance_run(tmp_path_factory, tiny_model_dir):
    run_dir = tmp_path_factory.mktemp("acceptance")
    manifest = runner.build(RECIPE, run_dir, [f"sample.models.0.model={tiny_model_dir}"])
    return run_dir, manifest


@pytest.mark.slow
def test_shipped_vllm_recipe_samples_4_candidates_for_50_prompts(acceptance_run):
    run_dir, manifest = acceptance_run
    cands = pl.read_parquet(run_dir / "stages" / "sample" / "data.parquet")
    assert cands.height == 200 and cands["candidate_id"].is_unique().all()
    assert cands.group_by("prompt_id").len()["len"].to_list() == [4] * 50
    assert set(cands["backend"]) == {"vllm"} and set(cands["finish_reason"]) <= {"stop", "length"}
    assert cands["num_tokens"].max() <= 32 and cands["text"].str.len_chars().sum() > 0
    # k samples of one prompt differ (sampling, not copies)
    assert cands.group_by("prompt_id").agg(pl.col("text").n_unique())["text"].min() > 1
    sample = manifest.stages[1]
    assert (sample.rows_in, sample.rows_kept, sample.dropped) == (50, 50, {})
    assert json.loads((run_dir / "manifest.json").read_text())["package_versions"]["vllm-cpu"] == "0.32.0"


def _build_cmd(run_dir, model_dir, *extra):
    return [sys.executable, "-m", "prefdata.cli", "build", str(RECIPE), "--out", str(run_dir),
            "--set", f"sample.models.0.model={model_dir}", *extra]


@pytest.mark.slow
def test_kill_9_mid_sampling_then_resume_equals_uninterrupted(tmp_path, tiny_model_dir, acceptance_run):
    run_dir = tmp_path / "run"
    # Smaller shards than the uninterrupted run: per-request seeds make batching irrelevant.
    extra = ("--set", "prompts.limit=24", "--set", "sample.shard_size=4")  # same overrides below
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_build_cmd(run_dir, tiny_model_dir, *extra), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    shards = run_dir / "stages" / "sample" / "shards"
    deadline = time.time() + 300
    while not list(shards.glob("*/shard-00000.json")):
        assert proc.poll() is None, "build exited before writing a shard"
        assert time.time() < deadline, "no shard after 300 s"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(shards.glob("*/shard-*.json")))
    assert 1 <= done_before < 6 and not (run_dir / "stages" / "sample" / "DONE").exists()

    # The same build again, in this process: it reuses the engine already started by the
    # acceptance run (vLLM start-up is the slow part of this test) instead of a fresh one.
    resumed = runner.build(RECIPE, run_dir, [f"sample.models.0.model={tiny_model_dir}", "prompts.limit=24",
                                             "sample.shard_size=4"])
    stats = json.loads(resumed.stages[1].stats)
    assert next(iter(stats["models"].values()))["shards_resumed"] == done_before

    got = pl.read_parquet(run_dir / "stages" / "sample" / "data.parquet")
    full = pl.read_parquet(acceptance_run[0] / "stages" / "sample" / "data.parquet")
    want = full.filter(pl.col("prompt_id").is_in(got["prompt_id"].unique().implode()))
    assert got.height == 24 * 4 and got["candidate_id"].is_unique().all()
    assert got.sort("candidate_id").equals(want.sort("candidate_id"))

    t0 = time.time()  # a finished run re-executed returns at once (no engine start)
    again = subprocess.run(_build_cmd(run_dir, tiny_model_dir, *extra), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "reused" in again.stderr and time.time() - t0 < 30


@pytest.mark.slow
def test_external_judgments_stand_in_for_the_label_stage(tmp_path, tiny_model_dir, fake_downstream):
    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir, label={}, pair={})
    run_dir = tmp_path / "run"
    runner.build(recipe, run_dir, until_stage="sample", recipe_model=DownstreamRecipe)
    cands = pl.read_parquet(run_dir / "stages" / "sample" / "data.parquet")
    human = cands.select(
        pl.col("candidate_id").alias("judgment_id"), "prompt_id", "candidate_id", pl.lit("ann").alias("judge_id"),
        pl.lit("human").alias("judge_type"), pl.col("sample_index").cast(pl.Float64).alias("score"),
    )
    human.write_parquet(tmp_path / "pulled.parquet")
    m = runner.build(recipe, run_dir, external={"judgments": tmp_path / "pulled.parquet"}, recipe_model=DownstreamRecipe)
    assert skipped(m) == {"prompts": True, "sample": True, "label": True, "pair": False}
    assert RUNS["label"] == 0 and json.loads(m.stages[2].stats)["external"].endswith("pulled.parquet")
    pairs = pl.read_parquet(run_dir / "stages" / "pair" / "data.parquet")
    assert pairs["margin"].to_list() == [1.0] * 4  # k=2: sample_index scores 0 and 1

    human.drop("judge_type").write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(PrefdataError, match=r"missing column\(s\) \['judge_type'\] of Judgment"):
        runner.build(recipe, run_dir, external={"judgments": tmp_path / "bad.parquet"}, recipe_model=DownstreamRecipe)
    with pytest.raises(PrefdataError, match="no stage of this recipe produces it"):
        runner.build(recipe, run_dir, external={"dataset": tmp_path / "pulled.parquet"}, recipe_model=DownstreamRecipe)


def test_two_builds_on_one_run_dir_are_refused(tmp_path, tiny_model_dir):
    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir)
    (tmp_path / "run").mkdir()
    with RunDir(tmp_path / "run").lock():
        with pytest.raises(PrefdataError, match="another `prefdata build` is running on this directory"):
            runner.build(recipe, tmp_path / "run")


def test_label_source_argilla_continues_from_the_pulled_human_labels(tmp_path, tiny_model_dir):
    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir, label={"source": "argilla"},
                          pair={"strategy": "best_vs_worst"})
    run_dir = tmp_path / "run"
    runner.build(recipe, run_dir, until_stage="sample")
    with pytest.raises(PrefdataError, match="no human labels yet.*prefdata argilla pull"):
        runner.build(recipe, run_dir)
    cands = pl.read_parquet(run_dir / "stages" / "sample" / "data.parquet")
    human = cands.select(  # what `prefdata argilla pull` writes: one row per annotator and candidate
        pl.col("candidate_id").alias("judgment_id"), "prompt_id", "candidate_id",
        pl.lit("argilla:round-1").alias("judge_id"), pl.lit("human").alias("judge_type"),
        pl.col("sample_index").cast(pl.Float64).alias("score"), pl.lit("alice").alias("annotator"),
    )
    orphan = human.head(1).with_columns(pl.lit("gone").alias("judgment_id"), pl.lit("resampled:0:9").alias("candidate_id"))
    (run_dir / "human").mkdir()
    pl.concat([human, orphan]).write_parquet(run_dir / "human" / "judgments.parquet")
    m = runner.build(recipe, run_dir)
    label = m.stages[2]  # the label of a candidate no longer in the run is a counted reject
    assert (label.rows_in, label.rows_kept, label.dropped) == (human.height + 1, human.height, {"orphan_judgment": 1})
    # the label stage ran in its argilla mode: it read the pulled labels (its declared input)
    assert skipped(m) == {"prompts": True, "sample": True, "label": False, "pair": False}
    assert json.loads(m.stages[2].stats)["source"] == "argilla"
    assert skipped(runner.build(recipe, run_dir))["label"]  # same labels: reused
    pairs = pl.read_parquet(run_dir / "stages" / "pair" / "data.parquet")
    assert pairs.height == 4 and pairs["label_source"].unique().to_list() == ["argilla:round-1"]
    assert (pairs["chosen_id"].str.ends_with(":1") & pairs["rejected_id"].str.ends_with(":0")).all()


def test_label_source_and_judges_are_exclusive():
    from prefdata.stages.label import LabelConfig

    with pytest.raises(ValueError, match="give at least one judge, or `source: argilla`"):
        LabelConfig.model_validate({})
    with pytest.raises(ValueError, match="remove `judges`"):
        LabelConfig.model_validate({"source": "argilla", "judges": [{"type": "programmatic", "id": "a", "name": "json_valid"}]})


def test_relative_model_and_judge_paths_resolve_against_the_recipe(tmp_path, tiny_model_dir):
    from prefdata.recipe import load_recipe

    (tmp_path / "rm").mkdir()
    (tmp_path / "judge.jinja").write_text("{{ prompt }} {{ response }}")
    recipe_file = write_recipe(tmp_path / "t.yaml", tiny_model_dir, label={"judges": [
        {"type": "reward_model", "id": "rm", "path": "rm"},
        {"type": "llm", "id": "j", "mode": "pointwise", "template": "judge.jinja",
         "sampler": {"backend": "transformers", "model": str(tiny_model_dir)}},
    ]})
    recipe = load_recipe(recipe_file)  # the configs' own path fields resolve against the recipe
    rm, llm = recipe.label.judges
    assert rm.path == str((tmp_path / "rm").resolve())
    assert llm.template == str((tmp_path / "judge.jinja").resolve())
    assert recipe.prompts.path == str((tmp_path / "prompts.jsonl").resolve())


def test_a_prompts_stage_that_keeps_nothing_stops_the_build_with_the_reasons(tmp_path, tiny_model_dir):
    recipe = write_recipe(tmp_path / "t.yaml", tiny_model_dir)
    (tmp_path / "prompts.jsonl").write_text('{"question": "wrong column"}\n{"question": "again"}\n')
    with pytest.raises(PrefdataError, match=r"stage prompts kept none of its 2 rows \(\w+: 2\)"):
        runner.build(recipe, tmp_path / "run")
    assert not (tmp_path / "run" / "stages" / "sample").exists()


@pytest.mark.slow
def test_a_small_vllm_build_prints_at_most_40_lines_and_logs_the_engine(tmp_path, tiny_model_dir, tiny_reward_model_dir):
    recipe = REPO / "pipelines" / "label_rm_programmatic.yaml"
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "build", str(recipe), "--out", str(run_dir),
                           "--set", f"sample.models.0.model={tiny_model_dir}",
                           "--set", f"label.judges.1.path={tiny_reward_model_dir}"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    text = "\n".join(lines)
    assert "INFO" not in text and "WARNING" not in text  # vLLM's own lines went to the log files
    assert "step" in text and "filter:" in text and "export" in text  # the funnel table
    sample_log = (run_dir / "logs" / "sample.log").read_text()
    assert "EngineCore" in sample_log or "vllm" in sample_log.lower()
