"""The label stage called as the runner calls it: a programmatic judge + a real tiny reward
model on the shipped math set, aggregation, agreement, accounting, and the report.

    python -m pytest -q tests/stages/test_label.py
"""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from prefdata.backends.base import Generation, Sampler
from prefdata.pipelines import PIPELINE_DIR
from prefdata.records import Candidate, Judgment, PromptRecord
from prefdata.stages.base import StageContext
from prefdata.stages.label import LabelConfig, LabelStage
from prefdata.frames import frame, polars_schema

MATH = [json.loads(line) for line in (PIPELINE_DIR / "data" / "math_prompts.jsonl").read_text().splitlines()]


def tables(n_prompts: int = 6, orphan: bool = True):
    prompts, cands = [], []
    for i, row in enumerate(MATH[:n_prompts]):
        pid = f"m{i}"
        prompts.append(PromptRecord(prompt_id=pid, prompt=[{"role": "user", "content": row["prompt"]}],
                                    source="math_prompts.jsonl", source_row=i + 1, reference=row["reference"]))
        texts = [f"The answer is {row['reference']}.", "The answer is 7777.", "I don't know."]
        for k, text in enumerate(texts):
            cands.append(Candidate(candidate_id=f"{pid}:0:{k}", prompt_id=pid, text=text, model="m", backend="imported"))
    if orphan:
        cands.append(Candidate(candidate_id="ghost:0:0", prompt_id="ghost", text="42", model="m", backend="imported"))
    return frame(prompts, PromptRecord), frame(cands, Candidate)


def ctx(tmp_path) -> StageContext:
    (tmp_path / "stage").mkdir(exist_ok=True)
    return StageContext(run_dir=tmp_path, stage_dir=tmp_path / "stage")


def run(config: dict, tmp_path, **kw):
    prompts, cands = tables(**kw)
    out = LabelStage(LabelConfig.model_validate(config)).run({"prompts": prompts, "candidates": cands}, ctx(tmp_path))
    return cands, out


@pytest.mark.parametrize("combine", ["mean", "majority", "rank"])
def test_programmatic_and_reward_model(tmp_path, tiny_reward_model_dir, combine):
    config = {"judges": [
        {"type": "programmatic", "id": "math", "name": "numeric_match"},
        {"type": "reward_model", "id": "rm", "path": str(tiny_reward_model_dir), "batch_size": 4},
    ], "combine": combine}
    cands, out = run(config, tmp_path)
    data = out.frame()
    # Accounting: every candidate with a known prompt kept; the orphan is the one reject.
    assert out.rows_in == cands.height == 19 and out.rows_kept == 18
    assert out.rejects["reason"].to_list() == ["unknown_prompt"] and out.rejects["row_id"][0] == "ghost:0:0"
    assert dict(data.schema) == polars_schema(Judgment)
    for row in data.iter_rows(named=True):
        Judgment.model_validate(row)
    # One row per judge and candidate, plus the aggregate with ranks.
    assert data.group_by("judge_id").len().sort("judge_id").rows() == [("aggregate", 18), ("math", 18), ("rm", 18)]
    math_rows = data.filter(pl.col("judge_id") == "math").sort("candidate_id")
    assert math_rows["score"].to_list() == [1.0, 0.0, 0.0] * 6
    rm_rows = data.filter(pl.col("judge_id") == "rm")
    assert rm_rows["model"].unique().to_list() == [str(tiny_reward_model_dir)]
    assert rm_rows["raw_output"].null_count() == 0 and (rm_rows["parse_status"] == "ok").all()
    agg = data.filter(pl.col("judge_type") == "aggregate")
    assert agg["score"].null_count() == 0 and agg["rank"].min() == 1
    assert json.loads(agg["raw_output"][0])["combine"] == combine
    # The report.
    s = out.stats
    assert s["score_judge_id"] == "aggregate" and s["candidates"] == 18 and s["prompts"] == 6
    assert s["parse_failure_rate"] == 0.0 and s["swap_consistency_rate"] is None
    assert s["judges"]["math"]["labelled"] == 18 and s["judges"]["rm"]["parse_failure_rate"] == 0.0
    pair = s["agreement"]["pairs"]["math|rm"]
    assert pair["n_pairs"] == 18  # 3 derived pairs in each of 6 prompts
    assert 0.0 <= pair["agreement"] <= 1.0 and -1.0 <= pair["cohen_kappa"] <= 1.0
    json.dumps(s)  # the runner writes it to the manifest


