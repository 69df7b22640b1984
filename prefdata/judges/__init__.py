"""Judges: machine labels for candidates, one `records.Judgment` schema for every source.

    prefdata judges                          # list judge types and built-in checks
    from prefdata.judges import JUDGES, JudgeConfig, build_judge

base.py          Judge interface, JudgeItem, `build_judge`
reward_model.py  AutoModelForSequenceClassification scores
llm.py           LLM-as-judge: pointwise rubric / pairwise with position swap (templates/*.jinja)
programmatic.py  exact/numeric match, regex, JSON validity, length, user `module:function`
ifeval.py        verifiable instructions (IFEval's checkers), optionally gated by relevance
parsing.py       pure parsers of judge outputs + the fence for candidate text
pairwise.py      two answers judged in both orders -> Judgment rows (swap consistency, win rate)
The `label` stage (prefdata/stages/label.py, with prefdata/labelling/) runs them, each as its
`runs()` declares. `JUDGES` names every judge class
once; the recipe's `label.judges` union and `prefdata judges` are built from it, so a new
judge is a module with a `Judge` subclass (`name`, `Config`, docstring) plus one line here;
or, outside the package, `type: my_module:MyJudge` in the recipe or a `prefdata.judges`
entry point (prefdata/plugins.py; its Config needs an `id`).
"""

from __future__ import annotations

from prefdata.judges.base import Judge, build_judge
from prefdata.judges.ifeval import IFEvalJudge
from prefdata.judges.llm import LLMJudge
from prefdata.judges.programmatic import ProgrammaticJudge
from prefdata.judges.reward_model import RewardModelJudge
from prefdata.plugins import plugin_union, registered_catalog
from prefdata.registry import catalog

JUDGES: list[type[Judge]] = [RewardModelJudge, LLMJudge, ProgrammaticJudge, IFEvalJudge]
# `type:` a name in JUDGES, or a judge of the user's own (`module:Class`, an entry point)
JudgeConfig = plugin_union(JUDGES, "judge", Judge)


def judge_catalog() -> list[tuple[str, str]]:
    """(type, what it does) per judge, from the classes' docstrings; installed plugins last."""
    return catalog(JUDGES) + registered_catalog("judge")


__all__ = ["JUDGES", "Judge", "JudgeConfig", "build_judge", "judge_catalog"]
