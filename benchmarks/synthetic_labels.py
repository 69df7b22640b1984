"""Synthetic prompts, candidates and reward-model labels at any size, written in chunks.

    from synthetic_labels import make_data
    make_data(2_500_000, 4, Path("/tmp/data"))   # prompts/candidates/judgments.parquet, 10M candidates
    in_child(make_data, 2_500_000, 4, Path("/tmp/data"))   # the same in a child process (see below)

Realistic lengths (prompts 10-80 words, responses 20-300 words), 2% missing scores, scores
rounded to 0.1 (ties), 5% planted duplicate prompts (an earlier prompt, shouted), 3% of
candidates cut at max tokens. Chunks of `chunk_prompts` prompts are generated one at a
time and streamed into one file per table, so memory stays at one chunk.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import polars as pl

TABLES = ("prompts", "candidates", "judgments")


def make_data(n_prompts: int, k: int, out: Path, seed: int = 0, chunk_prompts: int = 250_000) -> None:
    from prefdata.records import Candidate, Judgment, PromptRecord
    from prefdata.frames import polars_schema

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(30000)])

    def pool(n, lo, hi):
        lengths = rng.integers(lo, hi, n)
        words = vocab[rng.integers(0, len(vocab), lengths.sum())]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        return pl.Series([" ".join(words[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])

    prompt_pool, answer_pool = pool(20000, 10, 80), pool(40000, 10, 150)
    models = {"prompts": PromptRecord, "candidates": Candidate, "judgments": Judgment}
    chunks = out / "chunks"
    for c, start in enumerate(range(0, n_prompts, chunk_prompts)):
        n_chunk = min(chunk_prompts, n_prompts - start)
        ids = pl.Series([f"p{i}" for i in range(start, start + n_chunk)])
        text = prompt_pool.gather(rng.integers(0, len(prompt_pool), n_chunk)) + " #" + ids
        dup = rng.random(n_chunk) < 0.05  # planted duplicates: an earlier prompt, shouted
        src = (rng.random(n_chunk) * np.arange(n_chunk)).astype(np.int64)
        text = pl.Series(np.where(dup, text.gather(src).str.to_uppercase().to_numpy() + "!", text.to_numpy()))
        prompts = pl.DataFrame({"prompt_id": ids, "content": text}).select(
            "prompt_id", pl.concat_list(pl.struct(pl.lit("user").alias("role"), "content")).alias("prompt"),
            pl.lit("bench").alias("source"))
        n = n_chunk * k
        cand_ids = pl.Series([f"p{start + i // k}:0:{i % k}" for i in range(n)])
        answers = (answer_pool.gather(rng.integers(0, len(answer_pool), n)) + " "
                   + answer_pool.gather(rng.integers(0, len(answer_pool), n)))
        candidates = pl.DataFrame({
            "candidate_id": cand_ids, "prompt_id": ids.gather(np.arange(n) // k), "text": answers,
            "num_tokens": answers.str.count_matches(" ") + 1,
            "finish_reason": np.where(rng.random(n) < 0.03, "length", "stop"),
            "model": "bench", "backend": "imported", "sample_index": np.arange(n) % k,
        })
        scores = np.round(rng.normal(0, 1, n), 1)  # rounded: ties happen
        judgments = pl.DataFrame({
            "judgment_id": cand_ids + ":rm", "prompt_id": candidates["prompt_id"], "candidate_id": cand_ids,
            "judge_id": "rm", "judge_type": "reward_model",
            "score": pl.Series(np.where(rng.random(n) < 0.02, np.nan, scores)).fill_nan(None),
        })
        for name, df in (("prompts", prompts), ("candidates", candidates), ("judgments", judgments)):
            schema = polars_schema(models[name])
            df = df.with_columns([pl.lit(None, dtype=t).alias(col) for col, t in schema.items() if col not in df.columns])
            (chunks / name).mkdir(parents=True, exist_ok=True)
            df.select([pl.col(col).cast(t) for col, t in schema.items()]).write_parquet(
                chunks / name / f"{c:05d}.parquet")
    for name in TABLES:  # one file per table, as a build's artifacts are
        pl.scan_parquet(sorted((chunks / name).glob("*.parquet"))).sink_parquet(out / f"{name}.parquet")
    shutil.rmtree(chunks)


def in_child(fn, *args) -> None:
    """fn(*args) in a fresh Python process. Benchmarks measure their children's peak RSS, and a
    forked child starts with its parent's peak (Linux keeps ru_maxrss across fork and exec):
    work that fills memory, like making the data, must not happen in the parent."""
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(target=fn, args=args)
    process.start()
    process.join()
    if process.exitcode:
        sys.exit(f"{fn.__name__} failed (exit code {process.exitcode})")


def floor_query(data: Path) -> pl.LazyFrame:
    """Best vs worst per prompt (ties broken by candidate id), margin > 0, prompt text, exact dedup."""
    prompts, candidates, judgments = (pl.scan_parquet(data / f"{n}.parquet") for n in TABLES)
    scored = (candidates.select("candidate_id", "prompt_id", "text")
              .join(judgments.select("candidate_id", "score"), on="candidate_id")
              .filter(pl.col("score").is_not_null() & pl.col("score").is_finite())
              .sort(["prompt_id", "score", "candidate_id"], descending=[False, True, False]))
    best = scored.group_by("prompt_id").first()
    worst = scored.group_by("prompt_id").last()
    return (best.join(worst, on="prompt_id", suffix="_r")
            .filter(pl.col("score") > pl.col("score_r"))
            .join(prompts.select("prompt_id", "prompt"), on="prompt_id")
            .with_columns(pl.col("prompt").list.last().struct.field("content").str.to_lowercase()
                          .str.replace_all(r"[^\p{L}\p{N}\s]+", " ").str.replace_all(r"\s+", " ")
                          .str.strip_chars().alias("norm"))
            .sort("prompt_id")
            .unique("norm", keep="first", maintain_order=True))


def quality_floor(pairs: pl.LazyFrame) -> pl.LazyFrame:
    """The quality filter's rules at their default settings as one plain polars query: a `reason`
    column per pair (null: kept), the first rule that matches, in the filter's order."""
    def words(side):
        return pl.col(side).str.to_lowercase().str.split(" ")

    def trigram_share(side):
        w = words(side)
        tri = w.list.eval(pl.concat_str(pl.element(), pl.element().shift(-1), pl.element().shift(-2),
                                         separator="\x1f")).list.drop_nulls()
        return pl.when(w.list.len() >= 16).then(1.0 - tri.list.n_unique() / tri.list.len()).otherwise(0.0)

    def echo_share(side):
        user = pl.col("prompt").list.last().struct.field("content").str.strip_chars()
        resp_len = pl.col(side).str.strip_chars().str.len_chars()
        hit = (user.str.len_chars() >= 16) & (resp_len > 0) & pl.col(side).str.contains(user, literal=True)
        return pl.when(hit).then(user.str.len_chars() / resp_len).otherwise(0.0)

    def alnum(side):
        return pl.col(side).str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "")

    nu_c, nu_r = words("chosen").list.n_unique(), words("rejected").list.n_unique()
    bytes_c, bytes_r = pl.col("chosen").str.len_bytes(), pl.col("rejected").str.len_bytes()
    comparable = (((pl.min_horizontal(bytes_c, bytes_r) >= 0.9 * pl.max_horizontal(bytes_c, bytes_r))
                   | (pl.min_horizontal(bytes_c, bytes_r) < 256))
                  & (pl.min_horizontal(nu_c, nu_r) >= 0.5 * pl.max_horizontal(nu_c, nu_r)))
    jaccard = (words("chosen").list.set_intersection(words("rejected")).list.len()
               / words("chosen").list.set_union(words("rejected")).list.len())
    rules = [(f"empty_{s}", pl.col(s).str.replace_all(r"[\s\p{C}]+", "").str.len_chars() == 0)
             for s in ("chosen", "rejected")]
    rules += [(f"truncated_{s}", pl.col(f"{s}_finish_reason") == "length") for s in ("chosen", "rejected")]
    rules += [(f"repetitive_{s}", trigram_share(s) > 0.5) for s in ("chosen", "rejected")]
    rules += [(f"prompt_echo_{s}", echo_share(s) > 0.8) for s in ("chosen", "rejected")]
    rules += [("identical_pair", comparable & (alnum("chosen") == alnum("rejected"))),
              ("near_identical_pair", jaccard >= 0.95)]
    reason = pl.lit(None, dtype=pl.String)
    for name, rule in reversed(rules):
        reason = pl.when(rule.fill_null(False)).then(pl.lit(name)).otherwise(reason)
    return pairs.with_columns(reason.alias("reason"))
