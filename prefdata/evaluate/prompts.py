"""The evaluation prompts: IFEval's file shape (`key`, `prompt`, `instruction_id_list`,
`kwargs`) read unchanged, or a prefdata prompt file whose `reference` column holds the
instruction spec (a prompts artifact, `prefdata build`'s prompts stage output, works too).

    prompts = read_eval_prompts(Path("ifeval.jsonl"))   # PromptRecord frame; PrefdataError on a bad row

A row with an unknown instruction id or malformed kwargs stops here, before any model loads:
one line naming the file, the row, the field and the fix, and how many rows are like it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from prefdata.errors import PrefdataError
from prefdata.stages.base import StageContext
from prefdata.stages.prompts import PromptsConfig, PromptsStage, _read_rows


def prompts_config(path: Path) -> PromptsConfig:
    """How to read `path`: its shape decided from the first row's columns."""
    path = Path(path)
    if not path.exists():
        raise PrefdataError(f"--prompts {path}: no such file. Pass IFEval's input file or a prefdata prompt file.")
    probe = PromptsConfig(path=str(path))
    first = next((row for _, row in _read_rows(probe)), None)
    if first is None:
        raise PrefdataError(f"{path}: no rows")
    if "instruction_id_list" in first:  # IFEval's own shape
        return PromptsConfig(path=str(path), prompt_column="prompt", reference_kind="instructions",
                             id_column="key" if "key" in first else None)
    if "reference" in first:
        column = "prompt" if "prompt" in first else "messages"
        return PromptsConfig(path=str(path), prompt_column=column, reference_column="reference",
                             reference_kind="instructions")
    raise PrefdataError(f"{path}: row 1 has neither IFEval's columns (instruction_id_list, kwargs) nor a reference "
                        f"column with an instruction spec (columns: {sorted(first)}); see `prefdata eval --help`")


def read_eval_prompts(path: Path) -> pl.DataFrame:
    """PromptRecord rows of the file, each with its instruction spec as the reference."""
    config = prompts_config(path)
    with tempfile.TemporaryDirectory() as tmp:
        out = PromptsStage(config).run({}, StageContext(run_dir=Path(tmp), stage_dir=Path(tmp)))
    bad = out.rejects.filter(pl.col("reason") == "bad_instruction_spec")
    if bad.height:
        first = bad.row(0, named=True)
        raise PrefdataError(f"{path}: row {first['row']}, field {first['field']}: {first['message']} "
                            f"({bad.height} row(s) like it); fix or remove them before evaluating")
    if not out.data.height:
        reasons = out.rejects["reason"].value_counts().rows() if out.rejects.height else []
        raise PrefdataError(f"{path}: no usable prompt ({reasons})")
    return out.data
