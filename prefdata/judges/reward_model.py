"""Reward-model judge: any `AutoModelForSequenceClassification` with a one-logit head.

    label:
      judges:
        - {type: reward_model, id: rm, path: /models/Skywork-Reward-V2-Llama-3.1-8B,
           batch_size: 8, device: cuda, dtype: bfloat16, max_length: 4096}

The prompt conversation plus the candidate as an assistant turn is rendered with the
reward model's own chat template, tokenized in batches (longest first, so padding is
small) and scored: score = the head's single logit. A model whose head has several
outputs is refused before its weights load. A NaN/inf score becomes a missing label
(parse_status invalid_score, with the reason); a too long input is truncated from the
left (the end of the response, which the head reads, is kept) and says so in `reason`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal

from pydantic import Field

from prefdata.config import ConfigPath, StrictModel
from prefdata.errors import PrefdataError
from prefdata.judges.base import Judge, JudgeItem, JudgeRuns, judgment_row


class RewardModelJudgeConfig(StrictModel):
    type: Literal["reward_model"] = "reward_model"
    id: str = Field(description="Judge id, unique in the recipe; written to every judgment.")
    path: ConfigPath = Field(description="Local directory (or hub id when online) of the reward model.")
    batch_size: int = Field(8, ge=1, description="Sequences scored per forward pass.")
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, mps.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("float32", description="Weights dtype.")
    max_length: int = Field(2048, ge=8, description="Tokens per sequence; longer inputs are left-truncated.")
    trust_remote_code: bool = Field(False, description="Run the model repo's own code (off: safer).")


class RewardModelJudge(Judge):
    """AutoModelForSequenceClassification with one logit: score = the logit of prompt + candidate."""

    name, Config = "reward_model", RewardModelJudgeConfig
    judge_type = "reward_model"

    @classmethod
    def runs(cls, config: RewardModelJudgeConfig) -> JudgeRuns:
        return JudgeRuns(shards=True, model=True, gpu=config.device.startswith("cuda"), model_fields=("path",))

    def __init__(self, config: RewardModelJudgeConfig):
        super().__init__(config)
        self.model = config.path
        self._load()

    def _load(self) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        cfg = self.config
        where = f"reward model {cfg.path!r} (judge {cfg.id!r})"
        try:
            hf_config = AutoConfig.from_pretrained(cfg.path, trust_remote_code=cfg.trust_remote_code)
        except (OSError, ValueError) as e:
            raise PrefdataError(f"{where}: cannot load its config: {e}") from None
        if getattr(hf_config, "num_labels", None) != 1:
            raise PrefdataError(
                f"{where} has a {hf_config.num_labels}-dimensional head; a reward model must output "
                "one score (num_labels == 1). Multi-objective heads (e.g. ArmoRM) need their own "
                "scoring code: wrap it as a programmatic judge function."
            )
        self._tokenizer = AutoTokenizer.from_pretrained(cfg.path, trust_remote_code=cfg.trust_remote_code)
        if not self._tokenizer.chat_template:
            raise PrefdataError(f"{where}: its tokenizer has no chat template; add one to tokenizer_config.json")
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._tokenizer.truncation_side = "left"
        dtype = "auto" if cfg.dtype == "auto" else getattr(torch, cfg.dtype)
        self._model = AutoModelForSequenceClassification.from_pretrained(
            cfg.path, dtype=dtype, trust_remote_code=cfg.trust_remote_code
        ).to(cfg.device).eval()
        if self._model.config.pad_token_id is None:
            self._model.config.pad_token_id = self._tokenizer.pad_token_id

    def render(self, item: JudgeItem) -> str:
        messages = list(item.prompt) + [{"role": "assistant", "content": item.response}]
        return self._tokenizer.apply_chat_template(messages, tokenize=False)

    def judge(self, items: list[JudgeItem], progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        texts = [self.render(item) for item in items]
        order = sorted(range(len(items)), key=lambda i: -len(texts[i]))
        scores: dict[int, tuple[float, bool]] = {}
        size = self.config.batch_size
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            for i, result in zip(batch, self._score([texts[i] for i in batch])):
                scores[i] = result
            if progress is not None:
                progress(len(batch))
        return [self._row(item, *scores[i]) for i, item in enumerate(items)]

    def _score(self, texts: list[str]) -> list[tuple[float, bool]]:
        import torch

        # One tokenizer pass: ids are cut (left side) and padded here, so the full lengths are known.
        ids = self._tokenizer(texts, add_special_tokens=False)["input_ids"]
        cut = [x[-self.config.max_length:] for x in ids]
        enc = self._tokenizer.pad({"input_ids": cut}, padding=True, return_tensors="pt").to(self.config.device)
        with torch.inference_mode():
            logits = self._model(**enc).logits.float().squeeze(-1).cpu().tolist()
        return [(s, len(x) > self.config.max_length) for s, x in zip(logits, ids)]

    def _row(self, item: JudgeItem, score: float, truncated: bool) -> dict[str, Any]:
        raw = repr(score)
        if not math.isfinite(score):
            return judgment_row(self, item, score=None, parse_status="invalid_score",
                                reason=f"reward model returned {score}", raw_output=raw)
        reason = f"input longer than max_length={self.config.max_length}: left-truncated" if truncated else None
        return judgment_row(self, item, score=score, reason=reason, raw_output=raw)

    def close(self) -> None:
        self._model = None
        self._tokenizer = None
