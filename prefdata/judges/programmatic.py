"""Programmatic judges: verifiable checks (math answers, formats) and user functions.

    label:
      judges:
        - {type: programmatic, id: math, name: numeric_match, params: {abs_tol: 1.0e-6}}
        - {type: programmatic, id: fmt, name: regex, params: {pattern: "^Answer: "}}
        - {type: programmatic, id: mine, function: "my_pkg.checks:score"}

Built-ins (params in brackets):
- exact_match [normalize=True]: 1.0 if the response equals the prompt's `reference`
  (normalized: case, surrounding whitespace and runs of whitespace ignored), else 0.0.
- numeric_match [abs_tol=1e-6, rel_tol=0]: 1.0 if the response's final number (last
  `\\boxed{}` if any, else the last number) matches the reference's, else 0.0.
- regex [pattern, mode=search|fullmatch, ignore_case=False]: 1.0 if the pattern matches.
- json_valid [strip_code_fence=True]: 1.0 if the response parses as JSON.
- length [unit=chars|words, min, max, prefer=longer|shorter]: with min/max, 1.0 inside
  the bounds else 0.0; without, the length itself (negated for prefer=shorter).
A user function is called as `fn(prompt, response, reference, **params) -> float`, where
`prompt` is the last user turn's text (`prompt_as: messages` passes the message list).
With `mode: pairwise` it compares two answers, `fn(prompt, response_a, response_b,
reference, **params) -> "A" | "B" | "tie"`, and is called for every two candidates of a
prompt in both orders, like a pairwise LLM judge (prefdata/judges/pairwise.py: swap
consistency, win rates), e.g. a check with a known position bias:
    - {type: programmatic, id: ab, mode: pairwise, function: "my_pkg.checks:prefer"}
It is imported when the config loads, so a typo fails before any model loads. Exceptions
and non-numeric returns become missing labels with a reason; the batch goes on.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Literal

from pydantic import Field, ValidationError, ValidationInfo, model_validator

from prefdata.config import StrictModel, format_errors
from prefdata.judges.base import Judge, JudgeItem, JudgeRuns, judgment_row
from prefdata.plugins import import_object
from prefdata.judges.pairwise import candidate_pairs, pairwise_rows
from prefdata.judges.parsing import Parsed, last_number


class MissingLabel(Exception):
    """Raised by a check that cannot label an item (e.g. no reference answer)."""

    def __init__(self, reason: str, status: str = "error"):
        super().__init__(reason)
        self.reason, self.status = reason, status


class ExactMatchParams(StrictModel):
    normalize: bool = Field(True, description="Ignore case and whitespace differences.")


class NumericMatchParams(StrictModel):
    abs_tol: float = Field(1e-6, ge=0, description="Absolute tolerance.")
    rel_tol: float = Field(0.0, ge=0, description="Relative tolerance.")


class RegexParams(StrictModel):
    pattern: str = Field(description="Python regular expression.")
    mode: Literal["search", "fullmatch"] = "search"
    ignore_case: bool = False

    @model_validator(mode="after")
    def _compiles(self):
        try:
            re.compile(self.pattern)
        except re.error as e:
            raise ValueError(f"pattern {self.pattern!r} is not a valid regular expression: {e}") from None
        return self


class JsonValidParams(StrictModel):
    strip_code_fence: bool = Field(True, description="Accept a ```json ... ``` fenced block.")


class LengthParams(StrictModel):
    unit: Literal["chars", "words"] = "chars"
    min: int | None = Field(None, ge=0, description="Lower bound (inclusive) for a 0/1 score.")
    max: int | None = Field(None, ge=0, description="Upper bound (inclusive) for a 0/1 score.")
    prefer: Literal["longer", "shorter"] = Field("shorter", description="Without bounds: sign of the score.")

    @model_validator(mode="after")
    def _bounds(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


def _normalize(text: str) -> str:
    return " ".join(text.split()).casefold()


def _need_reference(reference: str | None) -> str:
    if reference is None or not reference.strip():
        raise MissingLabel("no reference answer for this prompt (add 'reference' to the prompt row)")
    return reference


def exact_match(prompt: str, response: str, reference: str | None, normalize: bool = True) -> float:
    ref = _need_reference(reference)
    if normalize:
        return float(_normalize(response) == _normalize(ref))
    return float(response == ref)


def numeric_match(prompt: str, response: str, reference: str | None, abs_tol=1e-6, rel_tol=0.0) -> float:
    expected = last_number(_need_reference(reference))
    if expected is None:
        raise MissingLabel(f"reference {reference!r} contains no number")
    got = last_number(response)
    if got is None:
        return 0.0  # a verifiable task answered without a number is wrong, not unlabelled
    return float(math.isclose(got, expected, abs_tol=abs_tol, rel_tol=rel_tol))


def regex(prompt: str, response: str, reference: str | None, pattern: str, mode="search", ignore_case=False) -> float:
    flags = re.IGNORECASE if ignore_case else 0
    match = re.fullmatch(pattern, response, flags) if mode == "fullmatch" else re.search(pattern, response, flags)
    return float(match is not None)


_CODE_FENCE = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def json_valid(prompt: str, response: str, reference: str | None, strip_code_fence=True) -> float:
    text = response
    if strip_code_fence and (m := _CODE_FENCE.match(text)):
        text = m.group(1)
    try:
        json.loads(text)
    except ValueError:
        return 0.0
    return 1.0


def length(prompt: str, response: str, reference: str | None, unit="chars", min=None, max=None, prefer="shorter") -> float:
    n = len(response.split()) if unit == "words" else len(response)
    if min is not None or max is not None:
        return float((min is None or n >= min) and (max is None or n <= max))
    return float(n if prefer == "longer" else -n)


BUILTINS: dict[str, tuple[Callable[..., float], type[StrictModel]]] = {
    "exact_match": (exact_match, ExactMatchParams),
    "numeric_match": (numeric_match, NumericMatchParams),
    "regex": (regex, RegexParams),
    "json_valid": (json_valid, JsonValidParams),
    "length": (length, LengthParams),
}
BuiltinName = Literal["exact_match", "numeric_match", "regex", "json_valid", "length"]


class ProgrammaticJudgeConfig(StrictModel):
    type: Literal["programmatic"] = "programmatic"
    id: str = Field(description="Judge id, unique in the recipe; written to every judgment.")
    name: BuiltinName | None = Field(None, description="A built-in check.")
    function: str | None = Field(None, description="'module:function' returning a float score.")
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the check.")
    prompt_as: Literal["text", "messages"] = Field(
        "text", description="User functions get the last user turn ('text') or the message list."
    )
    mode: Literal["pointwise", "pairwise"] = Field(
        "pointwise", description="pairwise: `function` compares two answers and returns 'A', 'B' or 'tie'.")
    max_pairs_per_prompt: int | None = Field(None, ge=1, description="pairwise: compare at most this many pairs.")

    @model_validator(mode="after")
    def _one_check(self, info: ValidationInfo):
        if self.mode == "pairwise" and self.function is None:
            raise ValueError("mode: pairwise needs a 'function' ('module:function' returning 'A', 'B' or 'tie'); "
                             "the built-in checks score one answer at a time")
        if (self.name is None) == (self.function is None):
            raise ValueError(
                f"give exactly one of 'name' (built-in: {', '.join(BUILTINS)}) or 'function' "
                f"('module:function'); got name={self.name!r}, function={self.function!r}"
            )
        if self.name is not None:
            try:
                BUILTINS[self.name][1].model_validate(self.params)
            except ValidationError as e:
                raise ValueError(f"params of {self.name}: " + "; ".join(format_errors(e))) from None
        else:
            # ValueError with the fix if it does not import; a module beside the recipe imports
            fn = import_object(self.function, (info.context or {}).get("base_dir"))
            if not callable(fn):
                raise ValueError(f"{self.function!r} is not callable")
        return self


class ProgrammaticJudge(Judge):
    """A built-in check below (name: ...) or your own function (function: 'module:function')."""

    name, Config = "programmatic", ProgrammaticJudgeConfig
    judge_type = "programmatic"

    @classmethod
    def runs(cls, config: ProgrammaticJudgeConfig) -> JudgeRuns:
        return JudgeRuns(per="pair" if config.mode == "pairwise" else "candidate")  # cheap: every candidate at once

    def __init__(self, config: ProgrammaticJudgeConfig):
        super().__init__(config)
        self.judge_type = "programmatic" if config.mode == "pointwise" else "programmatic_pairwise"
        self._stats: dict[str, Any] = {}
        if config.name is not None:
            fn, params_model = BUILTINS[config.name]
            self._params = params_model.model_validate(config.params).model_dump()
            self.model = f"builtin:{config.name}"
        else:
            fn, self._params = import_object(config.function), dict(config.params)
            self.model = config.function
        self._fn = fn

    def _prompt_arg(self, item: JudgeItem) -> str | list:
        if self.config.function is not None and self.config.prompt_as == "messages":
            return item.prompt
        return next(m["content"] for m in reversed(item.prompt) if m["role"] == "user")

    def judge(self, items: list[JudgeItem], progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        if self.config.mode == "pairwise":
            rows = self._pairwise(items)
        else:
            rows = [self._one(item) for item in items]
        if progress is not None:
            progress(len(items))
        return rows

    def stats(self) -> dict[str, Any]:
        return dict(self._stats)

    def _pairwise(self, items: list[JudgeItem]) -> list[dict[str, Any]]:
        pairs = candidate_pairs(items, self.config.max_pairs_per_prompt)
        verdicts = []
        for i, j in pairs:
            verdicts += [self._verdict(items[i], items[j]), self._verdict(items[j], items[i])]
        rows, self._stats = pairwise_rows(self, items, pairs, verdicts, [repr(v.value) for v in verdicts])
        return rows

    def _verdict(self, first: JudgeItem, second: JudgeItem) -> Parsed:
        try:
            value = self._fn(self._prompt_arg(first), first.response, second.response, first.reference, **self._params)
        except MissingLabel as e:
            return Parsed(None, e.status, e.reason)
        except Exception as e:  # a user function's bug must not sink the batch
            return Parsed(None, "error", f"{self.model} raised {type(e).__name__}: {e}")
        if value in ("A", "B", "tie"):
            return Parsed(value, "ok")
        return Parsed(None, "parse_error", f"{self.model} returned {value!r}, expected 'A', 'B' or 'tie'")

    def _one(self, item: JudgeItem) -> dict[str, Any]:
        try:
            value = self._fn(self._prompt_arg(item), item.response, item.reference, **self._params)
        except MissingLabel as e:
            return judgment_row(self, item, score=None, parse_status=e.status, reason=e.reason)
        except Exception as e:  # a user function's bug must not sink the batch
            reason = f"{self.model} raised {type(e).__name__}: {e}"
            return judgment_row(self, item, score=None, parse_status="error", reason=reason)
        if isinstance(value, bool) or isinstance(value, (int, float)):
            score = float(value)
            if math.isfinite(score):
                return judgment_row(self, item, score=score, raw_output=repr(value))
            reason = f"{self.model} returned {score}: not a finite score"
        else:
            reason = f"{self.model} returned {type(value).__name__} {value!r}, expected a float"
        return judgment_row(self, item, score=None, parse_status="invalid_score", reason=reason, raw_output=repr(value))
