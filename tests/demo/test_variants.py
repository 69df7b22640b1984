"""The peers' binarization rules on hand-made scores: what they emit that prefdata never does."""

import polars as pl

from prefdata.demo.variants import naive_dataset
from prefdata.io.dataset_dir import read_dataset_dir


def _shared(tmp_path, scores: dict[str, list[tuple[str, float]]]):
    prompts, candidates, judgments = [], [], []
    for pid, answers in scores.items():
        prompts.append({"prompt_id": pid, "prompt": [{"role": "user", "content": pid}]})
        for k, (text, score) in enumerate(answers):
            cid = f"{pid}:0:{k}"
            candidates.append({"prompt_id": pid, "candidate_id": cid, "text": text, "sample_index": k})
            judgments += [{"candidate_id": cid, "judge_id": "rm", "score": score},
                          {"candidate_id": cid, "judge_id": "exact", "score": 0.0}]
    paths = {}
    for name, rows in (("prompts", prompts), ("candidates", candidates), ("judgments", judgments)):
        paths[name] = tmp_path / f"{name}.parquet"
        pl.DataFrame(rows).write_parquet(paths[name])
    return paths


def test_max_min_emits_an_identical_pair_when_all_scores_tie_and_ultrafeedback_keeps_ties(tmp_path):
    shared = _shared(tmp_path, {"1+1=": [("2", 1.0), ("2", 1.0), ("2", 1.0)],
                                "2+2=": [("4", 0.9), ("5", 0.1), ("4", 0.9), ("3", -0.2)]})
    max_min = read_dataset_dir(naive_dataset("max_min", shared, tmp_path / "mm", seed=0))["train"]
    first = max_min.filter(pl.col("prompt_id") == "1+1=").row(0, named=True)
    assert first["chosen"] == first["rejected"] and first["margin"] == 0.0  # all equal: chosen == rejected
    second = max_min.filter(pl.col("prompt_id") == "2+2=").row(0, named=True)
    assert (second["chosen"][0]["content"], second["rejected"][0]["content"]) == ("4", "3")
    uf = read_dataset_dir(naive_dataset("ultrafeedback", shared, tmp_path / "uf", seed=0))["train"]
    assert uf.height == 2 and (uf["margin"] >= 0).all()
    margins = [read_dataset_dir(naive_dataset("ultrafeedback", shared, tmp_path / f"uf{s}", seed=s))["train"]
               .filter(pl.col("prompt_id") == "2+2=")["margin"][0] for s in range(12)]
    assert 0.0 in margins and max(margins) > 0  # a random other answer: sometimes the tied duplicate
