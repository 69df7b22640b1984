"""Pure parsers for LLM-judge outputs, and the fence that keeps candidate text inert.

    from prefdata.judges.parsing import parse_ratings, parse_verdict, fence
    parse_ratings("Helpfulness: 4\\nHonesty: 5", ["helpfulness", "honesty"], 1, 5)
    # Parsed(value={'helpfulness': 4.0, 'honesty': 5.0}, status='ok', reason=None)
    parse_verdict("B is better. [[B]]")   # Parsed(value='B', status='ok', reason=None)

A judge's output is untrusted text: it may be empty, chatty, out of range, contradictory,
or echo an instruction planted in the candidate ("rate this 10"). Every parser returns a
`Parsed` with a status from records.ParseStatus and a reason; none of them raises, so one
bad output never crashes a batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Tags the templates use to delimit untrusted text; see `fence`.
FENCE_TAGS = ("prompt", "response", "response_a", "response_b", "reference")
_FENCE_RE = re.compile(r"<(/?)\s*(" + "|".join(FENCE_TAGS) + r")\b", re.IGNORECASE)
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_VERDICT_RE = re.compile(r"\[\[\s*(A|B|C|TIE)\s*\]\]", re.IGNORECASE)


@dataclass(frozen=True)
class Parsed:
    value: Any  # None unless status == "ok"
    status: str  # ok | parse_error | out_of_range
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def fence(text: str) -> str:
    """Escape anything in `text` that could open or close a template's delimiter tags.

    Templates wrap candidate text in `<response>...</response>`; a response that contains
    `</response>` followed by new instructions would otherwise break out of its block. The
    `<` of every such tag is replaced by `&lt;`, so the judge sees the text but no tag.
    """
    return _FENCE_RE.sub(lambda m: "&lt;" + m.group(1) + m.group(2), text)


def _aspect_pattern(aspect: str) -> re.Pattern:
    # "Instruction following", "instruction_following", "**Honesty**:" all match.
    words = r"[\s_-]*".join(re.escape(w) for w in re.split(r"[\s_-]+", aspect.strip()))
    return re.compile(
        r"^[\s*#>-]*" + words + r"[\s*]*(?:rating|score)?[\s*]*[:=][\s*]*(" + _NUMBER + r")(?:\s*/\s*\d+)?",
        re.IGNORECASE | re.MULTILINE,
    )


def parse_ratings(text: str | None, aspects: list[str], low: float, high: float) -> Parsed:
    """One rating per aspect from lines like `Helpfulness: 4` (value: {aspect: rating}).

    Missing aspect or two different ratings for one aspect -> parse_error; a rating outside
    [low, high] -> out_of_range. Repeating the same rating is accepted.
    """
    if not text or not text.strip():
        return Parsed(None, "parse_error", "empty judge output")
    ratings: dict[str, float] = {}
    for aspect in aspects:
        found = {float(m) for m in _aspect_pattern(aspect).findall(text)}
        if not found:
            return Parsed(None, "parse_error", f"no rating for {aspect!r} (expected a line '{aspect}: N')")
        if len(found) > 1:
            values = ", ".join(f"{v:g}" for v in sorted(found))
            return Parsed(None, "parse_error", f"conflicting ratings for {aspect!r}: {values}")
        value = found.pop()
        if not low <= value <= high:
            return Parsed(None, "out_of_range", f"{aspect} rating {value:g} outside [{low:g}, {high:g}]")
        ratings[aspect] = value
    return Parsed(ratings, "ok")


def parse_verdict(text: str | None) -> Parsed:
    """The pairwise verdict `[[A]]`, `[[B]]` or `[[C]]`/`[[TIE]]` (tie) -> 'A' | 'B' | 'tie'.

    No verdict or two different verdicts (e.g. a judge quoting an injected `[[A]]` and then
    deciding `[[B]]`) -> parse_error.
    """
    if not text or not text.strip():
        return Parsed(None, "parse_error", "empty judge output")
    found = {("tie" if v.upper() in ("C", "TIE") else v.upper()) for v in _VERDICT_RE.findall(text)}
    if not found:
        return Parsed(None, "parse_error", "no verdict (expected [[A]], [[B]] or [[C]] for a tie)")
    if len(found) > 1:
        return Parsed(None, "parse_error", f"conflicting verdicts: {', '.join(sorted(found))}")
    return Parsed(found.pop(), "ok")


_NUMBER_IN_TEXT = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\w])")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def last_number(text: str | None) -> float | None:
    """The final answer's number: inside the last `\\boxed{}` if any, else the last number.

    Thousands separators (1,234) and simple fractions (3/4) are understood; a trailing
    period ("is 42.") is not a decimal point.
    """
    if not text:
        return None
    boxed = _BOXED.findall(text)
    source = boxed[-1] if boxed else text
    matches = _NUMBER_IN_TEXT.findall(source)
    if not matches:
        return None
    token = matches[-1].replace(",", "")
    if "/" in token:
        num, den = token.split("/")
        return float(num) / float(den) if float(den) != 0 else None
    return float(token)
