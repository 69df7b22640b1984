"""Every block kind from the user's own module, through the real CLI in a subprocess, from a
folder outside the repository (no PYTHONPATH): a sampler, a judge, a pairing strategy and a
filter that needs all pairs and declares nothing, built in memory and in small partitions
with identical results; and an importer named by `--format module:Class`.

    python -m pytest -q tests/test_plugins.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

SECOND_BEST = '''
import polars as pl
from pydantic import BaseModel

from prefdata.pairing.strategy import PairingStrategy


class SecondBest(PairingStrategy):
    """The best candidate against the runner-up."""

    class Config(BaseModel):
        pass

    def pairs(self, values, min_margin, seed):
        ranked = values.sort(["prompt_id", "value", "candidate_id"], descending=[False, True, False])
        best = ranked.group_by("prompt_id", maintain_order=True).agg(
            pl.col("candidate_id").get(0).alias("chosen_id"), pl.col("value").get(0).alias("chosen_score"),
            pl.col("candidate_id").get(1).alias("rejected_id"), pl.col("value").get(1).alias("rejected_score"))
        return best.filter(pl.col("rejected_id").is_not_null())
'''

MY_BLOCKS = '''
import json

import polars as pl
from pydantic import BaseModel

from prefdata.backends.base import Generation, Sampler
from prefdata.filters.base import Filter, Rule, split_by_reasons
from prefdata.io.common import ImportResult, Importer
from prefdata.judges.base import Judge, judgment_row


class CountingSampler(Sampler):
    """Answers with a run of words whose length follows the request seed."""

    class Config(BaseModel):
        model: str
        longest: int = 17

    def __init__(self, config):
        self.config = config

    @property
    def model_id(self):
        return self.config.model

    def generate(self, requests, params):
        out = []
        for request in requests:
            lengths = [(request.seed // 1024 * (2 * i + 1)) % self.config.longest + 1 for i in range(request.n)]
            out.append([Generation(" ".join(["word"] * n), n, "stop") for n in lengths])
        return out


class WordCountJudge(Judge):
    """Score an answer by its number of words."""

    judge_type = "word_count"

    class Config(BaseModel):
        id: str

    def judge(self, items, progress=None):
        return [judgment_row(self, item, score=float(len(item.response.split()))) for item in items]


class AboveMedianMargin(Filter):
    """Keep pairs whose margin is above the median margin of all pairs."""

    class Config(BaseModel):
        pass

    def apply(self, pairs):
        median = pairs["margin"].median()
        return split_by_reasons(pairs, [Rule("below_median", pl.col("margin") <= median, "margin <= median",
                                             ["margin"])])


def read_qa(path, **options):
    result = ImportResult(source=str(path), format="qa")
    for i, line in enumerate(open(path)):
        row = json.loads(line)
        result.input_rows += 1
        if not row["good"] or row["good"] == row["bad"]:
            result.rejects.add("no_preference", "good and bad answers are empty or equal", row=i + 1, field="good")
            continue
        result.examples.append({"prompt": [{"role": "user", "content": row["q"]}],
                                "chosen": [{"role": "assistant", "content": row["good"]}],
                                "rejected": [{"role": "assistant", "content": row["bad"]}],
                                "prompt_id": f"qa-{i}", "source": str(path)})
    return result


class QA(Importer):
    """qa: one {q, good, bad} object per line."""

    name = "qa"
    looks_like = staticmethod(lambda row: {"q", "good", "bad"} <= set(row))
    read = staticmethod(read_qa)
'''


@pytest.fixture
def user_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    (folder / "my_blocks.py").write_text(MY_BLOCKS)
    (folder / "my_pairing.py").write_text(SECOND_BEST)
    (folder / "prompts.jsonl").write_text("".join(json.dumps({"prompt": f"Say something, number {i}."}) + "\n"
                                                  for i in range(40)))
    (folder / "recipe.yaml").write_text(yaml.safe_dump({
        "name": "plugins", "seed": 0,
        "prompts": {"path": "prompts.jsonl", "prompt_column": "prompt"},
        "sample": {"k": 4, "models": [{"backend": "my_blocks:CountingSampler", "model": "counting"}]},
        "label": {"judges": [{"type": "my_blocks:WordCountJudge", "id": "words"}]},
        "pair": {"strategy": "my_pairing:SecondBest"},
        "filter": {"steps": [{"type": "my_blocks:AboveMedianMargin"}]},
        "export": {},
    }, sort_keys=False))
    return folder


def prefdata(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_every_block_kind_from_the_users_folder_in_memory_and_in_partitions(user_folder):
    prefdata(user_folder, "build", "recipe.yaml", "--out", "whole")
    prefdata(user_folder, "build", "recipe.yaml", "--out", "parts",
             "--set", "pair.partition_prompts=7", "--set", "filter.partition_pairs=9")
    whole, parts = (pl.read_parquet(user_folder / run / "dataset" / "train.parquet") for run in ("whole", "parts"))
    assert_frame_equal(parts, whole)
    assert 0 < whole.height < 40  # the median filter saw all pairs at once, not 9 at a time
    candidates = pl.read_parquet(user_folder / "whole" / "stages" / "sample" / "data.parquet")
    assert set(candidates["backend"]) == {"my_blocks:CountingSampler"} and set(candidates["model"]) == {"counting"}
    pairs = pl.read_parquet(user_folder / "whole" / "stages" / "pair" / "data.parquet")
    assert set(pairs["strategy"]) == {"my_pairing:SecondBest"}
    runner_up = pairs.select((pl.col("chosen").str.count_matches("word") > pl.col("rejected").str.count_matches("word"))
                             .all()).item()
    assert runner_up
    stats = json.loads((user_folder / "parts" / "stages" / "filter" / "stats.json").read_text())
    assert "partitions" in json.loads(stats["manifest"]["stats"])


def test_an_edited_block_reruns_its_stage_and_what_follows(user_folder):
    prefdata(user_folder, "build", "recipe.yaml", "--out", "run")
    done = {s: (user_folder / "run" / "stages" / s / "DONE").read_text() for s in ("sample", "label", "pair")}
    source = (user_folder / "my_pairing.py").read_text()
    (user_folder / "my_pairing.py").write_text(source.replace('"""The best candidate against the runner-up."""',
                                                              '"""The best candidate against the second."""'))
    prefdata(user_folder, "build", "recipe.yaml", "--out", "run")
    after = {s: (user_folder / "run" / "stages" / s / "DONE").read_text() for s in ("sample", "label", "pair")}
    assert after["sample"] == done["sample"] and after["label"] == done["label"]
    assert after["pair"] != done["pair"]


def test_an_importer_of_ones_own_by_format_module_class(user_folder):
    rows = [{"q": "2+2?", "good": "4", "bad": "5"}, {"q": "sky?", "good": "", "bad": "blue"},
            {"q": "hi", "good": "hello", "bad": "go away"}]
    (user_folder / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prefdata(user_folder, "import", "qa.jsonl", "--format", "my_blocks:QA", "--out", "qa")
    stats = json.loads((user_folder / "qa" / "stats.json").read_text())
    assert (stats["input_rows"], stats["kept"], stats["rejected_by_reason"]) == (3, 2, {"no_preference": 1})
    bad = subprocess.run([sys.executable, "-m", "prefdata.cli", "import", "qa.jsonl", "--format", "my_blocks:Nope",
                          "--out", "x"], cwd=user_folder, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "has no attribute 'Nope'" in bad.stderr


def test_blocks_of_ones_own_that_break_the_contract_are_refused_at_load_all_at_once(user_folder):
    (user_folder / "bad_blocks.py").write_text(MY_BLOCKS.replace("        model: str\n", "        name: str = 'x'\n"))
    recipe = yaml.safe_load((user_folder / "recipe.yaml").read_text())
    recipe["sample"]["models"] = [{"backend": "bad_blocks:CountingSampler"}]
    recipe["pair"]["strategy"] = {"type": "my_pairing:SecondBest", "top": 2}
    (user_folder / "bad.yaml").write_text(yaml.safe_dump(recipe))
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "build", "bad.yaml", "--out", "bad"],
                          cwd=user_folder, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "bad_blocks:CountingSampler: its Config has no model field (a sampler needs it)" in proc.stderr
    assert "my_pairing:SecondBest: unknown option(s) top; its Config has none" in proc.stderr
