"""Judges: machine labels for candidates, one `records.Judgment` schema for every source.

    prefdata judges                          # list judge types and built-in checks

base.py          Judge interface, JudgeItem, registry (`build_judge`)
reward_model.py  AutoModelForSequenceClassification scores
llm.py           LLM-as-judge: pointwise rubric / pairwise with position swap (templates/*.jinja)
programmatic.py  exact/numeric match, regex, JSON validity, length, user `module:function`
parsing.py       pure parsers of judge outputs + the fence for candidate text
aggregate.py     mean / majority / rank combination of several judges
agreement.py     pairwise agreement, Cohen's kappa, Krippendorff's alpha on derived pairs
The `label` stage (prefdata/stages/label.py) runs them.
"""
