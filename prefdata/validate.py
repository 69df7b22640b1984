"""`prefdata validate`: tokenize a dataset directory exactly as TRL 1.16's DPOTrainer will, and report problems.

    from prefdata.validate import validate_dataset, Thresholds
    report = validate_dataset("data/hh", "models/tiny", max_length=512, thresholds=Thresholds(truncated=0.2))
    report["failed"]      # checks whose share exceeds its threshold (the CLI exits 1 when non-empty)

Tokenization mirrors `DPOTrainer._prepare_dataset` (trl 1.16.0): conversational examples go
through the tokenizer's chat template (prompt with `add_generation_prompt=True`, then
prompt+chosen and prompt+rejected); standard examples get EOS appended to chosen/rejected
unless already there and are tokenized as plain text. The prompt length is the shortest
common token prefix of prompt vs prompt+completion (TRL's `common_prefix_length`); the
collator then keeps the first `max_length` tokens (`truncation_mode="keep_start"`) and the
dataset drops, silently, every example whose prompt alone has >= max_length tokens.

Checks (share of examples; thresholds settable, defaults in `Thresholds`):
truncated, prompt_too_long, empty, identical, double_special (BOS/EOS twice in a row),
special_in_text (a special token written inside a message: it tokenizes as the token),
prompt_not_user (prompt not ending with a user turn / malformed turns), and
boundary_mismatch (prompt tokens not a prefix of prompt+completion; TRL warns once).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field

from prefdata.config import StrictModel
from prefdata.errors import DataError
from prefdata.io.checks import shape_problem
from prefdata.io.dataset_dir import kind_of, read_dataset_dir
from prefdata.trainer.trl_compat import TRL_DEFAULT_MAX_LENGTH, tokenize_like_trl

class Thresholds(StrictModel):
    """Largest acceptable share (0..1) of examples failing each check."""

    truncated: float = Field(0.10, ge=0, le=1, description="Longer than max_length: TRL cuts the completion's end.")
    prompt_too_long: float = Field(0.0, ge=0, le=1, description="Prompt alone >= max_length: TRL drops them silently.")
    empty: float = Field(0.0, ge=0, le=1, description="Empty prompt, chosen or rejected (or no completion tokens).")
    identical: float = Field(0.0, ge=0, le=1, description="chosen == rejected: zero gradient, wasted compute.")
    double_special: float = Field(0.0, ge=0, le=1, description="BOS or EOS twice in a row in the token ids.")
    special_in_text: float = Field(0.0, ge=0, le=1, description="A special token string inside message text.")
    prompt_not_user: float = Field(0.0, ge=0, le=1, description="Prompt not ending with a user turn, bad completion turns.")
    boundary_mismatch: float = Field(1.0, ge=0, le=1, description="Prompt tokens not a prefix of prompt+completion (info).")


CHECKS = tuple(Thresholds.model_fields)


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{model_dir}: cannot load a tokenizer ({e}). Pass a local model directory with --model.") from None
    # We measure lengths against --max-length ourselves; silence the tokenizer's own length warning.
    tokenizer.model_max_length = 10**9
    return tokenizer


def _doubled(ids: list[int], token_id: int | None) -> bool:
    return token_id is not None and any(a == b == token_id for a, b in zip(ids, ids[1:]))


def _texts(example: dict) -> list[str]:
    return [m["content"] for key in ("prompt", "chosen", "rejected") for m in
            (example[key] if isinstance(example[key], list) else [{"content": example[key]}])]


def check_example(tokenizer, example: dict, max_length: int, specials: list[str]) -> set[str]:
    """Names of the checks this example fails."""
    failed = set()
    texts = _texts(example)
    last_prompt = texts[len(example["prompt"]) - 1] if isinstance(example["prompt"], list) else texts[0]
    chosen, rejected = texts[-2], texts[-1]
    if shape_problem(example["prompt"], example["chosen"], example["rejected"]) is not None:
        failed.add("prompt_not_user")
    if not last_prompt.strip() or not chosen.strip() or not rejected.strip():
        failed.add("empty")
    if chosen.strip() == rejected.strip():
        failed.add("identical")
    if any(s in t for s in specials for t in texts):
        failed.add("special_in_text")
    tok = tokenize_like_trl(tokenizer, example)
    n_prompt = len(tok["prompt_ids"])
    if not tok["chosen_ids"] or not tok["rejected_ids"]:
        failed.add("empty")
    if n_prompt >= max_length:
        failed.add("prompt_too_long")
    elif n_prompt + max(len(tok["chosen_ids"]), len(tok["rejected_ids"])) > max_length:
        failed.add("truncated")
    if n_prompt < tok["full_prompt_len"]:
        failed.add("boundary_mismatch")
    if any(_doubled(seq, t) for seq in tok["sequences"] for t in (tokenizer.bos_token_id, tokenizer.eos_token_id)):
        failed.add("double_special")
    return failed


def validate_dataset(data_dir: str | Path, model_dir: str | Path, *, max_length: int = TRL_DEFAULT_MAX_LENGTH,
                     thresholds: Thresholds | None = None, progress: bool = False) -> dict:
    """Run every check on every split; returns the report (counts, shares, failed checks, sample rows)."""
    thresholds = thresholds or Thresholds()
    if max_length < 1:
        raise DataError(f"--max-length must be >= 1, got {max_length}.")
    splits = read_dataset_dir(data_dir)
    tokenizer = load_tokenizer(model_dir)
    conversational = any(kind_of(df) == "conversational" for df in splits.values())
    if conversational and not tokenizer.chat_template:
        raise DataError(f"{model_dir}: the tokenizer has no chat template; conversational data needs one (TRL renders "
                        "prompts with it). Use a chat model's tokenizer or export the dataset as standard strings.")
    specials = [t for t in tokenizer.all_special_tokens if t]
    counts = {c: 0 for c in CHECKS}
    examples: dict[str, list] = {c: [] for c in CHECKS}
    total = sum(df.height for df in splits.values())
    rows = ((split, i, row) for split, df in splits.items() for i, row in enumerate(df.iter_rows(named=True), 1))
    if progress:
        from rich.progress import track

        rows = track(rows, total=total, description="tokenizing as TRL does")
    for split, i, row in rows:
        for check in check_example(tokenizer, row, max_length, specials):
            counts[check] += 1
            if len(examples[check]) < 5:
                examples[check].append({"split": split, "row": i, "prompt_id": row["prompt_id"]})
    shares = {c: (counts[c] / total if total else 0.0) for c in CHECKS}
    limits = thresholds.model_dump()
    failed = [c for c in CHECKS if shares[c] > limits[c]]
    return {"data_dir": str(data_dir), "model": str(model_dir), "max_length": max_length, "examples": total,
            "splits": {s: df.height for s, df in splits.items()}, "counts": counts, "shares": shares,
            "thresholds": limits, "failed": failed, "sample_rows": {c: v for c, v in examples.items() if v}}


def write_report(report: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
