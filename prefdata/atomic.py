"""Files written whole or not at all, and the completion markers written last.

    from prefdata.atomic import write_parquet, mark_done, read_done
    write_parquet(df, stage_dir / "data.parquet")           # temp file + rename
    mark_done(stage_dir / "DONE", {"key": key})             # last: every file before it is whole
    read_done(stage_dir / "DONE")                           # {"key": ...}, or None when absent / unreadable

Every marker in prefdata (stages, shards, dataset directories, converted models, the trainer's
output, iterate's rounds) is a JSON object written by `mark_done` after everything it vouches
for, so a reader that finds one can trust the rest, and a kill before it leaves no marker.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl


def write_parquet(df: pl.DataFrame, path: Path) -> Path:
    """Write atomically: a crash mid-write never leaves a truncated file behind."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp)
    return path


# Scratch files are written once and read once: lz4 writes about twice as fast as zstd
# (the artifact's own compression), for files about 1.6x larger.
SCRATCH_COMPRESSION = "lz4"


def write_scratch(df: pl.DataFrame, path: Path) -> Path:
    """A partitioned stage's scratch file: not atomic, as its reader trusts only the marker
    written after it (prefdata/partition/files.py)."""
    df.write_parquet(path, compression=SCRATCH_COMPRESSION)
    return path


@contextmanager
def atomic_path(path: Path):
    """Yield a temp path beside `path`; renamed onto it only when the block finishes.

    The temp name carries the pid, so two processes writing the same file never share a
    temp file (the last rename wins, and each rename is whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def write_text_if_changed(path: Path, text: str) -> Path:
    """write_text_atomic, skipped when the file already holds `text` (its mtime stays: reruns touch nothing)."""
    if not path.is_file() or path.read_text() != text:
        write_text_atomic(path, text)
    return path


def mark_done(path: Path, info: dict[str, Any]) -> Path:
    """Write the completion marker `path` (a JSON object, atomically): call it last."""
    return write_text_atomic(Path(path), json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")


def read_done(path: Path) -> dict[str, Any] | None:
    """The marker's content; None when there is none or it is not a JSON object (then the work
    it would vouch for is redone, never trusted)."""
    try:
        info = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None