def test_single_judge_missing_labels_are_kept_with_reasons(tmp_path):
    prompts, cands = tables(n_prompts=2, orphan=False)
    prompts = prompts.with_columns(pl.when(pl.col("prompt_id") == "m1").then(None).otherwise(pl.col("reference")).alias("reference"))
    stage = LabelStage(LabelConfig.model_validate({"judges": [{"type": "programmatic", "id": "exact", "name": "exact_match"}]}))
    out = stage.run({"prompts": prompts, "candidates": cands}, ctx(tmp_path))
    assert out.rows_in == out.rows_kept == 6 and out.rejects.height == 0
    assert out.frame().height == 6 and set(out.frame()["judge_id"]) == {"exact"}  # no aggregate for one judge
    missing = out.frame().filter(pl.col("score").is_null())
    assert missing["candidate_id"].to_list() == ["m1:0:0", "m1:0:1", "m1:0:2"]
    assert (missing["reason"].str.contains("no reference answer")).all()
    assert out.stats["unlabelled_candidates"] == 3 and out.stats["score_judge_id"] == "exact"
    assert out.stats["agreement"] is None


class BiasedSampler(Sampler):
    """Stands in for a judge model: prefers correct answers, but says [[A]] when unsure."""

    backend = "recorded"
    model_id = "recorded-judge"

    def generate(self, requests, params):
        def verdict(text):
            a = re.search(r"<response_a>\n(.*?)\n</response_a>", text, re.DOTALL).group(1)
            b = re.search(r"<response_b>\n(.*?)\n</response_b>", text, re.DOTALL).group(1)
            def correct(x):
                return "7777" not in x and "know" not in x
            return "[[A]]" if correct(a) else "[[B]]" if correct(b) else "[[A]]"
        return [[Generation(verdict(r.messages[-1]["content"]), 3, "stop")] for r in requests]


def test_pairwise_judge_report_through_the_stage(tmp_path, monkeypatch):
    monkeypatch.setattr("prefdata.backends.make_sampler", lambda config: BiasedSampler())
    config = {"judges": [
        {"type": "programmatic", "id": "math", "name": "numeric_match"},
        {"type": "llm", "id": "duel", "mode": "pairwise", "sampler": {"backend": "openai", "model": "j"}},
    ], "combine": "rank"}
    cands, out = run(config, tmp_path, n_prompts=3, orphan=False)
    duel = out.frame().filter(pl.col("judge_id") == "duel")
    assert duel.height == 9 and duel["opponent_id"].null_count() == 9  # one row per candidate
    assert duel.sort("candidate_id")["score"].to_list() == [1.0, 0.25, 0.25] * 3
    s = out.stats
    # Per prompt: correct-vs-wrong pairs are consistent (2), wrong-vs-wrong flips with the order (1).
    assert s["swap_consistency_rate"] == pytest.approx(2 / 3)
    assert s["judges"]["duel"]["swap_inconsistent_pairs"] == 3 and s["judges"]["duel"]["pairs"] == 9
    evidence = pl.read_parquet(s["pairwise_judgments"]["file"])
    assert evidence.height == 18 and evidence["opponent_id"].null_count() == 0
    assert evidence.filter(~pl.col("swap_consistent"))["score"].unique().to_list() == [0.5]
    assert s["agreement"]["pairs"]["math|duel"]["agreement"] == 1.0
    assert s["agreement"]["pairs"]["math|duel"]["cohen_kappa"] == 1.0


def test_fingerprint_follows_template_content(tmp_path):
    template = tmp_path / "t.jinja"
    template.write_text("{{ response }}")
    config = LabelConfig.model_validate({"judges": [
        {"type": "llm", "id": "j", "template": str(template), "aspects": ["a"], "sampler": {"backend": "openai", "model": "j"}}]})
    before = LabelStage(config).fingerprint()
    template.write_text("Rate: {{ response }}")
    assert LabelStage(config).fingerprint() != before


