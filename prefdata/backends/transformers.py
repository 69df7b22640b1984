"""`transformers` sampler: plain `generate()` for machines without vLLM (the slow fallback).

    from prefdata.backends import make_sampler
    from prefdata.backends.transformers import TransformersConfig
    sampler = make_sampler(TransformersConfig(model="/tmp/tiny"))
    sampler.generate([Request(messages=[{"role": "user", "content": "hi"}], n=4, seed=7)], SamplingParams(max_tokens=16))

Each request is generated on its own (its k samples batched with `num_return_sequences`)
after `torch.manual_seed(request.seed)`: padding other prompts into the same batch would
change a prompt's candidates, and a resumed run must reproduce an uninterrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from prefdata.backends.base import Generation, Request, Sampler, SamplingParams
from prefdata.config import ConfigPath, StrictModel
from prefdata.errors import PrefdataError
from prefdata.hardware import cpu_dtype, cpu_dtype_warning
from prefdata.model_dirs import is_model_dir, may_be_hub_id


def check_model_path(model: str) -> str:
    """Fail before loading anything (the runner checks every model up front) when a local
    model is missing; raises ValueError with the fix."""
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() and not is_model_dir(path):
            raise ValueError(
                f"model directory {model!r} has no config.json: pass a folder written by save_pretrained"
            )
        return model
    if not may_be_hub_id(model, bare=True):
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (offline: HF_HUB_OFFLINE=1, so hub ids cannot be downloaded)" if offline else ""
        raise ValueError(f"model path {model!r} does not exist{hint}; pass a local model folder")
    return model


def torch_dtype_name(dtype: str, device: str) -> str:
    """`auto` resolved for a device: float32 on a CPU without native bf16 (bf16 matmuls run in
    software there, several times slower), else bfloat16."""
    if dtype != "auto":
        return dtype
    return cpu_dtype("auto") if device == "cpu" else "bfloat16"


def model_path_problems(paths: list[tuple[str, str]]) -> list[str]:
    """'key: message' for each (config key, model path) whose local model is missing."""
    problems = []
    for key, path in paths:
        try:
            check_model_path(path)
        except ValueError as e:
            problems.append(f"{key}: {e}")
    return problems


class TransformersConfig(StrictModel):
    backend: Literal["transformers"] = "transformers"
    model: ConfigPath = Field(description="Local model folder (or hub id when online).")
    dtype: str = Field("float32", description="torch dtype name: float32 | bfloat16 | float16, or auto: bfloat16 "
                                            "on a GPU or a CPU with native bf16, else float32.")
    device: str = Field("cpu", description="torch device, e.g. cpu or cuda:0.")
    max_model_len: int | None = Field(
        None, ge=2, description="Context length; default: the model's max_position_embeddings."
    )
    trust_remote_code: bool = Field(False, description="Run code shipped with the model (off: safer).")

    def build(self) -> "TransformersSampler":
        return TransformersSampler(self)


def _finish_reason(token_ids: list[int], eos_ids: set[int], max_tokens: int) -> str:
    if token_ids and token_ids[-1] in eos_ids:
        return "stop"
    return "length" if len(token_ids) >= max_tokens else "stop"


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    cuts = [text.index(s) for s in stops if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


class _Ticks:
    """A stopping criterion that never stops: it calls `tick` once per generated token."""

    def __init__(self, tick):
        self.tick = tick

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.tick()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class TransformersSampler(Sampler):
    backend = "transformers"

    def __init__(self, config: TransformersConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        try:
            check_model_path(config.model)
        except ValueError as e:
            raise PrefdataError(str(e)) from None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                config.model, trust_remote_code=config.trust_remote_code
            )
            self.model = AutoModelForCausalLM.from_pretrained(
                config.model, dtype=getattr(torch, torch_dtype_name(config.dtype, config.device)),
                trust_remote_code=config.trust_remote_code,
            ).to(config.device).eval()
        except OSError as e:
            raise PrefdataError(f"cannot load model {config.model!r}: {e}") from None
        self.tokenizer.padding_side = "left"
        warning = cpu_dtype_warning(config.dtype) if config.device == "cpu" else None
        if warning:
            self.progress.note(f"warning: {warning}")
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def max_model_len(self) -> int | None:
        return self.config.max_model_len or getattr(self.model.config, "max_position_embeddings", None)

    def _render(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return len(self._render(messages))

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        self.progress.phase("generating")
        out = []
        for r in requests:
            out.append(self._generate_one(r, params))
            self.progress.advance(r.n)
        return out

    def _generate_one(self, request: Request, params: SamplingParams) -> list[Generation]:
        import torch

        ids = torch.tensor([self._render(request.messages)], device=self.config.device)
        max_new = params.max_tokens
        if self.max_model_len:
            max_new = max(1, min(max_new, self.max_model_len - ids.shape[1]))
        greedy = params.temperature == 0.0
        if request.seed is not None:
            torch.manual_seed(request.seed)
        with torch.no_grad():
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), do_sample=not greedy,
                temperature=None if greedy else params.temperature,
                top_p=None if greedy else params.top_p,
                top_k=None if greedy or params.top_k < 1 else params.top_k,
                max_new_tokens=max_new, num_return_sequences=1 if greedy else request.n,
                pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=[_Ticks(self.progress.tick)],  # a long answer shows as movement
            )
        rows = out[:, ids.shape[1]:].tolist()
        if greedy:  # generate() refuses n > 1 without sampling; the n samples would be equal
            rows = rows * request.n
        gens = []
        # generate() pads finished rows with the pad token, or with EOS when there is none.
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids, default=None)
        for row in rows:
            while row and row[-1] == pad and (pad not in self.eos_ids or (len(row) > 1 and row[-2] == pad)):
                row.pop()  # padding goes; a row's own (first) EOS stays
            reason = _finish_reason(row, self.eos_ids, max_new)
            text = self.tokenizer.decode(row, skip_special_tokens=True)
            text, stopped = _cut_at_stop(text, params.stop)
            gens.append(Generation(text=text, num_tokens=len(row), finish_reason="stop" if stopped else reason))
        return gens
