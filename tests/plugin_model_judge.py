"""A model judge of a user's own, as tests copy it beside a recipe (`type: plugin_model_judge:TinyScorer`).

It declares that it holds a model, so the label stage shards it, resumes it after a kill and
runs it on Ray actors, knowing nothing else about it. Every `judge` call appends a line (pid,
candidates) to the file $PLUGIN_JUDGE_CALLS, so tests can count the work that was really done
(an environment variable: a file named in the config would be part of the stage key).
"""

from __future__ import annotations

import os
import time

from prefdata import Judge, StrictModel
from prefdata.judges.base import JudgeRuns, judgment_row


class TinyScorer(Judge):
    """Score an answer with a sequence-classification model's single logit."""

    judge_type = "tiny_scorer"

    class Config(StrictModel):
        id: str
        path: str
        seconds_per_call: float = 0.0  # lets a kill test catch the stage between two shards

    @classmethod
    def runs(cls, config) -> JudgeRuns:
        return JudgeRuns(shards=True, model=True, model_fields=("path",))

    def __init__(self, config):
        super().__init__(config)
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(1)
        self.model = config.path
        self.tokenizer = AutoTokenizer.from_pretrained(config.path)
        self.net = AutoModelForSequenceClassification.from_pretrained(config.path).eval()

    def judge(self, items, progress=None):
        import torch

        time.sleep(self.config.seconds_per_call)
        rows = []
        with torch.no_grad():
            for item in items:  # one at a time: no padding, so the score never depends on the batch
                ids = self.tokenizer(item.response or " ", return_tensors="pt")
                rows.append(judgment_row(self, item, score=round(float(self.net(**ids).logits[0, 0]), 6)))
        if os.environ.get("PLUGIN_JUDGE_CALLS"):
            with open(os.environ["PLUGIN_JUDGE_CALLS"], "a") as log:
                log.write(f"{os.getpid()} {len(items)}\n")
        return rows
