"""Text generators behind one interface (`base.Sampler`), chosen in the recipe by `backend`.

    from prefdata.backends import make_sampler, SamplerConfig
    sampler = make_sampler({"backend": "vllm", "model": "/tmp/tiny", "max_model_len": 512})

Backends: vllm (offline engine, cached per engine settings), openai (any OpenAI-compatible
server), transformers (plain generate fallback), ray (Ray Data LLM, many nodes). Only the
backend modules import vllm / httpx / torch / ray, and only when a sampler is built.

A sampler of the user's own is `backend: my_module:MySampler` (or a `prefdata.samplers` entry
point): a `Sampler` subclass whose `Config` has a `model` field (candidates are tagged with it),
built as `MySampler(config)`.
"""

from __future__ import annotations

from pydantic import TypeAdapter

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.backends.openai import OpenAIConfig
from prefdata.backends.ray import RayConfig
from prefdata.backends.transformers import TransformersConfig
from prefdata.backends.vllm import VLLMConfig
from prefdata.plugins import tagged_union

# Every backend's config; its `build()` makes the sampler. A new backend is one module (a
# config with `backend: Literal[...]` and `build`, and its Sampler) plus one entry here.
SAMPLER_CONFIGS = (VLLMConfig, OpenAIConfig, TransformersConfig, RayConfig)
SamplerConfig = tagged_union({c.model_fields["backend"].default: c for c in SAMPLER_CONFIGS}, "sampler", Sampler,
                             key="backend", required=("model",))
_ADAPTER = TypeAdapter(SamplerConfig)


def make_sampler(config: SamplerConfig | dict) -> Sampler:
    """Build the sampler for a backend config (a dict is validated first)."""
    if isinstance(config, dict):
        config = _ADAPTER.validate_python(config)
    sampler = config.build()
    if not hasattr(sampler, "backend"):  # a plugin that names no backend: the recipe's name for it
        sampler.backend = config.backend
    return sampler


__all__ = [
    "Generation", "OpenAIConfig", "RayConfig", "Request", "Sampler", "SamplerConfig",
    "SamplingParams", "SAMPLER_CONFIGS", "TransformersConfig", "VLLMConfig", "make_sampler",
]
