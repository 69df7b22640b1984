"""The `prompts` stage: read prompts from a file, folder or hub dataset into PromptRecords.

    prompts:
      path: data/prompts.jsonl          # .jsonl/.json/.parquet, a save_to_disk folder, or a hub id
      prompt_column: prompt             # a string or a list of {role, content} messages
      system_prompt: You are helpful.   # prepended when the row has no system turn
      limit: 50
      add_instructions: {n: 2}          # append 2 verifiable instructions (IFEval's) to each prompt

`add_instructions` makes instruction-following prompts as Tulu 3 does: n compatible
instructions (IFEval's conflict table; seeded by the recipe seed and the prompt) are
appended to the last user turn and recorded as the prompt's reference, an instruction spec
(prefdata/instructions.py) that the `ifeval` judge checks. Prompts that already carry a
spec, such as IFEval's own files (`instruction_id_list` and `kwargs` columns), are read
with `reference_kind: instructions`; a row whose spec is not valid becomes a
`bad_instruction_spec` reject naming the row and the field.

Bad rows become rejects with the file, line and field (`missing_prompt`, `bad_messages`,
`bad_json`...); identical prompts are dropped as `duplicate_prompt`. A relative `path` is
resolved against the recipe's folder first (the runner does that), then the current one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import Field, ValidationError, model_validator

from prefdata.config import ConfigPath, StrictModel, stable_hash
from prefdata.errors import PrefdataError
from prefdata.fingerprint import content_digest
from prefdata.io.ids import prompt_id  # the one prompt id every stage and importer uses
from prefdata.io.llamafactory import SHAREGPT_ROLES
from prefdata.io.rows import RowProblem, read_rows
from prefdata.records import PromptRecord
from prefdata.stages.base import Stage, StageContext, StageOutput
from prefdata.frames import frame
from prefdata.ledger import Rejects

Format = Literal["auto", "jsonl", "json", "parquet", "datasets", "hub"]


def _default_instructions() -> list[str]:
    from prefdata.instructions import DEFAULT_INSTRUCTIONS

    return list(DEFAULT_INSTRUCTIONS)


class AddInstructionsConfig(StrictModel):
    n: int = Field(1, ge=1, le=5, description="Verifiable instructions appended to each prompt.")
    ids: list[str] = Field(default_factory=_default_instructions, description="IFEval instruction ids to draw "
                           "from (default: prefdata.instructions.DEFAULT_INSTRUCTIONS).")

    @model_validator(mode="after")
    def _usable(self):
        from prefdata.instructions import id_problems, max_compatible

        problems = id_problems(self.ids)
        if problems:
            raise ValueError("; ".join(problems))
        if max_compatible(self.ids) < self.n:
            raise ValueError(f"n={self.n}, but at most {max_compatible(self.ids)} of these instructions go "
                             "together without conflicting (IFEval's conflict table); lower n or list more ids")
        return self


class PromptsConfig(StrictModel):
    path: ConfigPath = Field(description="Prompt file (.jsonl, .json, .parquet), a datasets save_to_disk folder, or a hub id.")
    format: Format = Field("auto", description="auto: from the suffix / folder; hub when the path does not exist.")
    split: str | None = Field(
        None, description="Split of a DatasetDict folder or hub dataset (default: train or the only one)."
    )
    prompt_column: str = Field("prompt", description="Column with the prompt: a string or a list of messages.")
    messages_column: str | None = Field(
        None, description="Column with a message list; takes precedence over prompt_column."
    )
    system_column: str | None = Field(None, description="Column with a per-row system prompt.")
    reference_column: str | None = Field(None, description="Column with a reference answer (for programmatic judges).")
    id_column: str | None = Field(None, description="Column with the source's own prompt id (kept in metadata).")
    system_prompt: str | None = Field(None, description="System prompt for rows without one.")
    limit: int | None = Field(None, ge=1, description="Keep at most this many prompts (first ones, after dedup).")
    reference_kind: Literal["text", "instructions"] = Field(
        "text", description="instructions: the reference is an instruction spec (JSON with instruction_id_list "
        "and kwargs), read from reference_column or else IFEval's own columns of those names, and checked.")
    add_instructions: AddInstructionsConfig | None = Field(
        None, description="Append verifiable instructions to each prompt and record them as its reference.")

    @model_validator(mode="after")
    def _one_reference(self):
        if self.add_instructions is not None and (self.reference_column or self.reference_kind == "instructions"):
            raise ValueError("add_instructions writes each prompt's reference; remove reference_column / "
                             "reference_kind, or add_instructions")
        return self


def resolve_format(config: PromptsConfig) -> str:
    if config.format != "auto":
        return config.format
    path = Path(config.path)
    if path.is_dir():
        return "datasets"
    if path.exists():
        name = path.name.lower()
        for suffix, fmt in ((".jsonl", "jsonl"), (".jsonl.gz", "jsonl"), (".json", "json"), (".parquet", "parquet")):
            if name.endswith(suffix):
                return fmt
        raise PrefdataError(f"{path}: unknown prompt file type; use .jsonl, .json or .parquet, or set prompts.format")
    looks_local = (config.path.startswith(("/", ".", "~")) or config.path.count("/") != 1
                   or path.suffix.lower() in (".jsonl", ".json", ".parquet", ".gz"))
    if looks_local:
        raise PrefdataError(
            f"prompts.path {config.path!r} does not exist; pass a file, a folder or a hub id (org/name)"
        )
    return "hub"


def _read_dataset(config: PromptsConfig, fmt: str) -> Iterator[tuple[int, Any]]:
    import datasets

    if fmt == "hub":
        if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
            raise PrefdataError(
                f"prompts.path {config.path!r} is a hub id but the hub is offline (HF_HUB_OFFLINE=1): "
                "download the dataset elsewhere and pass a local file or save_to_disk folder"
            )
        ds = datasets.load_dataset(config.path, split=config.split or "train")
    else:
        ds = datasets.load_from_disk(config.path)
        if isinstance(ds, datasets.DatasetDict):
            split = config.split or ("train" if "train" in ds else next(iter(ds)) if len(ds) == 1 else None)
            if split not in ds:
                raise PrefdataError(f"{config.path}: choose prompts.split, one of {sorted(ds)}")
            ds = ds[split]
    yield from enumerate(ds, start=1)


def _read_rows(config: PromptsConfig) -> Iterator[tuple[int, Any]]:
    fmt = resolve_format(config)
    if fmt in ("jsonl", "json", "parquet"):
        # The importers' reader: line numbers, .gz, BOM, bad bytes and bad lines as row errors.
        for source_row in read_rows(config.path):
            bad = source_row.error
            yield source_row.row, source_row.data if bad is None else RowProblem(bad[0], None, bad[1])
    else:
        yield from _read_dataset(config, fmt)




def _message(m: dict) -> dict:
    """{role, content} messages, or ShareGPT's {from, value} (LLaMA-Factory's format)."""
    if "from" in m and "role" not in m:
        return {"role": SHAREGPT_ROLES.get(m["from"], m["from"]), "content": m.get("value")}
    return {"role": m.get("role"), "content": m.get("content")}


def _messages_of(row: dict, config: PromptsConfig) -> list[dict[str, str]]:
    column = config.messages_column or config.prompt_column
    if column not in row:
        raise RowProblem(
            "missing_prompt", column, f"no {column!r} field (row has {sorted(row)}); set prompts.prompt_column"
        )
    value = row[column]
    if isinstance(value, str):
        if not value.strip():
            raise RowProblem("empty_prompt", column, f"{column!r} is empty")
        messages = [{"role": "user", "content": value}]
    elif isinstance(value, list) and all(isinstance(m, dict) for m in value):
        messages = [_message(m) for m in value]
    else:
        raise RowProblem(
            "bad_messages", column,
            f"{column!r} must be a string or a list of {{role, content}} messages, got {type(value).__name__}",
        )
    system = row.get(config.system_column) if config.system_column else None
    system = system or config.system_prompt
    if system and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _reference(row: dict, config: PromptsConfig) -> Any:
    if config.reference_kind == "text":
        return row.get(config.reference_column) if config.reference_column else None
    from prefdata.instructions import SpecError, parse_spec

    column = config.reference_column
    value = row.get(column) if column else {"instruction_id_list": row.get("instruction_id_list"),
                                            "kwargs": row.get("kwargs")}
    try:
        return parse_spec(value).to_json()
    except SpecError as e:
        where = column or e.field
        raise RowProblem("bad_instruction_spec", where, f"{where!r} is not a valid instruction spec: {e}") from None


def _with_instructions(messages: list[dict], config: AddInstructionsConfig, seed: int) -> tuple[list[dict], str]:
    """The messages with instructions appended to the last user turn, and the spec (the reference)."""
    from prefdata.instructions import add_instructions

    spec, text = add_instructions(messages[-1]["content"], config.n, config.ids,
                                  seed=int(stable_hash([seed, prompt_id(messages)]), 16))
    return [*messages[:-1], {**messages[-1], "content": text}], spec.to_json()


def _record(row: Any, line: int, config: PromptsConfig, seed: int = 0) -> PromptRecord:
    if isinstance(row, RowProblem):
        raise row
    if not isinstance(row, dict):
        raise RowProblem("bad_row", None, f"expected an object, got {type(row).__name__}")
    messages = _messages_of(row, config)
    reference = _reference(row, config)
    if config.add_instructions is not None:  # _messages_of made sure the last turn is the user's
        messages, reference = _with_instructions(messages, config.add_instructions, seed)
    meta = {"id": str(row[config.id_column])} if config.id_column and row.get(config.id_column) is not None else None
    try:
        return PromptRecord(
            prompt_id=prompt_id(messages), prompt=messages, source=config.path, source_row=line,
            reference=None if reference is None else str(reference),
            metadata=json.dumps(meta) if meta else None,
        )
    except ValidationError as e:
        problem = "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
        raise RowProblem("bad_messages", config.messages_column or config.prompt_column, problem) from None




def _instruction_counts(records: list[PromptRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        for iid in json.loads(record.reference)["instruction_id_list"] if record.reference else []:
            counts[iid] = counts.get(iid, 0) + 1
    return dict(sorted(counts.items()))


class PromptsStage(Stage):
    name, Config = "prompts", PromptsConfig
    inputs, output, unit, required = (), "prompts", "prompts", True

    @property
    def engines(self) -> tuple[str, ...]:
        """IFEval's package writes the instruction sentences and checks the specs: its version decides them."""
        return ("if-verifiable",) if self._instructions() else ()

    def code_files(self) -> list[Path]:
        from prefdata import instructions

        return [*super().code_files(), *([Path(instructions.__file__)] if self._instructions() else [])]

    def _instructions(self) -> bool:
        return self.config.add_instructions is not None or self.config.reference_kind == "instructions"

    def fingerprint(self) -> dict[str, Any]:
        path = Path(self.config.path)
        source = content_digest(path) if path.exists() else f"hub:{self.config.path}"
        return {**super().fingerprint(), "source_sha256": source}

    def run(self, inputs, ctx: StageContext) -> StageOutput:
        config: PromptsConfig = self.config
        rejects = Rejects("prompts", source=config.path)
        kept: list[PromptRecord] = []
        first_row: dict[str, int] = {}
        rows_in = 0
        for line, row in _read_rows(config):
            if config.limit is not None and len(kept) >= config.limit:
                break
            rows_in += 1
            try:
                record = _record(row, line, config, ctx.seed)
            except RowProblem as p:
                rejects.add(p.reason, f"{config.path}, row {line}: {p}", row=line, field=p.field)
                continue
            if record.prompt_id in first_row:  # ids must stay unique downstream
                rejects.add(
                    "duplicate_prompt", f"{config.path}, row {line}: same prompt as row {first_row[record.prompt_id]}",
                    row=line, row_id=record.prompt_id, values={"first_row": first_row[record.prompt_id]},
                )
                continue
            first_row.setdefault(record.prompt_id, line)
            kept.append(record)
        stats = {"format": resolve_format(config), "rows_read": rows_in, "prompts": len(kept)}
        if config.add_instructions is not None or config.reference_kind == "instructions":
            stats["instructions"] = _instruction_counts(kept)
        return StageOutput(data=frame(kept, PromptRecord), rejects=rejects.frame(), rows_in=rows_in, stats=stats)
