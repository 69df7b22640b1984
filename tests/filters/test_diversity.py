"""Diversity filter with the real offline all-MiniLM-L6-v2 (loaded once per session).

    python -m pytest -q tests/filters/test_diversity.py
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from prefdata.filters import build_filter
from prefdata.embeddings import embed
from prefdata.filters.diversity import DiversityFilterConfig, k_center_greedy, semantic_duplicate_of

PROMPTS = [
    "How do I make a cup of green tea?",
    "What is the best way to brew green tea?",       # paraphrase of 0
    "Explain the rules of chess to a beginner.",
    "How do I make a cup of green tea?!",            # near-identical to 0
    "Write a poem about the ocean at night.",
    "What causes inflation in an economy?",
]


def test_embeddings_are_normalized_and_meaningful(embedder):
    vectors = embed(PROMPTS)
    assert vectors.shape == (6, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    sims = vectors @ vectors.T
    assert sims[0, 3] > 0.95 and sims[0, 1] > 0.7 and sims[0, 2] < 0.4


def test_semantic_duplicates_dropped_with_cosine(make_pairs, embedder):
    pairs = make_pairs([{"prompt_id": f"p{i}", "user": text} for i, text in enumerate(PROMPTS)])
    result = build_filter(DiversityFilterConfig(max_cosine=0.95)).apply(pairs)
    assert result.kept.height + result.rejects.height == pairs.height
    assert result.rejects["row_id"].to_list() == ["pair3"]
    values = json.loads(result.rejects["values"][0])
    assert values["duplicate_of"] == "p0" and values["cosine"] > 0.95
    stricter = build_filter(DiversityFilterConfig(max_cosine=0.7)).apply(pairs)
    assert set(stricter.rejects["row_id"]) == {"pair1", "pair3"}


def test_budget_keeps_the_most_spread_prompts(make_pairs, embedder):
    pairs = make_pairs([{"prompt_id": f"p{i}", "user": text} for i, text in enumerate(PROMPTS)])
    result = build_filter(DiversityFilterConfig(max_cosine=None, budget=4)).apply(pairs)
    assert result.kept.height == 4
    assert set(result.rejects["reason"]) == {"over_budget"}
    kept_prompts = set(result.kept["prompt_id"])
    assert not {"p0", "p3"} <= kept_prompts, "k-center picked two copies of the same prompt"


def test_greedy_helpers_on_known_geometry():
    vectors = np.array([[1, 0], [0.999, 0.0447], [0, 1], [-1, 0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dup_of, cosine = semantic_duplicate_of(vectors, 0.99, block=2)
    assert dup_of.tolist() == [-1, 0, -1, -1] and cosine[1] > 0.99
    assert list(k_center_greedy(vectors))[:3] == [0, 3, 2]


@pytest.mark.parametrize("block", [1, 3, 1024])
def test_semantic_duplicate_blocks_agree(block):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 8)).astype(np.float32)
    vectors = np.concatenate([base, base[:5] + 0.01]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dup_of, _ = semantic_duplicate_of(vectors, 0.99, block=block)
    assert dup_of[20:].tolist() == list(range(5)) and (dup_of[:20] == -1).all()
