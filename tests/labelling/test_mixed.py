"""Mixed labels: the annotators' ranking where a prompt was answered, the judges' labels elsewhere.

    python -m pytest -q tests/labelling/test_mixed.py

The mixing on hand-made frames, then whole builds (programmatic judge, candidates given as
an artifact) before and after human answers appear in RUN_DIR/human/judgments.parquet.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.atomic import write_parquet
from prefdata.frames import frame
from prefdata.labelling.mixed import human_scores, mix
from prefdata.records import Candidate, Judgment
from prefdata.rundir import RunDir
from prefdata.runner import build
from prefdata.stages.label import LabelConfig

from addition_runs import addition_run

# Judge scores per prompt (candidates c0, c1, c2). p0: humans agree with the judges' pair;
# p1: humans order the judges' pair the other way; p2: not answered.
JUDGE = {"p0": [3.0, 1.0, 2.0], "p1": [5.0, 0.0, 1.0], "p2": [2.0, 4.0, 1.0]}
HUMAN = {"p0": [1.0, 0.0, 0.5], "p1": [0.0, 1.0, 0.5]}


def judge_rows() -> pl.DataFrame:
    return frame([Judgment(judgment_id=f"rm:{p}:{i}", prompt_id=p, candidate_id=f"{p}:0:{i}", judge_id="rm",
                           judge_type="reward_model", score=s)
                  for p, scores in JUDGE.items() for i, s in enumerate(scores)], Judgment)


def human_rows(answers: dict[str, list[float]], annotators=("ann",)) -> pl.DataFrame:
    return frame([Judgment(judgment_id=f"argilla:d:{a}:{p}:0:{i}", prompt_id=p, candidate_id=f"{p}:0:{i}",
                           judge_id="argilla:d", judge_type="human", score=s, annotator=a)
                  for a in annotators for p, scores in answers.items() for i, s in enumerate(scores)], Judgment)


def candidates() -> pl.LazyFrame:
    return frame([Candidate(candidate_id=f"{p}:0:{i}", prompt_id=p, text=f"answer {i}", model="m", backend="imported")
                  for p in JUDGE for i in range(3)], Candidate).lazy()


def test_answered_prompts_take_the_human_ranking_on_the_judges_scale():
    human, orphans = human_scores(human_rows(HUMAN), candidates())
    rows, contradictions, stats = mix(judge_rows().lazy(), human, "rm", "mixed")
    rows = rows.collect().sort("candidate_id")
    for row in rows.iter_rows(named=True):
        Judgment.model_validate(row)
    score = dict(zip(rows["candidate_id"], rows["score"]))
    # The judge's range over the run is [0, 5]: a human score h becomes 5 h.
    assert [score[f"p0:0:{i}"] for i in range(3)] == [5.0, 0.0, 2.5]
    assert [score[f"p1:0:{i}"] for i in range(3)] == [0.0, 5.0, 2.5]
    assert [score[f"p2:0:{i}"] for i in range(3)] == JUDGE["p2"]  # not answered: the judge's own scores
    assert dict(zip(rows["candidate_id"], rows["provenance"]))["p2:0:0"] == "judges"
    assert set(rows.filter(pl.col("prompt_id") != "p2")["provenance"]) == {"human"}
    assert rows["judge_type"].unique().to_list() == ["mixed"] and orphans == 0
    assert json.loads(rows["raw_output"][0]) == {"judges": 3.0, "human": 1.0}
    # p1's judges' pair (c0 > c1) is ordered the other way by the annotators.
    assert contradictions["prompt_id"].to_list() == ["p1"]
    assert contradictions.row(0, named=True)["judges_chosen"] == "p1:0:0"
    assert stats["prompts_human"] == 2 and stats["prompts_judges"] == 1 and stats["contradictions"] == 1


def test_several_annotators_are_averaged_and_a_lone_scored_candidate_does_not_make_a_human_prompt():
    two = pl.concat([human_rows({"p0": [1.0, 0.0, 0.0]}, ("a",)), human_rows({"p0": [0.0, 0.0, 1.0]}, ("b",)),
                     human_rows({"p2": [1.0]}, ("a",)),
                     human_rows({"gone": [1.0]}, ("a",)).with_columns(pl.lit("gone:0:0").alias("candidate_id"))])
    human, orphans = human_scores(two, candidates())
    rows, _, stats = mix(judge_rows().lazy(), human, "rm", "mixed")
    score = dict(rows.select("candidate_id", "score").collect().iter_rows())
    assert [score[f"p0:0:{i}"] for i in range(3)] == [2.5, 0.0, 2.5]  # mean of a and b, on the judge's scale
    assert score["p2:0:0"] == 2.0 and stats["prompts_human"] == 1  # one scored candidate: judges decide p2
    assert orphans == 1  # the answer about a candidate the run no longer has


def test_a_candidate_the_annotators_left_unscored_has_no_score_with_a_reason():
    human, _ = human_scores(human_rows({"p0": [1.0, 0.0]}), candidates())
    rows = mix(judge_rows().lazy(), human, "rm", "mixed")[0].collect()
    left = rows.filter(pl.col("candidate_id") == "p0:0:2").row(0, named=True)
    assert left["score"] is None and left["parse_status"] == "invalid_score" and "unscored" in left["reason"]


def test_config_refusals():
    with pytest.raises(ValueError, match="give at least one judge"):
        LabelConfig(source="mixed")
    with pytest.raises(ValueError, match="mixed_id 'rm'"):
        LabelConfig(source="mixed", mixed_id="rm", judges=[{"type": "programmatic", "id": "rm", "name": "exact_match"}])


# ----------------------------------------------------------------------------- whole builds
RECIPE = """
name: mixed
seed: 0
prompts: {{path: {prompts}, prompt_column: prompt, reference_column: reference}}
sample:
  k: 3
  models: [{{backend: vllm, model: {model}}}]  # never runs: candidates are given
