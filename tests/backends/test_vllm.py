"""The vllm backend on the real CPU engine and the tiny model (one engine for the session)."""

from __future__ import annotations

import pytest

from prefdata.backends import make_sampler
from prefdata.backends.base import Request, SamplingParams
from prefdata.backends.vllm import VLLMConfig, as_vllm_config, engine_args
from prefdata.errors import PrefdataError

MSGS = [[{"role": "user", "content": t}] for t in ("hello there", "what is 12 + 30?", "write a short story")]


@pytest.fixture(scope="module")
def sampler(vllm_config):
    return make_sampler(vllm_config)


@pytest.mark.slow
def test_same_seed_same_candidates_whatever_the_batch(sampler, vllm_config):
    params = SamplingParams(max_tokens=12)
    together = sampler.generate([Request(m, n=4, seed=1024 * i) for i, m in enumerate(MSGS)], params)
    alone = sampler.generate([Request(MSGS[2], n=4, seed=2048)], params)
    assert together[2] == alone[0]
    assert all(len(g) == 4 for g in together) and len({g.text for g in together[0]}) > 1
    assert sampler.generate([Request(MSGS[2], n=4, seed=1024 * 9)], params)[0] != alone[0]
    for g in together[0]:
        assert g.num_tokens <= 12 and (g.finish_reason == "stop" or g.num_tokens == 12)
    assert make_sampler(vllm_config).llm is sampler.llm  # engine cached per engine settings


@pytest.mark.slow
def test_prompts_whose_answer_would_not_fit_are_refused_before_the_engine_starts(sampler, tmp_path):
    from prefdata.records import PromptRecord
    from prefdata.stages.base import StageContext
    from prefdata.stages.prompts import prompt_id
    from prefdata.stages.sample import SampleConfig, SampleStage
    from prefdata.frames import frame

    limit = sampler.max_model_len
    assert limit == 256
    texts = ["short one", " ".join(["x"] * 400)]
    # A prompt that fits alone but leaves fewer than max_tokens for the answer: refused too,
    # since its answers could only come back cut at the context edge.
    words = 1
    while sampler.prompt_tokens([{"role": "user", "content": " ".join(["x"] * (words + 1))}]) < limit - 4:
        words += 1
    texts.append(" ".join(["x"] * words))
    msgs = [[{"role": "user", "content": t}] for t in texts]
    prompts = frame([PromptRecord(prompt_id=prompt_id(m), prompt=m, source="t", source_row=i + 1)
                     for i, m in enumerate(msgs)], PromptRecord)
    cfg = SampleConfig(k=2, sampling={"max_tokens": 32}, models=[sampler.config])
    out = SampleStage(cfg).run({"prompts": prompts}, StageContext(run_dir=tmp_path, stage_dir=tmp_path))
    assert out.rejects["reason"].to_list() == ["prompt_too_long", "prompt_too_long"]
    assert out.rejects["row"].to_list() == [2, 3] and out.rows_kept == 1
    near = out.rejects.filter(out.rejects["row"] == 3)["message"][0]
    assert "+ sampling.max_tokens 32 = " in near and f"> {limit}" in near
    assert out.stats["models"][f"0:{sampler.config.model}"]["engine"]["max_model_len"] == 256


def test_cpu_engine_runs_without_chunked_prefill_and_a_step_holds_a_whole_prompt(tiny_model_dir):
    pytest.importorskip("vllm")
    bad = VLLMConfig(model=str(tiny_model_dir), max_model_len=256, max_num_batched_tokens=200)
    with pytest.raises(PrefdataError, match=r"max_num_batched_tokens \(200\) must be >= max_model_len \(256\)"):
        engine_args(bad)
    good = engine_args(VLLMConfig(model=str(tiny_model_dir), max_model_len=128))
    assert good["enable_chunked_prefill"] is False and good["max_num_batched_tokens"] >= 128


def test_missing_model_fails_before_the_engine(tmp_path):
    with pytest.raises(PrefdataError, match="does not exist"):
        make_sampler({"backend": "vllm", "model": str(tmp_path / "nope")})


def test_cpu_engine_gets_a_fixed_kv_cache_not_a_share_of_ram(tiny_model_dir, monkeypatch):
    # vLLM's CPU default reserves 92% of RAM and refuses to start on a busy machine.
    pytest.importorskip("vllm")
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    args = engine_args(VLLMConfig(model=str(tiny_model_dir), max_model_len=128))
    assert args["kv_cache_memory_bytes"] == 2**30 and "gpu_memory_utilization" not in args
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    assert "kv_cache_memory_bytes" not in engine_args(VLLMConfig(model=str(tiny_model_dir), max_model_len=128))
    explicit = engine_args(VLLMConfig(model=str(tiny_model_dir), max_model_len=128, gpu_memory_utilization=0.3))
    assert explicit["gpu_memory_utilization"] == 0.3 and "kv_cache_memory_bytes" not in explicit


def test_a_ray_replica_gets_the_same_cpu_kv_cache_as_the_offline_engine(tiny_model_dir, monkeypatch):
    # The ray config extends the vLLM one; copying its defaults over as if the user had set them
    # once gave every CPU replica 90% of its node's RAM, and the replicas failed to start.
    pytest.importorskip("vllm")
    from prefdata.backends.ray import RayConfig

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    plain = as_vllm_config(RayConfig(model=str(tiny_model_dir), max_model_len=128))
    assert plain.model_fields_set == {"model", "max_model_len"}
    assert engine_args(plain) == engine_args(VLLMConfig(model=str(tiny_model_dir), max_model_len=128))
    chosen = as_vllm_config(RayConfig(model=str(tiny_model_dir), gpu_memory_utilization=0.3))
    assert engine_args(chosen)["gpu_memory_utilization"] == 0.3


@pytest.mark.slow
def test_an_engine_that_cannot_start_is_a_user_error(tiny_model_dir):
    # max_model_len beyond the model's 512 positions: vLLM refuses while building its config.
    with pytest.raises(PrefdataError, match=r"(?s)vLLM could not start an engine.*max_model_len"):
        sampler = make_sampler(VLLMConfig(model=str(tiny_model_dir), max_model_len=100_000, dtype="float32"))
        sampler.generate([Request(messages=[{"role": "user", "content": "hi"}], n=1, seed=0)],
                         SamplingParams(max_tokens=2))
