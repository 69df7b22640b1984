"""Verifiable instructions (IFEval's checkers): the spec a prompt's reference holds, adding
instructions to prompts, and checking answers against them.

    from prefdata.instructions import parse_spec, add_instructions, follows
    spec, text = add_instructions("Where do mice hide?", n=1, ids=["punctuation:no_comma"], seed=7)
    # text: "Where do mice hide? In your entire response, refrain from the use of any commas."
    follows(parse_spec(spec.to_json()), "Under the sink.", prompt=text)   # strict [True], loose [True]

The reference of a prompt with instructions is a JSON object with IFEval's own field names:

    {"instruction_id_list": ["punctuation:no_comma", "keywords:existence"],
     "kwargs": [{}, {"keywords": ["stable", "charity"]}]}

`kwargs` may be left out (no arguments), and its entries are the checker's
`build_description` arguments. The checkers come from the `if-verifiable` package
(`pip install 'prefdata[ifeval]'`), which carries IFEval's instruction registry; IFEval
itself loads from the hub, so prompts are made here: `add_instructions` appends seeded,
mutually compatible instructions (IFEval's conflict table) to a prompt, as Tulu 3 builds
its instruction-following preference data. The two checkers that need data this machine
lacks (nltk's punkt tokenizer: number_sentences, capital_word_frequency; `stand_in_ids()`)
run with documented regex stand-ins (`punkt_stand_in`); judges and `prefdata eval` count the
answers scored that way.
"""

from __future__ import annotations

import json
import random
import re
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator

from prefdata.errors import PrefdataError

# Instructions that can be appended to any question without changing what is asked; left
# out: a response language (the relevance check reads English), two responses, repeating
# the prompt and yes/no/maybe answers (they change the task), and the checkers that need
# nltk's punkt data. The list is IFEval's ids as they appear in its registry.
DEFAULT_INSTRUCTIONS = (
    "keywords:existence", "keywords:forbidden_words", "keywords:frequency", "keywords:letter_frequency",
    "length_constraints:number_words", "length_constraints:number_paragraphs",
    "detectable_content:number_placeholders", "detectable_content:postscript",
    "detectable_format:number_bullet_lists", "detectable_format:number_highlighted_sections",
    "detectable_format:title", "detectable_format:json_format",
    "change_case:english_lowercase", "change_case:english_capital",
    "punctuation:no_comma", "startend:quotation", "startend:end_checker",
)
_PROBE = "Hello world. This is a test, of sorts.\n\nP.S. Thank you."


class SpecError(ValueError):
    """A reference that is not a valid instruction spec; `field` names the part that is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class InstructionSpec:
    ids: tuple[str, ...]
    kwargs: tuple[dict[str, Any], ...] = field(default=())

    def to_json(self) -> str:
        return json.dumps({"instruction_id_list": list(self.ids), "kwargs": [dict(k) for k in self.kwargs]},
                          sort_keys=True)


@dataclass(frozen=True)
class Verdicts:
    """Per instruction of a spec: followed (strict), and followed after IFEval's loose cleanups."""

    strict: list[bool]
    loose: list[bool]

    def score(self, level: str = "instruction", loose: bool = False) -> float:
        """instruction: the share followed; prompt: 1.0 only if all are followed."""
        passed = self.loose if loose else self.strict
        if not passed:
            return 0.0
        return sum(passed) / len(passed) if level == "instruction" else float(all(passed))


def registry() -> dict[str, type]:
    """IFEval's instruction id -> checker class."""
    try:
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
    except ImportError:
        raise PrefdataError("verifiable instructions need IFEval's checkers: pip install 'prefdata[ifeval]' "
                            "(the if-verifiable package)") from None
    return INSTRUCTION_DICT


@lru_cache(maxsize=1)
def _conflicts() -> dict[str, frozenset[str]]:
    """IFEval's conflict table made symmetric (A conflicts with B -> B with A; each with itself)."""
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_CONFLICTS

    table = {k: set(v) for k, v in INSTRUCTION_CONFLICTS.items()}
    for key, values in list(table.items()):
        for other in values:
            table.setdefault(other, set()).add(key)
        values.add(key)
    return {k: frozenset(v) for k, v in table.items()}


