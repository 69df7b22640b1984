"""Stable prompt ids: the same prompt gets the same id in every stage and every run.

    from prefdata.io.ids import prompt_id
    prompt_id([{"role": "user", "content": "2+2?"}])   # 'p-3f1c...' (16 hex digits)
    prompt_id("Question: 2+2?\nAnswer:")                # standard (string) prompts too

The id hashes the *normalized* prompt: roles lower-cased, contents NFC-normalized and
stripped of surrounding whitespace, so cosmetic differences (a trailing newline, a
decomposed accent) do not split one prompt into two ids. A string prompt and a one-turn
conversation with the same text get different ids on purpose: they render differently.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any


def _norm_text(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def normalize_prompt(prompt: str | list[Any]) -> str | list[dict[str, str]]:
    """The canonical form hashed by `prompt_id` (messages may be dicts or pydantic models)."""
    if isinstance(prompt, str):
        return _norm_text(prompt)
    messages = []
    for m in prompt:
        role = m["role"] if isinstance(m, dict) else m.role
        content = m["content"] if isinstance(m, dict) else m.content
        messages.append({"role": str(role).strip().lower(), "content": _norm_text(str(content))})
    return messages


def prompt_id(prompt: str | list[Any]) -> str:
    """'p-' + the first 16 hex digits of sha256 over the normalized prompt."""
    canonical = json.dumps(normalize_prompt(prompt), ensure_ascii=False, sort_keys=True)
    return "p-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
