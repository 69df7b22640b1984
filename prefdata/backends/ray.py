"""`ray` sampler: Ray Data LLM (`ray.data.llm`) for sampling across many nodes (optional).

    pip install 'ray[data,llm]'
    from prefdata.backends.ray import RayConfig
    sampler = make_sampler(RayConfig(model="Qwen/Qwen2.5-7B-Instruct", concurrency=8))

Ray Data LLM keeps one output per row, so a request for k candidates becomes k rows with
distinct seeds (seed + i); the k outputs are gathered back in order. Not exercised by the
test suite (ray is not installed there): `make_sampler` raises a clear install hint.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from pydantic import Field

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.config import ConfigPath, StrictModel
from prefdata.errors import PrefdataError


class RayConfig(StrictModel):
    backend: Literal["ray"] = "ray"
    model: ConfigPath = Field(description="model_source for vLLMEngineProcessorConfig (path or hub id).")
    concurrency: int = Field(1, ge=1, description="vLLM engine replicas across the cluster.")
    batch_size: int = Field(32, ge=1, description="Rows per batch sent to one engine.")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="vLLM engine arguments (max_model_len, tensor_parallel_size...)."
    )
    ray_address: str | None = Field(None, description="ray.init address; None = local or RAY_ADDRESS.")


def _require_ray():
    if importlib.util.find_spec("ray") is None:
        raise PrefdataError("the ray backend needs Ray Data LLM: pip install 'ray[data,llm]'")
    import ray
    import ray.data.llm as rdl

    return ray, rdl


class RaySampler(Sampler):
    backend = "ray"

    def __init__(self, config: RayConfig):
        self.config = config
        self.ray, self.rdl = _require_ray()
        if not self.ray.is_initialized():
            self.ray.init(address=config.ray_address, ignore_reinit_error=True)

    @property
    def model_id(self) -> str:
        return self.config.model

    def _processor(self, params: SamplingParams):
        rdl, cfg = self.rdl, self.config
        proc_cfg = rdl.vLLMEngineProcessorConfig(
            model_source=cfg.model, engine_kwargs=dict(cfg.engine_kwargs),
            concurrency=cfg.concurrency, batch_size=cfg.batch_size,
        )
        build = getattr(rdl, "build_processor", None) or rdl.build_llm_processor
        sampling = {
            "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
            **({"top_k": params.top_k} if params.top_k > 0 else {}),
            **({"stop": params.stop} if params.stop else {}),
        }
        return build(
            proc_cfg,
            preprocess=lambda row: {
                "messages": row["messages"],
                "sampling_params": {**sampling, "seed": row["seed"]},
                "request": row["request"], "sample": row["sample"],
            },
            postprocess=lambda row: {
                "request": row["request"], "sample": row["sample"],
                "text": row["generated_text"], "num_tokens": row.get("num_generated_tokens"),
            },
        )

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        rows = [
            {"messages": r.messages, "seed": (r.seed or 0) + i, "request": j, "sample": i}
            for j, r in enumerate(requests)
            for i in range(r.n)
        ]
        if not rows:
            return []
        out = self._processor(params)(self.ray.data.from_items(rows)).take_all()
        gens: list[list[Generation | None]] = [[None] * r.n for r in requests]
        for row in out:
            tokens = row.get("num_tokens")
            reason = "length" if tokens is not None and tokens >= params.max_tokens else "stop"
            gens[row["request"]][row["sample"]] = Generation(row["text"], tokens, reason)
        return [[g for g in per if g is not None] for per in gens]
