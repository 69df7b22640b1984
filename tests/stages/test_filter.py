"""Filter stage: ordered steps, per-step funnel, kept + dropped = input at every step.

    python -m pytest -q tests/stages/test_filter.py
"""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefdata.filters.dedup import DedupFilterConfig
from prefdata.filters.gap import GapFilterConfig
from prefdata.filters.length import LengthFilterConfig
from prefdata.filters.quality import QualityFilterConfig
from prefdata.records import PairRecord
from prefdata.partition.filters import filter_partitions
from prefdata.stages.filter import FilterConfig, FilterStage
from prefdata.frames import frame

WORDS = st.sampled_from(["yes", "no", "the", "cat", "sat", "on", "mat", "Rome", "!", "", "  "])
TEXT = st.lists(WORDS, max_size=40).map(" ".join)


def pair(i: int, prompt: str, chosen: str, rejected: str, margin: float | None, finish: str | None) -> dict:
    return PairRecord(
        pair_id=f"x{i}", prompt_id=f"p{len(prompt) % 7}", prompt=[{"role": "user", "content": prompt or "?"}],
        chosen=chosen, rejected=rejected, chosen_id=f"c{i}", rejected_id=f"r{i}",
        chosen_score=margin if margin is not None else 0.0, rejected_score=0.0,
        margin=margin if margin is not None else 0.0, label_source="rm", strategy="s",
        chosen_finish_reason=finish).model_dump()


ALL_STEPS = FilterConfig(steps=[
    GapFilterConfig(min_margin=0.5, min_agreement=0.5), QualityFilterConfig(repetition_min_words=4),
    LengthFilterConfig(max_ratio=1.5, symmetric=True), DedupFilterConfig(threshold=0.5, ngram=2)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(TEXT, TEXT, TEXT, st.sampled_from([None, 0.1, 0.5, 2.0]),
                               st.sampled_from([None, "stop", "length"])), max_size=25))
def test_every_step_balances_on_random_pairs(rows):
    pairs = frame([pair(i, *row) for i, row in enumerate(rows)], PairRecord)
    out = filter_partitions(pairs, ALL_STEPS)
    assert out.rows_in == pairs.height == out.rows_kept + out.rejects.height
    previous = pairs.height
    for step in out.stats["funnel"]:
        assert step["rows_in"] == previous == step["rows_kept"] + sum(step["dropped"].values())
        previous = step["rows_kept"]
    assert set(out.data["pair_id"]).isdisjoint(out.rejects["row_id"])
    assert sorted(out.data["pair_id"].to_list() + out.rejects["row_id"].to_list()) == sorted(pairs["pair_id"])
    assert out.data.columns == pairs.columns


def test_filter_stage_funnel_and_reasons():
    pairs = frame([pair(0, "a", "good answer", "bad answer", 0.1, "stop"),
                   pair(1, "b", "", "bad answer", 2.0, "stop"),
                   pair(2, "c", "good answer", "bad answers", 2.0, "stop"),
                   pair(3, "c", "fine answer", "worse answer", 2.0, "stop")], PairRecord)
    config = FilterConfig(steps=[GapFilterConfig(min_margin=0.5), QualityFilterConfig(), DedupFilterConfig()])
    out = filter_partitions(pairs, config)
    funnel = out.stats["funnel"]
    assert [f["rows_in"] for f in funnel] == [4, 3, 2] and funnel[-1]["rows_kept"] == out.rows_kept == 2
    assert out.stats["dropped"] == {"low_margin": 1, "empty_chosen": 1}
    assert set(out.rejects["stage"]) == {"filter"}
    assert out.stats["length_gap_before"]["mean"] is not None


def test_default_config_and_empty_input():
    config = FilterConfig()
    assert [s.type for s in config.steps] == ["quality", "length", "dedup"]
    empty = frame([], PairRecord)
    out = filter_partitions(empty, config)
    assert out.rows_in == 0 and out.data.height == 0 and isinstance(out.rejects, pl.DataFrame)


def test_editing_an_eval_file_changes_the_filter_stage_fingerprint(tmp_path):
    # The runner skips a stage whose fingerprint and inputs are unchanged: the content of a
    # decontamination file must be part of it, not just its path.
    from prefdata.stages.filter import FilterConfig, FilterStage

    evals = tmp_path / "evals.jsonl"
    evals.write_text('{"prompt": "what is the capital of france"}\n')
    config = FilterConfig.model_validate({"steps": [{"type": "decontam", "eval_files": [str(evals)], "ngram": 3}]})
    before = FilterStage(config).fingerprint()
    evals.write_text('{"prompt": "name three primary colours please"}\n')
    after = FilterStage(config).fingerprint()
    assert before != after and before["config"] == after["config"]


def test_an_edited_filter_block_or_partition_module_changes_the_stage_key():
    """The filter stage's key covers its filter blocks and the partitioned runner, not only
    stages/filter.py; the pair stage's covers its logic and partition modules."""
    from prefdata.stages.pair import PairConfig, PairStage

    code = FilterStage(FilterConfig()).fingerprint()["code"]
    assert {"prefdata/filters/gap.py", "prefdata/filters/quality.py", "prefdata/filters/dedup.py",
            "prefdata/filters/minhash.py", "prefdata/filters/__init__.py", "prefdata/partition/filters.py",
            "prefdata/partition/files.py", "prefdata/partition/__init__.py", "prefdata/stages/filter.py"} <= set(code)
    pair = PairStage(PairConfig()).fingerprint()["code"]
    assert {"prefdata/pairing/build.py", "prefdata/pairing/blocks.py", "prefdata/partition/pairs.py"} <= set(pair)
