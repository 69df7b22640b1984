"""Judges: machine labels for candidates, one `records.Judgment` schema for every source.

    prefdata judges                          # list judge types and built-in checks
    from prefdata.judges import JUDGES, JudgeConfig, build_judge

base.py          Judge interface, JudgeItem, `build_judge`
reward_model.py  AutoModelForSequenceClassification scores
llm.py           LLM-as-judge: pointwise rubric / pairwise with position swap (templates/*.jinja)
programmatic.py  exact/numeric match, regex, JSON validity, length, user `module:function`
ifeval.py        verifiable instructions (IFEval's checkers), optionally gated by relevance
parsing.py       pure parsers of judge outputs + the fence for candidate text
aggregate.py     mean / majority / rank combination of several judges
agreement.py     pairwise agreement, Cohen's kappa, Krippendorff's alpha on derived pairs
The `label` stage (prefdata/stages/label.py) runs them. `JUDGES` names every judge class
once; the recipe's `label.judges` union and `prefdata judges` are built from it, so a new
judge is a module with a `Judge` subclass (`name`, `Config`, docstring) plus one line here.
"""

from __future__ import annotations

from prefdata.judges.base import Judge, build_judge
from prefdata.judges.ifeval import IFEvalJudge
from prefdata.judges.llm import LLMJudge
from prefdata.judges.programmatic import ProgrammaticJudge
from prefdata.judges.reward_model import RewardModelJudge
from prefdata.registry import catalog, config_union

JUDGES: list[type[Judge]] = [RewardModelJudge, LLMJudge, ProgrammaticJudge, IFEvalJudge]
JudgeConfig = config_union(JUDGES)


def judge_catalog() -> list[tuple[str, str]]:
    """(type, what it does) per judge, from the classes' docstrings."""
    return catalog(JUDGES)


__all__ = ["JUDGES", "Judge", "JudgeConfig", "build_judge", "judge_catalog"]
