"""Line-numbered reading of JSON / JSONL / parquet sources, and the checks every importer shares.

    from prefdata.io.common import read_rows
    for row in read_rows("data.jsonl.gz"):      # SourceRow(row=1, data={...}, error=None)
        ...

A source that cannot be read at all (missing file, not JSON, unreadable parquet) raises
`DataError` (the CLI prints one line and exits 2). A single bad line does not: it comes
back as a `SourceRow` with `error` set, and the importer sends it to the rejects ledger.
Row numbers are 1-based: the line of a JSONL file, the line where an element of a JSON
array starts, or the row index of a parquet file.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from prefdata.errors import DataError
from prefdata.io.ids import normalize_prompt, prompt_id
from prefdata.tables import Rejects

ROLES = ("system", "user", "assistant")
PROVENANCE = ("prompt_id", "chosen_score", "rejected_score", "margin", "source")


@dataclass
class SourceRow:
    row: int  # the line in a JSON/JSONL file, the row index in a parquet file (1-based)
    data: dict | None = None
    error: tuple[str, str] | None = None  # (reason code, message)
    unit: str = "line"


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


class RowProblem(Exception):
    """Raised inside an importer's per-row parser; becomes one reject row."""

    def __init__(self, reason: str, message: str, field_name: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field_name


# ---------------------------------------------------------------- reading files


def _open_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")  # tolerate a UTF-8 BOM (Windows editors write one)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read the file ({e}). Check that it is a complete JSON/JSONL file.") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}). Convert it to UTF-8 JSON/JSONL.") from None


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _json_array_rows(path: Path, text: str) -> Iterator[SourceRow]:
    decoder = json.JSONDecoder()
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{path}: line {e.lineno}, column {e.colno}: not valid JSON ({e.msg}). A JSON file must hold "
            "one array of objects; for one object per line use JSONL."
        ) from None
    # Walk the array once more to learn the line where each element starts.
    pos = text.index("[") + 1
    for item in data:
        while text[pos] in " \t\r\n,":
            pos += 1
        line = _line_of(text, pos)
        _, pos = decoder.raw_decode(text, pos)
        yield _row_from_value(path, line, item)


def _row_from_value(path: Path, row: int, value: Any) -> SourceRow:
    if isinstance(value, dict):
        return SourceRow(row, data=value)
    return SourceRow(row, error=("bad_row", f"{path}: line {row}: expected a JSON object, got {type(value).__name__}"))


def _jsonl_rows(path: Path, text: str) -> Iterator[SourceRow]:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            yield SourceRow(line_no, error=("bad_json", f"{path}: line {line_no}, column {e.colno}: not valid JSON ({e.msg})"))
            continue
        yield _row_from_value(path, line_no, value)


def _parquet_rows(path: Path) -> Iterator[SourceRow]:
    import polars as pl

    try:
        df = pl.read_parquet(path)
    except Exception as e:  # polars raises several types for corrupt files
        raise DataError(f"{path}: cannot read parquet ({type(e).__name__}: {e}).") from None
    for i, row in enumerate(df.iter_rows(named=True), start=1):
        yield SourceRow(i, data=row, unit="row")


def _is_jsonl_name(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.gz", ".ndjson"))


def _several_json_values(text: str) -> bool:
    """True for JSONL whose first line happens to be an array (`[..]\n{..}`)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return e.msg == "Extra data"
    return False


def read_rows(path: str | Path) -> list[SourceRow]:
    """Every row of a .json / .jsonl / .json(l).gz / .parquet file, numbered from 1."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file. Pass the path of a JSON, JSONL or parquet file.")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; pass a data file (or use --format trl for a prefdata dataset directory).")
    if path.suffix == ".parquet":
        return list(_parquet_rows(path))
    text = _open_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{path}: the file is empty.")
    if stripped[0] == "[" and not _is_jsonl_name(path) and not _several_json_values(text):
        return list(_json_array_rows(path, text))
    rows = list(_jsonl_rows(path, text))
    if rows and all(r.error and r.error[0] == "bad_json" for r in rows):
        raise DataError(f"{path}: no line is valid JSON; is this a JSON/JSONL file? ({rows[0].error[1]})")
    return rows


