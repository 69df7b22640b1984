"""Row checks every importer shares, derived from the record models in `prefdata.records`.

    from prefdata.io.checks import build_example, messages, provenance
    prompt = messages(row["prompt"], "prompt")            # [{"role": "user", "content": ...}]
    example = build_example(prompt, chosen, rejected, provenance(row, "my.jsonl"))

What a message or a DPO example must look like is written once, in `records.Message` and
`records.DPOExample`; here a pydantic error becomes a `RowProblem` with a reason code
(`unknown_role`, `bad_type`, `prompt_not_user_final`...), the field it names and a message.
The importer's collector adds the file and line. What is policy rather than shape (empty
texts, identical answers) is checked here after the model.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import TypeAdapter, ValidationError

from prefdata.io.ids import prompt_id
from prefdata.io.rows import RowProblem
from prefdata.records import PAIR_PROVENANCE, DPOExample, Message

_CONVERSATION = TypeAdapter(list[Message])
# pydantic's own error types -> our reason codes (the records' validators raise ours directly);
# the one Literal field of a message or an example is Message.role.
_REASONS = {"literal_error": "unknown_role", "missing": "missing_field"}


def problem_from(error: ValidationError, field_name: str | None = None) -> RowProblem:
    """The RowProblem of a record's validation error: its most specific error names the field.

    A record validator's own error type is the reason code and its ctx names the field;
    a pydantic type error is `bad_type`, a wrong role `unknown_role`.
    """
    err = max(error.errors(), key=lambda e: len(e["loc"]))  # a union tries every member: keep the deepest
    ctx = err.get("ctx") or {}
    if "field" in ctx:
        return RowProblem(err["type"], ctx["field"], err["msg"])
    # A union member's name ('str', 'list[Message]') in the location is no field of the row.
    loc = [p for p in err["loc"] if not (isinstance(p, str) and (p == "str" or "[" in p))]
    path = [field_name, *loc] if field_name else loc
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "the row"
    reason = _REASONS.get(err["type"], "bad_type")
    field = str(path[0]) if path else None
    if reason == "unknown_role":
        return RowProblem(reason, field, f"{where} is {err['input']!r}; expected one of {ctx.get('expected')}")
    return RowProblem(reason, field, f"{where}: {err['msg'][:1].lower()}{err['msg'][1:]}, got {type(err['input']).__name__}")


def require(data: dict, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
    if key not in data or data[key] is None:
        raise RowProblem("missing_field", key, f"missing field {key!r} ({what})")
    value = data[key]
    if not isinstance(value, kinds):
        names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
        raise RowProblem("bad_type", key, f"field {key!r} must be {names}, got {type(value).__name__}")
    return value


def messages(value: Any, field_name: str) -> list[dict[str, str]]:
    """`value` as a list of records.Message dicts (known roles, string contents), or RowProblem."""
    if isinstance(value, list):
        # Source messages may carry more keys (name, weight...): the record keeps role and content.
        value = [{"role": m.get("role"), "content": m.get("content")} if isinstance(m, dict) else m for m in value]
    try:
        return [m.model_dump() for m in _CONVERSATION.validate_python(value, strict=True)]
    except ValidationError as e:
        raise problem_from(e, field_name) from None


def _optional_float(data: dict, key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RowProblem("bad_type", key, f"field {key!r} must be a finite number, got {value!r}")
    return float(value)


def provenance(data: dict, default_source: str) -> dict:
    """prompt_id / scores / margin / source / provenance columns when the row carries them (round-trips)."""
    out = {k: _optional_float(data, k) for k in ("chosen_score", "rejected_score", "margin")}
    for key, default in (("prompt_id", None), ("source", default_source), ("provenance", None)):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise RowProblem("bad_type", key, f"field {key!r} must be a string, got {type(value).__name__}")
        out[key] = value or default
    if out["provenance"] not in (None, *PAIR_PROVENANCE):
        raise RowProblem("bad_value", "provenance", f"field 'provenance' must be one of "
                         f"{', '.join(PAIR_PROVENANCE)}, got {out['provenance']!r}")
    return out


def shape_problem(prompt: Any, chosen: Any, rejected: Any) -> RowProblem | None:
    """What breaks records.DPOExample's shape (one format, prompt ending with a user turn, one
    assistant message per side), or None."""
    try:
        DPOExample.model_validate({"prompt": prompt, "chosen": chosen, "rejected": rejected,
                                   "prompt_id": "-", "source": "-"})
    except ValidationError as e:
        return problem_from(e)
    return None


def build_example(prompt: Any, chosen: Any, rejected: Any, extra: dict) -> dict:
    """A DPOExample-shaped dict, or RowProblem naming what is wrong with it."""
    problem = shape_problem(prompt, chosen, rejected)
    if problem is not None:
        raise problem
    if isinstance(prompt, str):
        texts = (prompt, chosen, rejected)
    else:
        texts = (prompt[-1]["content"], chosen[0]["content"], rejected[0]["content"])
    if not texts[0].strip():
        raise RowProblem("empty_prompt", "prompt", "the prompt (its last user turn) is empty")
    if not texts[1].strip():
        raise RowProblem("empty_chosen", "chosen", "the chosen response is empty")
    if not texts[2].strip():
        raise RowProblem("empty_rejected", "rejected", "the rejected response is empty")
    if texts[1].strip() == texts[2].strip():
        raise RowProblem("identical_pair", "rejected", "chosen and rejected are identical: no preference to learn")
    pid = extra.get("prompt_id") or prompt_id(prompt)
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, **extra, "prompt_id": pid}
