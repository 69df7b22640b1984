"""`ray` sampler: Ray Data LLM (`ray.data.llm`) runs vLLM engine replicas across a Ray cluster.

    sample:
      models:
        - {backend: ray, model: /models/sft, max_model_len: 4096, concurrency: 8, tensor_parallel_size: 2}
    ray: {address: auto}            # recipe key: an existing cluster (auto, host:port, ray://host:port);
                                    # left out: a local cluster on this machine

Each replica is a `vLLMEngineProcessorConfig` engine with the same engine arguments as the
offline `vllm` backend (prefdata/backends/vllm.py `engine_args`), so the same seeds give the
same candidates. A sample stage run is one Ray Data job over every shard still to do: the
replicas start once, and each shard is written as soon as its last row is back. The driver
applies the chat template and tokenizes; only the engines run as actors. Ray Data LLM keeps
only the first output of a request, so k candidates are k rows per prompt, row i seeded
`seed + i`: exactly how vLLM seeds the i-th of n samples
(prefix caching keeps the shared prompt's cost once). Needs the `ray` extra
(`pip install 'prefdata[ray]'`).
"""

from __future__ import annotations

import importlib.util
from typing import Any, Iterable, Iterator, Literal

from pydantic import Field

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.backends.sizing import EngineNeeds
from prefdata.backends.vllm import VLLMConfig, as_vllm_config, engine_args, model_max_len
from prefdata.errors import PrefdataError


LIGHT_STAGE_CPUS = 0  # the pre/postprocess maps: light, and never waiting for a CPU an engine holds


class RayConfig(VLLMConfig):
    backend: Literal["ray"] = "ray"  # type: ignore[assignment]
    concurrency: int | None = Field(None, ge=1, description="vLLM engine replicas across the cluster; "
                                    "default: as many as the cluster holds (one per node on a CPU cluster).")
    pipeline_parallel_size: int = Field(1, ge=1, description="Pipeline stages per replica (GPU clusters).")
    batch_size: int = Field(16, ge=1, description="Rows per batch sent to one engine replica.")
    device: Literal["auto", "gpu", "cpu"] = Field(
        "auto", description="What one replica reserves: tensor x pipeline parallel GPUs, or (cpu) one CPU; "
                            "auto: gpu when the cluster has GPUs.")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="More vLLM engine arguments.")

    def build(self) -> "RaySampler":
        return RaySampler(self)


def _require_ray():
    if importlib.util.find_spec("ray") is None:
        raise PrefdataError("the ray backend needs Ray Data: pip install 'prefdata[ray]'")
    import ray
    import ray.data.llm as rdl

    return ray, rdl


