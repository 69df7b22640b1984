"""TRL preference datasets (standard or conversational, explicit or implicit prompt) -> DPO examples.

    from prefdata.io.trl import read
    result = read("prefs.jsonl")          # a JSON/JSONL/parquet file
    result = read("data/hh")              # or a dataset directory (train.parquet, test.parquet...)

Explicit prompt: `prompt` + `chosen` + `rejected` columns, all strings (standard) or all
message lists (conversational). Implicit prompt (no `prompt` column):
- conversational: the prompt is the longest common prefix of *whole messages* of chosen
  and rejected (TRL's `extract_prompt` at turn level); what remains must be one assistant
  message on each side. A string is never split.
- standard (strings): TRL would cut at the longest common *character* prefix, i.e. inside
  a word. We do not: rows whose strings are `Human:`/`Assistant:` transcripts are split at
  those turn markers (the one clear boundary, as in HH-RLHF); any other implicit string
  row is rejected (`implicit_string_prompt`) with a message asking for a prompt column.
Provenance columns (prompt_id, chosen_score, rejected_score, margin, source, provenance) are kept
when present, so a prefdata dataset directory re-imports to identical rows; a directory's
split files keep their split.
"""

from __future__ import annotations

from pathlib import Path

from prefdata.errors import DataError
from prefdata.io import hh_rlhf
from prefdata.io.checks import build_example, messages, provenance
from prefdata.io.common import Collector, Importer, ImportResult, common_prefix_len
from prefdata.io.rows import RowProblem, read_rows

NOT_SPLITS = ("rejects", "prompts", "candidates", "judgments", "dataset_info", "stats", "export")


def parse_row(data: dict, source: str) -> dict:
    extra = provenance(data, source)
    chosen, rejected = data.get("chosen"), data.get("rejected")
    for key, value in (("chosen", chosen), ("rejected", rejected)):
        if value is None:
            raise RowProblem("missing_field", key, f"missing field {key!r}")
    prompt = data.get("prompt")
    if prompt is not None:
        if isinstance(prompt, str):
            for key, value in (("chosen", chosen), ("rejected", rejected)):
                if not isinstance(value, str):
                    raise RowProblem("mixed_format", key, f"prompt is a string, so {key!r} must be one too, got {type(value).__name__}")
            return build_example(prompt, chosen, rejected, extra)
        return build_example(messages(prompt, "prompt"), messages(chosen, "chosen"), messages(rejected, "rejected"), extra)
    if isinstance(chosen, str) and isinstance(rejected, str):
        if hh_rlhf.looks_like(data):
            return hh_rlhf.parse_row(data, source)
        raise RowProblem("implicit_string_prompt", "prompt", "no 'prompt' column and chosen/rejected are plain strings: splitting "
                         "them would cut inside a string. Add a 'prompt' column (explicit prompt).")
    chosen, rejected = messages(chosen, "chosen"), messages(rejected, "rejected")
    if chosen == rejected:
        raise RowProblem("identical_pair", "rejected", "chosen and rejected are identical conversations")
    k = common_prefix_len(chosen, rejected)
    return build_example(chosen[:k], chosen[k:], rejected[k:], extra)


def split_files(directory: Path) -> dict[str, list[Path]]:
    """Data files of a dataset directory by split name (`train.parquet`, `test-00000.parquet`...)."""
    splits: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        name = path.name
        if not path.is_file() or not name.endswith((".parquet", ".jsonl", ".json", ".jsonl.gz")):
            continue
        split = name.split(".")[0].split("-")[0]
        if split.startswith(NOT_SPLITS):
            continue
        splits.setdefault(split, []).append(path)
    # A directory holding parquet splits is a dataset directory: its JSON files are something else.
    parquet = {s: [p for p in files if p.suffix == ".parquet"] for s, files in splits.items()}
    if any(parquet.values()):
        return {s: files for s, files in parquet.items() if files}
    return splits


def read(path: str | Path, *, source: str | None = None) -> ImportResult:
    path = Path(path)
    result = ImportResult(format="trl", source=str(path))
    collector = Collector(result)
    if not path.is_dir():
        label = source or path.name
        return collector.run(read_rows(path), lambda data, _row: parse_row(data, label))
    splits = split_files(path)
    if not splits:
        raise DataError(f"{path}: no data files (train.parquet, test.parquet, *.jsonl) in this directory.")
    label = source or path.name
    for split, files in splits.items():
        for file in files:
            collector.run(read_rows(file), lambda data, _row: parse_row(data, label), split=split, source=str(file))
    return result


def looks_like(row: dict) -> bool:
    return "chosen" in row and "rejected" in row


class TRL(Importer):
    """TRL preference rows (prompt/chosen/rejected, standard or conversational), or a dataset directory."""

    name = "trl"
    reads_directories = True
    looks_like = staticmethod(looks_like)
    read = staticmethod(read)
