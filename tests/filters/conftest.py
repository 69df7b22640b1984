"""Fixtures for the filter tests: hand-made pair frames (the embedding model is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from prefdata.records import PairRecord
from prefdata.frames import frame


def _make_pairs(rows: list[dict]):
    """A PairRecord frame; each row gives what matters, the rest is filled in."""
    full = []
    for i, row in enumerate(rows):
        chosen_score, rejected_score = row.get("chosen_score", 2.0), row.get("rejected_score", 1.0)
        base = {
            "pair_id": f"pair{i}", "prompt_id": row.get("prompt_id", f"p{i}"),
            "prompt": [{"role": "user", "content": row.get("user", f"prompt number {i}")}],
            "chosen": "a fine answer", "rejected": "a worse answer",
            "chosen_id": f"c{i}", "rejected_id": f"r{i}",
            "chosen_score": chosen_score, "rejected_score": rejected_score,
            "margin": chosen_score - rejected_score, "label_source": "rm", "strategy": "best_vs_worst",
        }
        base.update({k: v for k, v in row.items() if k != "user"})
        full.append(PairRecord(**base).model_dump())
    return frame(full, PairRecord)


@pytest.fixture(scope="session")
def make_pairs():
    return _make_pairs
