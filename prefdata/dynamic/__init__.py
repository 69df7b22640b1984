"""Dynamic sampling: more answers, in rounds, for the prompts whose answers give no pair.

    sample:
      k: 4
      dynamic: {max_per_prompt: 16, budget: 2000}

After the label stage, each round picks the prompts whose candidates so far give no usable
pair under the recipe's pair section (all tie, all off-topic, too few scored answers),
samples k more answers per model for them as new shards, and labels only those with the
same judges. The pair stage then sees every round's candidates. Rounds stop when every
prompt has a pair, would pass `max_per_prompt`, or the `budget` of candidates is spent.

select.py   the `select.<r>` stage: which prompts get round r, and why the others do not
stages.py   `sample.<r>` and `label.<r>`: the sample and label stages on those prompts, their
            outputs the union of every round so far
rounds.py   the round stages in order, and the budget's check

Each round's stages are ordinary stages of the run (stages/select.1, stages/sample.1, ...):
content-addressed, reused when unchanged, resumed shard by shard after a kill. The recipe
section is `DynamicConfig` in stages/sample.py; the per-round table (yield per 1,000
candidates) is `rounds_table` in report.py.
"""
