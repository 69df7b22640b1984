"""`prefdata eval`: greedy answers of one or more models on verifiable-instruction prompts,
scored with IFEval's checkers and compared against a baseline with paired intervals.

    from prefdata.evaluate import evaluate
    results = evaluate(["models/base", "runs/dpo/merged"], prompts="ifeval.jsonl", out="runs/eval",
                       baseline="models/base")
    results["compared"]["runs/dpo/merged"]["prompt_strict"]   # {"diff", "low", "high", "verdict"}

    prefdata eval models/base runs/dpo/merged --prompts ifeval.jsonl --baseline models/base --out runs/eval

The data flow: prompts.py reads the prompt file (IFEval's own shape or a prefdata prompt file)
and refuses a bad row before any model loads; answers.py runs each model through a
`prefdata build` to the label stage (vLLM or any sampler backend, k=1, temperature 0, the
`ifeval` judge), so answers are resumable and kill-safe per model like every build; scores.py
turns the judgments into one row per prompt (prompt- and instruction-level accuracy, strict
and loose, relevance, answer length); compare.py pairs every model with the baseline;
report.py writes results.json, index.html and the console table.
"""

from prefdata.evaluate.run import evaluate

__all__ = ["evaluate"]