RECIPE = PIPELINE_DIR / "label_rm_programmatic.yaml"


def test_shipped_recipe_validates():
    from prefdata.recipe import load_recipe

    recipe = load_recipe(RECIPE)
    assert recipe.stages() == ["prompts", "sample", "label", "pair", "filter", "export"]
    assert [j.type for j in recipe.label.judges] == ["programmatic", "reward_model"]
    assert RECIPE.read_text().startswith("# prefdata build pipelines/label_rm_programmatic.yaml")


@pytest.mark.slow
def test_shipped_recipe_end_to_end(tmp_path, tiny_model_dir, tiny_reward_model_dir):
    """Acceptance: sample with vLLM on CPU, label with a programmatic judge and a reward
    model, judgments with provenance, and the report in the run manifest."""
    from prefdata import runner

    overrides = [f"sample.models.0.model={tiny_model_dir}", f"label.judges.1.path={tiny_reward_model_dir}",
                 "prompts.limit=5", "sample.k=3"]
    manifest = runner.build(RECIPE, tmp_path / "run", overrides)
    label = next(s for s in manifest.stages if s.name == "label")
    assert label.rows_in == label.rows_kept == 15 and label.dropped == {}
    stats = json.loads(label.stats)
    for key in ("parse_failure_rate", "swap_consistency_rate", "agreement", "judges"):
        assert key in stats
    assert stats["parse_failure_rate"] == 0.0 and stats["agreement"]["pairs"]["math|rm"]["n_pairs"] == 15
    judgments = pl.read_parquet(tmp_path / "run" / "stages" / "label" / "data.parquet")
    cands = pl.read_parquet(tmp_path / "run" / "stages" / "sample" / "data.parquet")
    assert set(judgments["candidate_id"]) == set(cands["candidate_id"])
    assert set(cands["backend"]) == {"vllm"}
    rm = judgments.filter(pl.col("judge_id") == "rm")
    assert rm.height == 15 and rm["model"].unique().to_list() == [str(tiny_reward_model_dir)]
    assert rm["raw_output"].null_count() == 0 and (rm["parse_status"] == "ok").all()
    math_rows = judgments.filter(pl.col("judge_id") == "math")
    assert math_rows["model"].unique().to_list() == ["builtin:numeric_match"]
    assert set(math_rows["score"].to_list()) <= {0.0, 1.0}
    assert judgments.filter(pl.col("judge_type") == "aggregate")["rank"].null_count() == 0


def test_aggregate_judges_leaves_reference_judges_out_of_the_combination(tmp_path):
    # `exact` audits the other two; the aggregate must follow `len` alone.
    config = {"judges": [
        {"type": "programmatic", "id": "exact", "name": "numeric_match"},
        {"type": "programmatic", "id": "len", "name": "length", "params": {"prefer": "longer"}},
    ], "combine": "rank", "aggregate_judges": ["len"]}
    _, out = run(config, tmp_path, orphan=False)
    data = out.frame()
    agg = data.filter(pl.col("judge_type") == "aggregate")
    lengths = data.filter(pl.col("judge_id") == "len").select("candidate_id", "score")
    joined = agg.join(lengths, on="candidate_id", suffix="_len")
    for _, group in joined.group_by("prompt_id"):
        best = group.sort("score_len", descending=True)["candidate_id"][0]
        assert group.filter(pl.col("rank") == 1)["candidate_id"].to_list() == [best]


def test_aggregate_judges_must_name_known_judges():
    with pytest.raises(ValueError, match="aggregate_judges name unknown judges"):
        LabelConfig.model_validate({"judges": [{"type": "programmatic", "id": "a", "name": "json_valid"},
                                               {"type": "programmatic", "id": "b", "name": "json_valid"}],
                                    "aggregate_judges": ["c"]})