# ---------------------------------------------------------------- building examples


def require(data: dict, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
    if key not in data or data[key] is None:
        raise RowProblem("missing_field", f"missing field {key!r} ({what})", key)
    value = data[key]
    if not isinstance(value, kinds):
        names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
        raise RowProblem("bad_type", f"field {key!r} must be {names}, got {type(value).__name__}", key)
    return value


def messages(value: Any, field_name: str) -> list[dict[str, str]]:
    """A list of {role, content} dicts with known roles and string contents."""
    if not isinstance(value, list):
        raise RowProblem("bad_type", f"field {field_name!r} must be a list of messages, got {type(value).__name__}", field_name)
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            raise RowProblem("bad_type", f"{field_name}[{i}] must be an object with role and content", field_name)
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise RowProblem("unknown_role", f"{field_name}[{i}].role is {role!r}; expected one of {', '.join(ROLES)}", field_name)
        if not isinstance(content, str):
            raise RowProblem("bad_type", f"{field_name}[{i}].content must be a string, got {type(content).__name__}", field_name)
        out.append({"role": role, "content": content})
    return out


def _optional_float(data: dict, key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RowProblem("bad_type", f"field {key!r} must be a finite number, got {value!r}", key)
    return float(value)


def provenance(data: dict, default_source: str) -> dict:
    """prompt_id / scores / margin / source columns when the row carries them (round-trips)."""
    out = {k: _optional_float(data, k) for k in ("chosen_score", "rejected_score", "margin")}
    for key, default in (("prompt_id", None), ("source", default_source)):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise RowProblem("bad_type", f"field {key!r} must be a string, got {type(value).__name__}", key)
        out[key] = value or default
    return out


def build_example(prompt: Any, chosen: Any, rejected: Any, extra: dict) -> dict:
    """A DPOExample-shaped dict, or RowProblem naming what is wrong with it."""
    if isinstance(prompt, str):
        if not all(isinstance(x, str) for x in (chosen, rejected)):
            raise RowProblem("mixed_format", "prompt is a string but chosen/rejected are not", "chosen")
        texts = (prompt, chosen, rejected)
    else:
        _check_conversation(prompt, chosen, rejected)
        texts = (prompt[-1]["content"], chosen[0]["content"], rejected[0]["content"])
    if not texts[0].strip():
        raise RowProblem("empty_prompt", "the prompt (its last user turn) is empty", "prompt")
    if not texts[1].strip():
        raise RowProblem("empty_chosen", "the chosen response is empty", "chosen")
    if not texts[2].strip():
        raise RowProblem("empty_rejected", "the rejected response is empty", "rejected")
    if texts[1].strip() == texts[2].strip():
        raise RowProblem("identical_pair", "chosen and rejected are identical: no preference to learn", "rejected")
    pid = extra.get("prompt_id") or prompt_id(prompt)
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, **extra, "prompt_id": pid}


def _check_conversation(prompt: list, chosen: Any, rejected: Any) -> None:
    if not prompt:
        raise RowProblem("empty_prompt", "the prompt has no messages", "prompt")
    if any(m["role"] == "system" for m in prompt[1:]):
        raise RowProblem("misplaced_system", "a system message may only come first in the prompt", "prompt")
    if prompt[-1]["role"] != "user":
        raise RowProblem("prompt_not_user_final", f"the prompt must end with a user turn, ends with {prompt[-1]['role']!r}", "prompt")
    for name, msgs in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(msgs, list):
            raise RowProblem("mixed_format", f"prompt is a conversation but {name} is not a message list", name)
        if len(msgs) != 1 or msgs[0]["role"] != "assistant":
            roles = [m["role"] for m in msgs]
            raise RowProblem("bad_completion", f"{name} must be exactly one assistant message, got roles {roles}", name)


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
