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
import unicodedata
from dataclasses import dataclass
from typing import Any

# Tags the templates use to delimit untrusted text; see `fence`.
FENCE_TAGS = ("prompt", "response", "response_a", "response_b", "reference")
# Characters a reader (or a judge model) does not see: removed from fenced text, so that
# "<\u200b/response>" cannot pass for something else than "</response>".
_INVISIBLE = dict.fromkeys([0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, *range(0x200B, 0x2010),
                            *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0x3164, 0xFEFF, 0xFFA0, *range(0xE0000, 0xE0080)])
# Look-alikes of "<" and of the Latin letters of tag names (Cyrillic, Greek): a tag written with
# them reads as the real tag to a model, so it is matched (and escaped) as one.
_LOOKALIKES = str.maketrans({
    "\u2039": "<", "\u2329": "<", "\u3008": "<", "\u27e8": "<", "\u02c2": "<", "\ufe64": "<", "\u276e": "<",
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0455": "s", "\u0456": "i",
    "\u0501": "d", "\u0445": "x", "\u0443": "y", "\u043d": "h", "\u0442": "t", "\u0433": "r", "\u043f": "n",
    "\u03bf": "o", "\u03b1": "a", "\u03b5": "e", "\u03c1": "p", "\u03bd": "v", "\u03c4": "t", "\u0391": "a",
    "\u0395": "e", "\u039f": "o", "\u03a1": "p", "\u03a4": "t", "\u0410": "a", "\u0415": "e", "\u041e": "o",
    "\u0420": "p", "\u0421": "c", "\u0405": "s", "\u0406": "i", "\u0422": "t", "\u041d": "h",
})
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


def fence(text: str, tags: tuple[str, ...] = FENCE_TAGS) -> str:
    """Escape anything in `text` that could open or close a template's delimiter tags.

    Templates wrap candidate text in `<response>...</response>`; a response that contains
    `</response>` followed by new instructions would otherwise break out of its block. The
    `<` of every such tag is replaced by `&lt;`, so the judge sees the text but no tag. Tags
    spelt with look-alike characters (fullwidth or Cyrillic letters, a "‹" for "<") count as
    tags, and invisible characters (zero-width spaces, direction marks) are removed first.
    """
    text = text.translate(_INVISIBLE)
    skeleton = "".join(_skeleton(c) for c in text)  # same length as text: positions line up
    pattern = re.compile(r"<\s*/?\s*(?:" + "|".join(map(re.escape, tags)) + r")(?![\w-])", re.IGNORECASE)
    starts = {m.start() for m in pattern.finditer(skeleton)}
    return "".join("&lt;" if i in starts else c for i, c in enumerate(text))


def _skeleton(char: str) -> str:
    """One character's plain form: NFKC (fullwidth "＜" -> "<") and the look-alike table."""
    folded = unicodedata.normalize("NFKC", char)
    return (folded if len(folded) == 1 else char).translate(_LOOKALIKES)


def template_tags(source: str) -> tuple[str, ...]:
    """Delimiter tags a (custom) judge template uses, with the built-in ones: all are fenced."""
    found = {m.lower() for m in re.findall(r"</?\s*([A-Za-z_][\w-]*)\s*>", source)}
    return tuple(sorted(found | set(FENCE_TAGS)))


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
