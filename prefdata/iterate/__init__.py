"""`prefdata iterate`: on-policy iterative DPO with prefdata's filters in every round.

    prefdata iterate pipelines/iterate_demo.yaml --out runs/iterate --rounds 2

config.py    the iterate recipe (a build recipe + train: + iterate:), checked at load
schedule.py  which prompts each round sees; per-round seeds
loop.py      the rounds: build from pi_{t-1}, train pi_t, merge, evaluate; resumable
evaluate.py  held-out greedy answers scored by the recipe's pointwise judges
report.py    report.json, report.md and plots across rounds
"""
