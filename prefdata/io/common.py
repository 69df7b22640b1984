"""What every importer shares: the `Importer` interface, its `ImportResult`, and the `Collector`.

    from prefdata.io.common import Collector, ImportResult
    result = ImportResult(format="trl", source="prefs.jsonl")
    Collector(result).run(read_rows("prefs.jsonl"), parse)   # parse(data, row) -> example dict

The collector runs a per-row parser over `prefdata.io.rows.read_rows`' rows: kept rows
become examples, a `RowProblem` (or a bad line) one reject naming the file and line, so
kept + rejected = input rows. The row checks themselves are in `prefdata.io.checks`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from prefdata.io.ids import normalize_prompt
from prefdata.io.rows import RowProblem, SourceRow
from prefdata.ledger import Rejects

PROVENANCE = ("prompt_id", "chosen_score", "rejected_score", "margin", "source", "provenance")


@dataclass
class ImportResult:
    """What an importer returns; `input_rows == len(examples) + len(rejects)` always holds
    for pair formats (UltraFeedback rows without a preference are rejected from `examples`
    but still yield prompts/candidates/judgments)."""

    format: str
    source: str
    input_rows: int = 0
    examples: list[dict] = field(default_factory=list)
    rejects: Rejects = field(default_factory=lambda: Rejects(stage="import"))
    splits: list[str] | None = None  # per example, when the source already had splits
    prompts: list[dict] | None = None
    candidates: list[dict] | None = None
    judgments: list[dict] | None = None
    notes: dict = field(default_factory=dict)


class Importer:
    """A source format: `looks_like(row)` sniffs it, `read(path, **options)` imports it.

        class MyFormat(Importer):
            '''my-format: what its rows hold (`prefdata import --help` shows this line).'''
            name = "my-format"
            looks_like = staticmethod(lambda row: "question" in row)
            read = staticmethod(read)          # the module's read(path, *, source=None) -> ImportResult

    In prefdata itself, register it with one line in `prefdata.io.importer.IMPORTERS` (its order
    is the sniffing order: the loosest format last). In your own code, name it
    `--format my_formats:MyFormat` (my_formats.py in the current directory or on PYTHONPATH), or
    register it under the `prefdata.importers` entry-point group of an installed package
    (`--format my-format`); `--format auto` never picks these: name them.
    """

    name: ClassVar[str]
    reads_directories: ClassVar[bool] = False  # a dataset directory rather than one file
    options: ClassVar[tuple[str, ...]] = ()  # keyword options of `read` the CLI passes through

    @staticmethod
    def looks_like(row: dict) -> bool:
        raise NotImplementedError

    @staticmethod
    def sniffed_options(row: dict) -> dict:
        """Reader options learnt from the first row (e.g. LLaMA-Factory's alpaca vs sharegpt)."""
        return {}

    @staticmethod
    def read(path: str | Path, **options) -> ImportResult:
        raise NotImplementedError


class Collector:
    """Runs a per-row parser over source rows: kept rows to `examples`, problems to rejects.

    Also enforces one format per dataset (all standard or all conversational: the first
    kept row decides) and that one prompt_id never names two different prompts.
    """

    unit = "line"

    def __init__(self, result: ImportResult):
        self.result = result
        self.source = result.source
        self.kind: str | None = None
        self._prompts_by_id: dict[str, Any] = {}
        self._seen: dict[tuple, int] = {}

    def reject(self, row: int, reason: str, message: str, field_name: str | None = None, row_id: str | None = None):
        self.result.rejects.add(reason, f"{self.source}: {self.unit} {row}: {message}", row=row,
                                field=field_name, row_id=row_id, source=self.source)

    def add(self, row: int, example: dict, split: str | None = None) -> bool:
        kind = "standard" if isinstance(example["prompt"], str) else "conversational"
        self.kind = self.kind or kind
        pid = example["prompt_id"]
        if kind != self.kind:
            self.reject(row, "mixed_format", f"{kind} example in a {self.kind} dataset (the first kept row decides)", "prompt", pid)
            return False
        # Normalized, so computed ids (hashes of the normalized prompt) never conflict; only
        # ids given in the input can name two different prompts.
        if self._prompts_by_id.setdefault(pid, normalize_prompt(example["prompt"])) != normalize_prompt(example["prompt"]):
            self.reject(row, "duplicate_id", f"prompt_id {pid!r} already names a different prompt", "prompt_id", pid)
            return False
        # Exact duplicate rows are legal DPO data (the real LLaMA-Factory demo has 5): keep them,
        # count them in stats.json, and leave dropping them to the dedup filter.
        key = (pid, json.dumps(example["chosen"]), json.dumps(example["rejected"]))
        if key in self._seen:
            self.result.notes["duplicate_rows"] = self.result.notes.get("duplicate_rows", 0) + 1
        self._seen.setdefault(key, row)
        self.result.examples.append(example)
        if split is not None:
            if self.result.splits is None:
                self.result.splits = []
            self.result.splits.append(split)
        return True

    def run(self, rows: list[SourceRow], parse, *, split: str | None = None, source: str | None = None) -> ImportResult:
        """`parse(data, row) -> example dict`, raising RowProblem for a bad row. `source` names the
        file in messages when one import reads several (a dataset directory's splits)."""
        self.source = source or self.result.source
        self.result.input_rows += len(rows)
        for src in rows:
            self.unit = src.unit
            if src.error:
                self.result.rejects.add(src.error[0], src.error[1], row=src.row, source=self.source)
                continue
            try:
                example = parse(src.data, src.row)
            except RowProblem as p:
                self.reject(src.row, p.reason, p.message, p.field)
                continue
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
                # Safety net: a row shaped in a way no check foresaw is still one reject, not a crash.
                self.reject(src.row, "bad_row", f"cannot parse the row ({type(e).__name__}: {e})")
                continue
            self.add(src.row, example, split)
        return self.result


def common_prefix_len(a: list, b: list) -> int:
    """How many leading items two sequences (messages, token ids) share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
