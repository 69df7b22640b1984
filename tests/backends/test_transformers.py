"""The transformers fallback on the real tiny model: per-request seeds, finish reasons, stops."""

from __future__ import annotations

import pytest

from prefdata.backends import make_sampler
from prefdata.backends.base import Request, SamplingParams
from prefdata.errors import PrefdataError

MSGS = [[{"role": "user", "content": t}] for t in ("hello there", "what is 12 + 30?", "write a short story")]


@pytest.fixture(scope="module")
def sampler(tiny_model_dir):
    return make_sampler({"backend": "transformers", "model": str(tiny_model_dir)})


def test_same_seed_same_candidates_whatever_the_batch(sampler):
    params = SamplingParams(max_tokens=10)
    together = sampler.generate([Request(m, n=3, seed=1024 * i) for i, m in enumerate(MSGS)], params)
    alone = sampler.generate([Request(MSGS[2], n=3, seed=2048)], params)
    assert together[2] == alone[0]
    assert all(len(g) == 3 for g in together) and len({g.text for g in together[0]}) > 1
    assert sampler.generate([Request(MSGS[2], n=3, seed=7)], params)[0] != alone[0]


def test_finish_reasons_token_counts_and_greedy(sampler):
    params = SamplingParams(max_tokens=5, temperature=0.0)
    gens = sampler.generate([Request(MSGS[0], n=2, seed=1)], params)[0]
    assert gens[0] == gens[1]  # greedy: samples identical
    for g in gens:
        assert g.num_tokens <= 5 and g.finish_reason in {"stop", "length"}
        assert g.finish_reason == "stop" or g.num_tokens == 5


def test_stop_strings_cut_the_text(sampler):
    free = sampler.generate([Request(MSGS[1], n=1, seed=3)], SamplingParams(max_tokens=12))[0][0]
    stop = free.text.strip()[2:4]
    assert stop
    cut = sampler.generate([Request(MSGS[1], n=1, seed=3)], SamplingParams(max_tokens=12, stop=[stop]))[0][0]
    assert cut.text == free.text[: free.text.index(stop)] and cut.finish_reason == "stop"


def test_prompt_tokens_and_context(sampler):
    assert 0 < sampler.prompt_tokens(MSGS[0]) < sampler.prompt_tokens(MSGS[2]) + 10
    assert sampler.max_model_len == 512


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(PrefdataError, match="does not exist"):
        make_sampler({"backend": "transformers", "model": str(tmp_path / "nope")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrefdataError, match="no config.json"):
        make_sampler({"backend": "transformers", "model": str(tmp_path / "empty")})


def test_a_reply_cut_by_the_context_limit_is_marked_length(tiny_model_dir):
    from prefdata.backends.transformers import TransformersConfig

    messages = [{"role": "user", "content": "hello there"}]
    probe = make_sampler(TransformersConfig(model=str(tiny_model_dir)))
    room = probe.prompt_tokens(messages) + 3  # three tokens left for the reply
    sampler = make_sampler(TransformersConfig(model=str(tiny_model_dir), max_model_len=room))
    gen = sampler.generate([Request(messages=messages, n=1, seed=0)], SamplingParams(temperature=0.0, max_tokens=50))[0][0]
    assert gen.num_tokens <= 3
    assert gen.finish_reason == ("stop" if gen.num_tokens < 3 else "length")