def layout(config: RayConfig, resources: dict[str, float], nodes: int) -> tuple[str, int, int]:
    """(device, resources per replica, replicas) for this cluster."""
    device = config.device if config.device != "auto" else ("gpu" if resources.get("GPU", 0) else "cpu")
    per_replica = 1 if device == "cpu" else config.tensor_parallel_size * config.pipeline_parallel_size
    have = resources.get(device.upper(), 0)
    if have < per_replica:
        raise PrefdataError(
            f"ray backend: one engine replica needs {per_replica} {device.upper()} but the cluster has {have:g} "
            f"(resources: {dict(sorted(resources.items()))}); use device: cpu on a CPU cluster, or lower "
            "tensor/pipeline parallelism"
        )
    auto = nodes if device == "cpu" else int(have // per_replica)
    return device, per_replica, config.concurrency or max(1, min(auto, int(have // per_replica)))


def processor_config(config: RayConfig, device: str = "cpu", replicas: int = 1,
                     needs: EngineNeeds | None = None) -> dict[str, Any]:
    """vLLMEngineProcessorConfig arguments: the offline backend's engine arguments (sized from
    `needs` on CPU), one replica layout."""
    engine = {**engine_args(as_vllm_config(config), needs), **config.engine_kwargs}
    engine.pop("model", None)
    engine.pop("data_parallel_size", None)  # Ray's replicas replace vLLM's own data parallelism
    engine["pipeline_parallel_size"] = config.pipeline_parallel_size
    bundles = [{"CPU": 1}] if device == "cpu" else [{"GPU": 1}] * (config.tensor_parallel_size *
                                                                 config.pipeline_parallel_size)
    # Only the engines run as Ray Data actors: the driver applies the chat template and tokenizes
    # (RaySampler.chat_tokens), the engine detokenizes, as the offline backend does. Ray's template,
    # tokenize and detokenize stages would be three more actor pools, each a process that loads
    # the tokenizer and reserves a CPU the engines need (measured at 200 x 4 on 2 CPUs: 37-42 s
    # with them, every shard back only at the very end; 27 s without, shards as they finish).
    off = {"enabled": False}
    return dict(
        chat_template_stage=off, tokenize_stage=off, detokenize_stage=off,
        # (n, n): all n replicas start at once; a plain n lets Ray Data start one and scale up later
        concurrency=(replicas, replicas),
        model_source=config.model, engine_kwargs=engine, batch_size=config.batch_size,
        log_engine_metrics=False,  # True fails on Ray 2.60 ("RayPrometheusMetric requires Ray")
        accelerator_type=None, placement_group_config={"bundles": bundles, "strategy": "PACK"},
    )


class RaySampler(Sampler):
    backend = "ray"

    def __init__(self, config: RayConfig):
        from prefdata.cluster import connect

        self.config = config
        self.ray, self.rdl = _require_ray()
        connect()  # the recipe's cluster (prefdata/cluster.py); a no-op when already connected
        self._tokenizer = None
        self.needs: EngineNeeds | None = None

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def max_model_len(self) -> int | None:
        """The context a prompt and its answer must fit: the recipe's max_model_len, else the
        model's (the engines are then sized from what the stage needs)."""
        return self.config.max_model_len or model_max_len(self.config)

    def reserve(self, needs: EngineNeeds) -> None:
        self.needs = needs.merge(self.needs)

    def _eos_ids(self) -> set[int]:
        """End-of-sequence ids (tokenizer and generation config), to tell stop from length."""
        from transformers import GenerationConfig

        self.prompt_tokens([{"role": "user", "content": ""}])  # loads the tokenizer
        ids = {self._tokenizer.eos_token_id}
        try:
            eos = GenerationConfig.from_pretrained(self.config.model).eos_token_id
            ids |= set(eos) if isinstance(eos, list) else {eos}
        except OSError:  # no generation_config.json
            pass
        return {i for i in ids if i is not None}

    def _layout(self) -> tuple[str, int, int]:
        from prefdata.cluster import alive_nodes

        return layout(self.config, self.ray.cluster_resources(), alive_nodes())

    def chat_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The model's chat template applied to `messages` and tokenized (no special tokens added on
        top), as the offline engine's `chat` does: the token ids the engines get."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.config.model,
                                                            trust_remote_code=self.config.trust_remote_code)
        return list(self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                        return_dict=False))

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return len(self.chat_tokens(messages))

    def _processor(self, params: SamplingParams):
        rdl = self.rdl
        sampling = {
            "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
            **({"top_k": params.top_k} if params.top_k > 0 else {}),
            **({"stop": params.stop} if params.stop else {}),
        }
        device, _, replicas = self._layout()
        try:
            proc_cfg = rdl.vLLMEngineProcessorConfig(**processor_config(self.config, device, replicas, self.needs))
        except Exception as e:  # pydantic validation of Ray's own config
            raise PrefdataError(f"ray backend: Ray Data LLM refused the engine config: {e}") from None
        light = {"num_cpus": LIGHT_STAGE_CPUS}
        return rdl.build_processor(
            proc_cfg, preprocess_map_kwargs=light, postprocess_map_kwargs=light,
            preprocess=lambda row: {
                "tokenized_prompt": row["tokenized_prompt"], "shard": row["shard"], "request": row["request"],
                "sample": row["sample"],
                "sampling_params": {**sampling, **({"seed": row["seed"]} if row["seed"] >= 0 else {})},
            },
            postprocess=lambda row, eos=frozenset(self._eos_ids()): {
                "shard": row["shard"], "request": row["request"], "sample": row["sample"],
                "text": _text(row["generated_text"]),
                "num_tokens": row.get("num_generated_tokens"),
                "finish_reason": _finish_reason(row, params.max_tokens, eos),
            },
        )

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        return next((gens for _, gens in self.generate_shards([(0, requests)], params)), [])

    def generate_shards(self, shards: Iterable[tuple[int, list[Request]]],
                        params: SamplingParams) -> Iterator[tuple[int, list[list[Generation]]]]:
        """Every shard in one Ray Data job (one processor: each engine replica starts once), each
        shard yielded as soon as its last row is back, so the stage writes it at once."""
        shards = dict(shards)
        for index in [i for i, requests in shards.items() if not requests]:
            yield index, []
        # one row per request here; its k samples become k rows on the cluster (`_samples`)
        rows = [{"tokenized_prompt": self.chat_tokens(r.messages), "seed": -1 if r.seed is None else r.seed,
                 "n": r.n, "shard": s, "request": j}
                for s, requests in shards.items() for j, r in enumerate(requests)]
        if not rows:
            return
        missing = {s: sum(r.n for r in requests) for s, requests in shards.items() if requests}
        gens = {s: [[None] * r.n for r in requests] for s, requests in shards.items()}
        # about one block per shard (blocks split by row count): shards flow through the engines
        # and come back as they finish, not all at the end
        requests = self.ray.data.from_items(rows, override_num_blocks=len(missing))
        samples = requests.flat_map(_samples, num_cpus=LIGHT_STAGE_CPUS)
        for row in self._processor(params)(samples).iter_rows():
            s = int(row["shard"])
            gens[s][row["request"]][row["sample"]] = Generation(row["text"], row["num_tokens"], row["finish_reason"])
            missing[s] -= 1
            self.progress.advance(1)
            if not missing[s]:
                del missing[s]
                yield s, [[g for g in per if g is not None] for per in gens.pop(s)]


def _samples(row: dict) -> list[dict]:
    """A request's n rows, row i seeded `seed + i` (how vLLM seeds the i-th of n samples)."""
    return [{"tokenized_prompt": row["tokenized_prompt"], "seed": -1 if row["seed"] < 0 else row["seed"] + i,
             "shard": row["shard"], "request": row["request"], "sample": i} for i in range(row["n"])]


def _finish_reason(row: dict, max_tokens: int, eos: frozenset[int]) -> str:
    """vLLM's finish reason from a Ray row (which has none): "length" only when max_tokens
    tokens were generated and the last one is not an end-of-sequence token."""
    tokens = row.get("generated_tokens")
    last = int(tokens[-1]) if tokens is not None and len(tokens) else None
    return "length" if (row.get("num_generated_tokens") or 0) >= max_tokens and last not in eos else "stop"


def _text(generated: str) -> str:
    """Ray decodes the whole output at once and ends a reply cut inside a multi-byte character
    with U+FFFD; vLLM's incremental detokenizer withholds such a tail. Same tokens, same text."""
    return generated.rstrip("\ufffd")
