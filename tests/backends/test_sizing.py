"""The CPU engine sizing rule (prefdata/backends/sizing.py), without an engine."""

from __future__ import annotations

import pytest

from prefdata.backends.sizing import CPU_MAX_NUM_SEQS, CPU_STEP_TOKENS, EngineNeeds, cpu_engine_settings
from prefdata.errors import PrefdataError

SMOLLM2_CONTEXT = 8192


def test_the_context_is_what_the_stage_needs_rounded_up_not_the_models_maximum():
    needs = EngineNeeds(prompt_tokens=180, max_tokens=512, sequences=32, prompt_id="p1")
    s = cpu_engine_settings({}, SMOLLM2_CONTEXT, needs)
    assert s.args["max_model_len"] == 768  # 692 rounded up to 256s
    assert s.args["enable_chunked_prefill"] is False
    assert s.args["max_num_batched_tokens"] == CPU_STEP_TOKENS and s.args["max_num_seqs"] == CPU_MAX_NUM_SEQS
    assert "180 tokens + max_tokens 512 = 692" in s.reasons["max_model_len"]
    # the warm-up pass is one step of max_num_batched_tokens: ~1/256 of the old 64 x 8192 rule
    assert s.args["max_num_batched_tokens"] * 256 == 64 * SMOLLM2_CONTEXT
    assert "max_model_len=768 (longest prompt" in s.describe()


def test_a_step_always_holds_one_whole_prompt():
    s = cpu_engine_settings({}, 32768, EngineNeeds(prompt_tokens=3000, max_tokens=2000))
    assert s.args["max_model_len"] == 5120 and s.args["max_num_batched_tokens"] == 5120


def test_recipe_settings_win_and_are_checked():
    s = cpu_engine_settings({"max_model_len": 256, "max_num_seqs": 32}, 512, EngineNeeds(10, 32))
    assert s.args["max_model_len"] == 256 and s.args["max_num_seqs"] == 32
    assert s.reasons["max_model_len"] == "set in the recipe"
    with pytest.raises(PrefdataError, match=r"max_num_batched_tokens \(100\) must be >= max_model_len \(256\)"):
        cpu_engine_settings({"max_model_len": 256, "max_num_batched_tokens": 100}, 512, None)


def test_never_more_than_the_model_allows():
    s = cpu_engine_settings({}, 512, EngineNeeds(prompt_tokens=100, max_tokens=300))
    assert s.args["max_model_len"] == 512  # 400 -> 512 by rounding, and the model allows 512
    assert cpu_engine_settings({}, 4096, None).args["max_model_len"] == 2048  # nothing known: capped


def test_a_prompt_and_answer_beyond_the_context_is_one_line_naming_the_prompt():
    with pytest.raises(PrefdataError) as e:
        cpu_engine_settings({}, 8192, EngineNeeds(prompt_tokens=8000, max_tokens=512, prompt_id="p-7"))
    assert "prompt p-7 has 8000 tokens" in str(e.value) and "8512 > max_model_len 8192" in str(e.value)
    assert "\n" not in str(e.value)


def test_needs_merge_keeps_the_longest_prompt_and_answer():
    merged = EngineNeeds(100, 64, 8, "a").merge(EngineNeeds(50, 512, 4, "b"))
    assert (merged.prompt_tokens, merged.max_tokens, merged.sequences, merged.prompt_id) == (100, 512, 12, "a")