label:
  source: mixed
  judges: [{{type: programmatic, id: rm, function: "prefdata.demo.task:noisy_reward"}}]
pair: {{strategy: best_vs_worst}}
filter: {{steps: [{{type: quality}}]}}
export: {{format: conversational, plots: false}}
"""


@pytest.fixture
def mixed_run(tmp_path, tiny_model_dir):
    problems = [(a, b) for a in range(3, 9) for b in range(2, 4)]  # 12 prompts
    return addition_run(tmp_path, RECIPE, tiny_model_dir, problems, lambda ref: [ref, str(int(ref) + 1),
                                                                                   str(int(ref) + 2)])


def _answer(run_dir, ids: pl.DataFrame, n: int) -> dict[str, list[float]]:
    """The exact check as the annotator on the first n prompts: the right answer first."""
    answers = {pid: [1.0, 0.0, 0.5] for pid in ids["prompt_id"].sort().head(n)}
    write_parquet(human_rows(answers), RunDir(run_dir).human_judgments)
    return answers


def _stage(run_dir, name: str) -> dict:
    return json.loads(RunDir(run_dir).stage(name).manifest().stats)


def test_a_mixed_build_counts_provenance_and_reruns_only_what_the_answers_change(mixed_run):
    recipe, run_dir, cands, ids = mixed_run
    build(recipe, run_dir, external={"candidates": cands})
    assert _stage(run_dir, "pair")["provenance"] == {"human": 0, "judges": 12, "both": 0}  # nothing pulled yet

    _answer(run_dir, ids, 4)
    manifest = build(recipe, run_dir, external={"candidates": cands})
    skipped = {s.name: s.skipped for s in manifest.stages}
    assert skipped["prompts"] and not skipped["label"] and not skipped["pair"]
    label = _stage(run_dir, "label")["mixed"]
    assert label["prompts_human"] == 4 and label["prompts_judges"] == 8
    pairs = pl.read_parquet(RunDir(run_dir).stage("pair").data)
    human = pairs.filter(pl.col("provenance") != "judges")
    assert human.height == 4 and (human["chosen_id"].str.ends_with(":0")).all()  # the right answer wins
    assert (human["rejected_id"].str.ends_with(":1")).all()  # the annotators' worst, not the judge's
    by = _stage(run_dir, "pair")["provenance"]
    assert by["judges"] == 8 and by["human"] + by["both"] == 4
    # The judges' pairs the annotators overruled are the contradictions, listed with their prompt.
    judge = pl.read_parquet(RunDir(run_dir).stage("label").data).filter(pl.col("judge_id") == "rm")
    ends = (judge.sort(["score", "candidate_id"], descending=[True, False]).group_by("prompt_id", maintain_order=True)
            .agg(pl.col("candidate_id").first().alias("best"), pl.col("candidate_id").last().alias("worst")))
    said = {"0": 1.0, "1": 0.0, "2": 0.5}  # _answer's ranking by the candidate's last digit
    overruled = sorted(p for p, best, worst in ends.iter_rows() if p in set(human["prompt_id"])
                       and said[best[-1]] < said[worst[-1]])
    assert label["contradictions"] == len(overruled) and label["contradiction_examples"] == overruled
    listed = pl.read_parquet(label["contradictions_file"]) if overruled else None
    assert overruled == (sorted(listed["prompt_id"]) if overruled else [])
    card = (RunDir(run_dir).dataset / "README.md").read_text()
    assert "## Label provenance" in card and f"| judges (`judges`) | {by['judges']} |" in card
    stats = json.loads((RunDir(run_dir).dataset / "stats.json").read_text())
    export = [s for s in stats["funnel"] if s["name"] == "export"][0]
    assert sum(export["provenance"].values()) == export["rows_kept"]

    _answer(run_dir, ids, 6)  # more answers: the label stage and those after it re-run, nothing before
    manifest = build(recipe, run_dir, external={"candidates": cands})
    skipped = {s.name: s.skipped for s in manifest.stages}
    assert skipped["prompts"] and not skipped["label"]
    assert _stage(run_dir, "label")["mixed"]["prompts_human"] == 6


def test_partitioned_labels_mix_the_same(mixed_run, tmp_path):
    recipe, run_dir, cands, ids = mixed_run
    _answer(run_dir, ids, 5)
    build(recipe, run_dir, external={"candidates": cands})
    other = tmp_path / "partitioned"
    build(recipe, other, ["label.partition_prompts=5", "pair.partition_prompts=5"], until_stage="prompts")
    (other / "human").mkdir()
    (other / "human" / "judgments.parquet").write_bytes(RunDir(run_dir).human_judgments.read_bytes())
    build(recipe, other, ["label.partition_prompts=5", "pair.partition_prompts=5"], external={"candidates": cands})
    for stage in ("label", "pair"):
        key = ["judge_id", "candidate_id"] if stage == "label" else ["pair_id"]
        a, b = (pl.read_parquet(RunDir(r).stage(stage).data).sort(key) for r in (run_dir, other))
        assert a.equals(b), stage
    assert _stage(other, "label")["partitions"] == 3
    assert _stage(other, "pair")["provenance"] == _stage(run_dir, "pair")["provenance"]
