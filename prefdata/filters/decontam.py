"""Decontamination: drop prompts that overlap evaluation prompts (word n-grams).

    filter:
      steps:
        - type: decontam
          eval_files: [evals/alpaca_eval.jsonl, evals/mt_bench.txt]
          ngram: 8            # words per n-gram (13 is the GPT-3 paper's choice for long docs)
          max_overlap: 0.0    # drop on any shared n-gram; 0.5: when > half the prompt's n-grams are shared

Eval files: `.txt` (one prompt per line), `.jsonl`/`.jsonl.gz`/`.json` (a `prompt_field`,
or the first of prompt/instruction/question/input/text, or a `messages` list whose user
turns are used), `.parquet`/`.csv` (`prompt_field` column). JSON files go through the
reader every source uses (`prefdata.io.rows`: gzip, BOM, line numbers in errors). A missing
file is a config error at load. Texts are normalized (lowercase, punctuation stripped)
before comparing; a text shorter than `ngram` words is one n-gram of all its words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field, ValidationInfo, field_validator

from prefdata.config import StrictModel, config_path
from prefdata.errors import DataError
from prefdata.filters.base import Filter, FilterResult, Rule, normalized_text, prompt_text, split_by_reasons
from prefdata.filters.phases import Scope
from prefdata.io.rows import SourceRow, read_rows, read_text

_FIELDS = ("prompt", "instruction", "question", "input", "text")


class DecontamFilterConfig(StrictModel):
    type: Literal["decontam"] = "decontam"
    eval_files: list[Path] = Field(min_length=1, description="Eval prompt files to protect.")
    ngram: int = Field(8, ge=1, le=50, description="Words per n-gram.")
    max_overlap: float = Field(0.0, ge=0.0, lt=1.0, description="Drop when the shared n-gram share exceeds this.")
    prompt_field: str | None = Field(None, description="Field/column holding the prompt in the eval files.")

    @field_validator("eval_files")
    @classmethod
    def _files_exist(cls, files: list[Path], info: ValidationInfo) -> list[Path]:
        files = [config_path(f, info) for f in files]
        missing = [str(f) for f in files if not Path(f).is_file()]
        if missing:
            raise ValueError(f"eval file(s) not found: {', '.join(missing)}; give paths relative to the "
                             "config file or the directory you run prefdata from, or absolute paths")
        return files


def ngrams(text: str, n: int) -> set[int]:
    """Hashes of the word n-grams of a normalized text."""
    words = text.split()
    if not words:
        return set()
    if len(words) < n:
        return {hash(tuple(words))}
    return {hash(tuple(words[i:i + n])) for i in range(len(words) - n + 1)}


def read_eval_prompts(path: Path, field: str | None) -> list[str]:
    """Prompt texts of one eval file; raises DataError naming the file and row when unusable."""
    name = path.name.lower()
    if name.endswith(".txt"):
        return [line for line in read_text(path).splitlines() if line.strip()]
    if name.endswith((".parquet", ".csv")):
        df = pl.read_parquet(path) if name.endswith(".parquet") else pl.read_csv(path)
        column = field or next((f for f in _FIELDS if f in df.columns), None)
        if column is None or column not in df.columns:
            raise DataError(f"{path}: no prompt column (looked for {field or ', '.join(_FIELDS)}); "
                            f"columns are {df.columns}. Set prompt_field.")
        return df[column].cast(pl.String).drop_nulls().to_list()
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        return [_row_text(src, path, field) for src in read_rows(path)]
    raise DataError(f"{path}: unknown eval file type; use .txt, .jsonl(.gz), .json, .parquet or .csv")


def _row_text(src: SourceRow, path: Path, field: str | None) -> str:
    if isinstance(src.value, str):  # a JSON string is the prompt itself
        return src.value
    if src.error:
        raise DataError(f"{src.error[1]}; fix or remove that line (an eval row is an object or a string)")
    row, i = src.data, src.row
    if field:
        if field not in row:
            raise DataError(f"{path}: row {i} has no field {field!r}; fields are {sorted(row)}")
        return str(row[field])
    for key in _FIELDS:
        if isinstance(row.get(key), str):
            return row[key]
    if isinstance(row.get("messages"), list):
        return "\n".join(m.get("content", "") for m in row["messages"] if m.get("role") == "user")
    raise DataError(f"{path}: row {i} has none of {', '.join(_FIELDS)} or messages; set prompt_field")


class DecontamFilter(Filter):
    """Drop prompts that share word n-grams with evaluation prompts."""

    name, Config = "decontam", DecontamFilterConfig
    config: DecontamFilterConfig

    def scope(self) -> Scope:
        return "pair"

    def apply(self, pairs: pl.DataFrame) -> FilterResult:
        c = self.config
        eval_grams: set[int] = set()
        eval_count = 0
        for path in c.eval_files:
            texts = pl.Series(read_eval_prompts(Path(path), c.prompt_field), dtype=pl.String)
            eval_count += len(texts)
            for text in pl.DataFrame({"t": texts}).select(normalized_text(pl.col("t")))["t"]:
                eval_grams |= ngrams(text, c.ngram)
        prompts = pairs.select("prompt_id", normalized_text(prompt_text()).alias("_norm")).unique(
            "prompt_id", keep="first", maintain_order=True)
        overlap = []
        for text in prompts["_norm"]:
            grams = ngrams(text, c.ngram)
            overlap.append(len(grams & eval_grams) / len(grams) if grams else 0.0)
        decided = prompts.select("prompt_id").with_columns(pl.Series("eval_overlap", overlap, dtype=pl.Float64))
        work = pairs.join(decided, on="prompt_id", how="left", maintain_order="left")
        rules = [Rule("contaminated", pl.col("eval_overlap") > c.max_overlap,
                      f"decontam filter: prompt shares more than {c.max_overlap} of its {c.ngram}-grams "
                      "with the eval files", ["eval_overlap"])]
        result = split_by_reasons(work, rules, helper_columns=["eval_overlap"])
        result.stats.update({"eval_prompts": eval_count, "eval_ngrams": len(eval_grams)})
        return result