# Stand-ins for nltk's punkt data (sentence and word tokenizers), which cannot be downloaded
# here: IFEval's checkers for sentence counts and capital-word counts use them. A sentence ends
# at . ! or ? followed by white space or the end (after a closing quote or bracket too); words
# are runs of letters and digits with inner apostrophes or hyphens, and each other non-space
# character, as punkt's word tokenizer splits plain English. They differ from punkt on
# abbreviations ("e.g. this" is two sentences here), so scores that used them are counted.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*|[^\w\s]")


class _Sentences:
    @staticmethod
    def tokenize(text: str) -> list[str]:
        return [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _words(text: str, *args, **kwargs) -> list[str]:
    return _WORD.findall(text)


@contextmanager
def punkt_stand_in() -> Iterator[None]:
    """IFEval's checkers with the regex stand-ins above in place of nltk's punkt data."""
    from if_verifiable.ifeval import instructions_util

    nltk = instructions_util.nltk
    saved = instructions_util._get_sentence_tokenizer, nltk.word_tokenize
    instructions_util._get_sentence_tokenizer, nltk.word_tokenize = (lambda: _Sentences()), _words
    try:
        yield
    finally:
        instructions_util._get_sentence_tokenizer, nltk.word_tokenize = saved


def _probe(iid: str) -> None:
    checker = registry()[iid](iid)
    with _seeded(0):
        checker.build_description(**({"prompt_to_repeat": "x"} if iid == "combination:repeat_prompt" else {}))
    checker.check_following(_PROBE)


@lru_cache(maxsize=None)
def stand_in_ids() -> frozenset[str]:
    """Instruction ids whose checker needs nltk's punkt data, which this machine lacks: they are
    scored with `punkt_stand_in` (empty where punkt is installed)."""
    out = set()
    for iid in registry():
        try:
            _probe(iid)
        except LookupError:
            out.add(iid)
    return frozenset(out)


@lru_cache(maxsize=None)
def unavailable() -> dict[str, str]:
    """Instruction ids whose checker cannot run on this machine even with the stand-ins, with why."""
    out, needing = {}, stand_in_ids()  # probed before the stand-ins are in place
    with punkt_stand_in():
        for iid in needing:
            try:
                _probe(iid)
            except LookupError as e:
                resource = re.search(r"Resource\W+(\w+)", str(e))
                out[iid] = (f"its checker needs nltk's {resource.group(1) if resource else 'tokenizer'} data, "
                            "which is not installed here")
    return out


def id_problems(ids: list[str]) -> list[str]:
    """Why each of `ids` cannot be used here (unknown, or its checker cannot run), one line each."""
    known, missing = registry(), unavailable()
    problems = []
    for iid in ids:
        if iid not in known:
            problems.append(f"unknown instruction id {iid!r} (IFEval's ids look like 'punctuation:no_comma'; "
                            f"known: {', '.join(sorted(known))})")
        elif iid in missing:
            problems.append(f"instruction {iid!r}: {missing[iid]}; leave it out")
    return problems


def parse_spec(reference: str | dict | None) -> InstructionSpec:
    """The spec in a prompt's reference (a JSON string or an object); SpecError names what is wrong."""
    if reference is None or (isinstance(reference, str) and not reference.strip()):
        raise SpecError("reference", "no instruction spec (the reference is empty)")
    data = reference
    if isinstance(reference, str):
        try:
            data = json.loads(reference)
        except json.JSONDecodeError as e:
            raise SpecError("reference", f"not JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(data, dict):
        raise SpecError("reference", f"expected a JSON object, got {type(data).__name__}")
    ids, kwargs = data.get("instruction_id_list"), data.get("kwargs")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise SpecError("instruction_id_list", "must be a non-empty list of instruction ids, "
                        f"e.g. [\"punctuation:no_comma\"]; got {ids!r}")
    if kwargs is None:
        kwargs = [{} for _ in ids]
    if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(isinstance(k, dict) for k in kwargs):
        raise SpecError("kwargs", f"must be a list of {len(ids)} objects, one per instruction; got {kwargs!r}")
    problems = id_problems(ids)
    if problems:
        raise SpecError("instruction_id_list", "; ".join(problems))
    for iid, kw in zip(ids, kwargs):
        try:
            _description(iid, kw)
        except (TypeError, ValueError) as e:
            raise SpecError("kwargs", f"{iid}: {e}") from None
    return InstructionSpec(tuple(ids), tuple(kwargs))


def follows(spec: InstructionSpec, response: str, prompt: str) -> Verdicts:
    """Strict and loose verdicts per instruction, with IFEval's own scoring code."""
    import langdetect
    from if_verifiable.common import evaluate_instructions

    langdetect.DetectorFactory.seed = 0  # langdetect samples: unseeded, the same answer could flip between runs
    with punkt_stand_in() if uses_stand_in(spec) else nullcontext():
        results, _ = evaluate_instructions(response, list(spec.ids), [dict(k) for k in spec.kwargs], prompt,
                                           registry())
    if not results:  # an empty answer follows nothing
        return Verdicts([False] * len(spec.ids), [False] * len(spec.ids))
    return Verdicts([r.strict_pass for r in results], [r.loose_pass for r in results])


def uses_stand_in(spec: InstructionSpec) -> bool:
    """Whether checking this spec needs the punkt stand-ins on this machine."""
    return bool(set(spec.ids) & stand_in_ids())


def descriptions(spec: InstructionSpec) -> list[str]:
    """The instruction sentences as IFEval words them for these arguments."""
    return [_description(iid, kw) for iid, kw in zip(spec.ids, spec.kwargs)]


def _description(iid: str, kwargs: dict[str, Any]) -> str:
    """The instruction sentence IFEval's checker writes for these arguments (TypeError/ValueError: bad ones)."""
    with _seeded(0):
        return registry()[iid](iid).build_description(**{k: v for k, v in kwargs.items() if v is not None})


def question_of(prompt: str, spec: InstructionSpec | None) -> str:
    """The prompt without the instruction sentences appended to it (what the answer should address)."""
    if spec is None:
        return prompt
    for sentence in descriptions(spec):
        prompt = prompt.replace(sentence, "")
    return " ".join(prompt.split()) or prompt


def add_instructions(question: str, n: int, ids: list[str] | tuple[str, ...], seed: int) -> tuple[InstructionSpec, str]:
    """`n` compatible instructions drawn from `ids` (seeded), and the question with them appended."""
    rng = random.Random(seed)
    for _ in range(50):  # a shuffle whose first compatible picks fall short is tried again
        pool = list(ids)
        rng.shuffle(pool)
        chosen = _compatible(pool)[:n]
        if len(chosen) == n:
            break
    else:
        raise PrefdataError(f"cannot pick {n} instructions that do not conflict from {list(ids)}; "
                            "lower n or list more instructions")
    kwargs, sentences = [], []
    for i, iid in enumerate(chosen):
        checker = registry()[iid](iid)
        with _seeded(rng.randrange(2**32)):
            extra = {"prompt_to_repeat": question} if iid == "combination:repeat_prompt" else {}
            sentences.append(checker.build_description(**extra))
        args = checker.get_instruction_args() or {}
        kwargs.append({k: v for k, v in args.items() if v is not None})
    spec = InstructionSpec(tuple(chosen), tuple(kwargs))
    return spec, f"{question.rstrip()} {' '.join(sentences)}"


def _compatible(ids: list[str] | tuple[str, ...]) -> list[str]:
    """Ids taken in order, each kept when it conflicts with none kept before it."""
    conflicts, chosen = _conflicts(), []
    for iid in ids:
        if not any(iid in conflicts.get(c, ()) or c in conflicts.get(iid, ()) for c in chosen):
            chosen.append(iid)
    return chosen


def max_compatible(ids: list[str] | tuple[str, ...]) -> int:
    """How many of `ids` can go together (greedy in order: a lower bound of the largest compatible set)."""
    return len(_compatible(ids))


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """IFEval's checkers draw their arguments from the global `random`: seed it, then put it back."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)
