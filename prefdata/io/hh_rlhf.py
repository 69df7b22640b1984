"""Anthropic HH-RLHF transcripts -> conversational explicit-prompt DPO examples.

    from prefdata.io.hh_rlhf import read
    result = read("../shared/data/hh-rlhf/harmless-base-test.jsonl.gz")
    result.examples[0]["prompt"]   # [{"role": "user", ...}, {"role": "assistant", ...}, {"role": "user", ...}]

Each row holds two raw transcripts, `chosen` and `rejected`, written as
`\\n\\nHuman: ...\\n\\nAssistant: ...` turns. The prompt is the turns both share; chosen and
rejected are the differing final assistant turns. Rows where the transcripts differ before
their last assistant turn are rejected (`prompt_mismatch`): they are not one prompt with two
answers. Turn contents are stripped of surrounding whitespace (the raw format puts a space
after each speaker tag and sometimes trailing spaces at the end).
"""

from __future__ import annotations

import re
from pathlib import Path

from prefdata.io.checks import build_example, provenance, require
from prefdata.io.common import Collector, Importer, ImportResult
from prefdata.io.rows import RowProblem, read_rows

TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")
ROLE = {"Human": "user", "Assistant": "assistant"}


def parse_transcript(text: str, field_name: str) -> list[dict[str, str]]:
    """`\\n\\nHuman: a\\n\\nAssistant: b` -> [{"role": "user", "content": "a"}, {"role": "assistant", ...}]."""
    matches = list(TURN.finditer(text))
    if not matches:
        raise RowProblem("bad_transcript", field_name, f"{field_name} has no 'Human:'/'Assistant:' turns")
    if text[: matches[0].start()].strip():
        raise RowProblem("bad_transcript", field_name, f"{field_name} has text before its first 'Human:' turn")
    turns = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        turns.append({"role": ROLE[m.group(1)], "content": text[m.end():end].strip()})
    return turns


def parse_row(data: dict, source: str) -> dict:
    chosen = parse_transcript(require(data, "chosen", str, "the preferred transcript"), "chosen")
    rejected = parse_transcript(require(data, "rejected", str, "the dispreferred transcript"), "rejected")
    for name, turns in (("chosen", chosen), ("rejected", rejected)):
        if turns[-1]["role"] != "assistant":
            raise RowProblem("no_final_assistant", name, f"{name} does not end with an 'Assistant:' turn")
    if chosen[:-1] != rejected[:-1]:
        at = next((i for i, (a, b) in enumerate(zip(chosen[:-1], rejected[:-1])) if a != b), min(len(chosen), len(rejected)) - 1)
        raise RowProblem(
            "prompt_mismatch",
            "rejected",
            f"chosen and rejected differ before their last assistant turn (first at turn {at + 1}): "
            "not one prompt with two answers",
        )
    prompt = chosen[:-1]
    empty = next((i for i, m in enumerate(prompt) if not m["content"]), None)
    if empty is not None:
        raise RowProblem("empty_turn", "chosen", f"prompt turn {empty + 1} ({prompt[empty]['role']}) is empty")
    return build_example(prompt, chosen[-1:], rejected[-1:], provenance(data, source))


def read(path: str | Path, *, source: str | None = None) -> ImportResult:
    path = Path(path)
    name = source or path.name
    result = ImportResult(format="hh-rlhf", source=str(path))
    return Collector(result).run(read_rows(path), lambda data, _row: parse_row(data, name))


def looks_like(row: dict) -> bool:
    """Sniffer: string chosen/rejected holding Human:/Assistant: transcripts."""
    chosen = row.get("chosen")
    return isinstance(chosen, str) and isinstance(row.get("rejected"), str) and "Human:" in chosen and "Assistant:" in chosen


class HHRLHF(Importer):
    """Anthropic HH-RLHF: `chosen`/`rejected` are whole `Human:`/`Assistant:` transcripts."""

    name = "hh-rlhf"
    looks_like = staticmethod(looks_like)
    read = staticmethod(read)
