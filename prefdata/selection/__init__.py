"""Which prompts get a human budget: the criteria that rank prompts by how unsure the machines
are, and the budget that takes the first of them.

    prefdata argilla push RUN --budget 0.25 --select disagreement

budget.py           the criteria (margin, disagreement, swap, implicit_margin, random), the ranking
                    written to RUN_DIR/human/selection.parquet, and the budget taken from it
implicit_margin.py  the DPO implicit reward margin of the judges' pair, by the trainer's log-prob pass

Used by `prefdata argilla push` (prefdata/argilla/push.py) and `prefdata iterate`'s human rounds.
"""