@pytest.fixture
def flaky_checks(tmp_path, monkeypatch) -> str:
    """A user check module: `broken` raises on every answer, `picky` only on "I don't know."."""
    (tmp_path / "flaky_checks_mod.py").write_text(
        "def broken(prompt, response, reference):\n    raise KeyError('score_field')\n\n"
        "def picky(prompt, response, reference):\n"
        "    if 'know' in response:\n        raise ValueError('cannot grade a non-answer')\n"
        "    return float(reference in response)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "flaky_checks_mod"


def test_a_judge_that_fails_on_most_candidates_fails_the_stage_naming_it(tmp_path, flaky_checks):
    from prefdata.errors import PrefdataError

    judges = [{"type": "programmatic", "id": "exact", "name": "exact_match"},
              {"type": "programmatic", "id": "mine", "function": f"{flaky_checks}:broken"}]
    with pytest.raises(PrefdataError) as e:
        run({"judges": judges}, tmp_path)
    message = str(e.value)
    assert "label.max_error_rate=0.5" in message and "judge mine: 18 of 18 candidates have no label (error: 18)" in message
    assert "raised KeyError" in message and "judge exact" not in message
    (tmp_path / "tolerant").mkdir()
    _, out = run({"judges": judges, "max_error_rate": 1.0}, tmp_path / "tolerant")  # the user's call
    assert out.stats["judges"]["mine"]["error_rate"] == 1.0


def test_a_judge_that_failed_too_often_is_judged_again_by_a_rerun_of_the_same_key(tmp_path, monkeypatch):
    from prefdata.errors import PrefdataError

    (tmp_path / "remote_check.py").write_text(
        "import os\n\ndef check(prompt, response, reference):\n"
        "    if os.environ.get('CHECK_SERVER_DOWN'):\n        raise ConnectionError('check server down')\n"
        "    return float(reference in response)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    stage = LabelStage(LabelConfig.model_validate({"judges": [
        {"type": "programmatic", "id": "exact", "name": "exact_match"},
        {"type": "programmatic", "id": "remote", "function": "remote_check:check"}]}))
    prompts, cands = tables()
    context = ctx(tmp_path)
    context.key = "same stage key"
    monkeypatch.setenv("CHECK_SERVER_DOWN", "1")
    with pytest.raises(PrefdataError, match="judge remote: 18 of 18 candidates have no label"):
        stage.run({"prompts": prompts, "candidates": cands}, context)
    monkeypatch.delenv("CHECK_SERVER_DOWN")
    out = stage.run({"prompts": prompts, "candidates": cands}, context)
    assert out.stats["judges"]["remote"]["error_rate"] == 0.0
    assert out.stats["partitions_resumed"] == 1  # judge exact was kept; judge remote ran again


def test_missing_labels_below_the_limit_are_a_warning_quoting_the_reasons(tmp_path, flaky_checks):
    config = {"judges": [{"type": "programmatic", "id": "mine", "function": f"{flaky_checks}:picky"}]}
    _, out = run(config, tmp_path)
    stats = out.stats["judges"]["mine"]
    assert stats["error_rate"] == pytest.approx(1 / 3) and stats["missing_rate"] == pytest.approx(1 / 3)
    [warning] = LabelStage(LabelConfig.model_validate(config)).warnings(out)
    assert warning.startswith("judge mine: 6 of 18 candidates have no label (error: 6); commonest reasons: ")
    assert "cannot grade a non-answer" in warning and "x6" in warning


def test_an_llm_judge_moved_to_ray_keeps_only_the_sampler_settings_the_user_set(tiny_model_dir, monkeypatch):
    # Copying the sampler's defaults as if set once gave the judge's Ray replicas 90% of a CPU
    # node's RAM for their KV cache, and they failed to start.
    pytest.importorskip("vllm")
    from prefdata.backends.vllm import as_vllm_config, engine_args
    from prefdata.stages.label import on_ray

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    config = LabelConfig.model_validate({"judges": [{"type": "llm", "id": "uf", "sampler": {
        "backend": "vllm", "model": str(tiny_model_dir), "max_model_len": 256}}]}).judges[0]
    moved = on_ray(config).sampler
    assert moved.backend == "ray" and moved.model_fields_set == {"model", "max_model_len"}
    assert engine_args(as_vllm_config(moved)) == engine_args(config.sampler)
