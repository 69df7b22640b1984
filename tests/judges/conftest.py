"""Fixtures of the judge tests: the shipped math set as JudgeItems, a user check module.

    python -m pytest -q tests/judges
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from prefdata.judges.base import JudgeItem
from prefdata.pipelines import PIPELINE_DIR

MATH_FILE = PIPELINE_DIR / "data" / "math_prompts.jsonl"


@pytest.fixture(scope="session")
def math_rows() -> list[dict]:
    return [json.loads(line) for line in MATH_FILE.read_text().splitlines() if line.strip()]


def _item(prompt: str, response: str, reference: str | None = None, prompt_id: str = "p", index: int = 0) -> JudgeItem:
    return JudgeItem(prompt_id, f"{prompt_id}:0:{index}", [{"role": "user", "content": prompt}], response, reference)


@pytest.fixture(scope="session")
def item():
    """item(prompt, response, reference=None, prompt_id="p", index=0) -> JudgeItem."""
    return _item


@pytest.fixture
def user_checks(tmp_path, monkeypatch) -> str:
    """An importable module `user_checks_mod` with well- and badly-behaved check functions."""
    (tmp_path / "user_checks_mod.py").write_text(textwrap.dedent('''
        def mentions_reference(prompt, response, reference, bonus=0.0):
            return float(reference is not None and reference in response) + bonus

        def sees_messages(prompt, response, reference):
            return float(isinstance(prompt, list) and prompt[-1]["role"] == "user")

        def crashes(prompt, response, reference):
            raise RuntimeError("boom")

        def returns_text(prompt, response, reference):
            return "good"

        def returns_nan(prompt, response, reference):
            return float("nan")

        NOT_CALLABLE = 3

        def first_shown(prompt, response_a, response_b, reference):
            return "tie" if response_a == response_b else "A"

        def longer(prompt, response_a, response_b, reference):
            return "tie" if len(response_a) == len(response_b) else ("A" if len(response_a) > len(response_b) else "B")

        def undecided(prompt, response_a, response_b, reference):
            return "maybe"
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "user_checks_mod"
    sys.modules.pop("user_checks_mod", None)


@pytest.fixture(scope="session")
def two_label_model_dir(tmp_path_factory):
    """A 2-label sequence classifier (not a reward model) with its weights file removed:
    the head check must fire from the config alone, before any weights load."""
    from prefdata.tiny import build_tiny_reward_model

    path = build_tiny_reward_model(tmp_path_factory.mktemp("two-label"), num_labels=2)
    for weights in path.glob("*.safetensors"):
        weights.unlink()
    return path


@pytest.fixture(scope="session")
def nan_reward_model_dir(tiny_reward_model_dir, tmp_path_factory):
    """The tiny reward model with the embedding of '@' set to NaN: any text with '@' scores NaN."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_reward_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_reward_model_dir)
    (at_id,) = tokenizer.encode("@", add_special_tokens=False)
    with torch.no_grad():
        model.get_input_embeddings().weight[at_id] = float("nan")
    out = tmp_path_factory.mktemp("nan-rm")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
