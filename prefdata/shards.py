"""Finished pieces of a long stage's work, so a killed build resumes where it stopped.

    store = ShardStore(stage_dir / "shards" / key)
    finished, todo = store.resume([ids_of_shard_0, ids_of_shard_1])   # what a killed run left, what is left to do
    store.save(1, ids_of_shard_1, {"": cands, "rejects": rejects}, meta={"requests": 12})

A shard is `shard-NNNNN.<part>.parquet` files plus `shard-NNNNN.json` written last (atomically):
the marker holds the shard's identity (what work it covers, e.g. prompt ids or a digest of
the judged texts) and metadata. A shard is reused only when its marker exists and its
identity equals the one asked for, so changed work is redone, never mixed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from prefdata.atomic import mark_done, read_done, write_parquet


class ShardStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _file(self, index: int, part: str) -> Path:
        return self.root / (f"shard-{index:05d}.{part}.parquet" if part else f"shard-{index:05d}.parquet")

    def marker(self, index: int) -> Path:
        return self.root / f"shard-{index:05d}.json"

    def load(self, index: int, identity: Any) -> tuple[dict[str, pl.DataFrame], dict] | None:
        info = read_done(self.marker(index))
        if info is None or info.get("identity") != identity:
            return None
        return {part: pl.read_parquet(self._file(index, part)) for part in info["parts"]}, info.get("meta", {})

    def resume(self, identities: list[Any]) -> tuple[dict[int, tuple[dict[str, pl.DataFrame], dict]], list[int]]:
        """The finished shards among `identities` (one per shard, in order) read back by index, and the
        indices still to do: the resume loop of every sharded stage (sample, label)."""
        finished, todo = {}, []
        for index, identity in enumerate(identities):
            loaded = self.load(index, identity)
            if loaded is None:
                todo.append(index)
            else:
                finished[index] = loaded
        return finished, todo

    def save(self, index: int, identity: Any, frames: dict[str, pl.DataFrame], meta: dict | None = None) -> None:
        for part, df in frames.items():
            write_parquet(df, self._file(index, part))
        info = {"identity": identity, "parts": list(frames), "meta": meta or {}}
        mark_done(self.marker(index), info)
