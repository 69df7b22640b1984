"""Text generators behind one interface (`base.Sampler`), chosen in the recipe by `backend`.

    from prefdata.backends import make_sampler, SamplerConfig
    sampler = make_sampler({"backend": "vllm", "model": "/tmp/tiny", "max_model_len": 512})

Backends: vllm (offline engine, cached per engine settings), openai (any OpenAI-compatible
server), transformers (plain generate fallback), ray (Ray Data LLM, many nodes). Only the
backend modules import vllm / httpx / torch / ray, and only when a sampler is built.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.backends.openai import OpenAIConfig
from prefdata.backends.ray import RayConfig
from prefdata.backends.transformers import TransformersConfig
from prefdata.backends.vllm import VLLMConfig

SamplerConfig = Annotated[
    Union[VLLMConfig, OpenAIConfig, TransformersConfig, RayConfig], Field(discriminator="backend")
]
_ADAPTER = TypeAdapter(SamplerConfig)


def make_sampler(config: SamplerConfig | dict) -> Sampler:
    """Build the sampler for a backend config (a dict is validated first)."""
    if isinstance(config, dict):
        config = _ADAPTER.validate_python(config)
    if isinstance(config, RayConfig):  # before VLLMConfig: a RayConfig is a VLLMConfig plus replicas
        from prefdata.backends.ray import RaySampler

        return RaySampler(config)
    if isinstance(config, VLLMConfig):
        from prefdata.backends.vllm import VLLMSampler

        return VLLMSampler(config)
    if isinstance(config, OpenAIConfig):
        from prefdata.backends.openai import OpenAISampler

        return OpenAISampler(config)
    if isinstance(config, TransformersConfig):
        from prefdata.backends.transformers import TransformersSampler

        return TransformersSampler(config)
    raise TypeError(f"not a sampler config: {type(config).__name__}")


__all__ = [
    "Generation", "OpenAIConfig", "RayConfig", "Request", "Sampler", "SamplerConfig",
    "SamplingParams", "TransformersConfig", "VLLMConfig", "make_sampler",
]
