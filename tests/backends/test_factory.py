"""make_sampler and the backend config union: validation, errors, the optional ray backend."""

from __future__ import annotations

import importlib.util

import pytest
from pydantic import TypeAdapter, ValidationError

from prefdata.backends import OpenAIConfig, SamplerConfig, VLLMConfig, make_sampler
from prefdata.errors import PrefdataError

ADAPTER = TypeAdapter(SamplerConfig)


def test_backend_picks_the_config_class():
    assert isinstance(ADAPTER.validate_python({"backend": "vllm", "model": "x"}), VLLMConfig)
    cfg = ADAPTER.validate_python({"backend": "openai", "model": "gpt", "max_concurrency": 2})
    assert isinstance(cfg, OpenAIConfig) and cfg.api_key_env == "OPENAI_API_KEY"


def test_unknown_backend_and_keys_are_rejected():
    with pytest.raises(ValidationError, match="tgi"):
        ADAPTER.validate_python({"backend": "tgi", "model": "x"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        ADAPTER.validate_python({"backend": "vllm", "model": "x", "tensor_parallel": 2})
    with pytest.raises(ValidationError, match="gpu_memory_utilization"):
        ADAPTER.validate_python({"backend": "vllm", "model": "x", "gpu_memory_utilization": 1.5})


def test_trust_remote_code_is_off_by_default():
    assert ADAPTER.validate_python({"backend": "vllm", "model": "x"}).trust_remote_code is False
    assert ADAPTER.validate_python({"backend": "transformers", "model": "x"}).trust_remote_code is False


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed")
def test_ray_backend_without_ray_says_what_to_install():
    with pytest.raises(PrefdataError, match=r"pip install 'prefdata\[ray\]'"):
        make_sampler({"backend": "ray", "model": "x"})
