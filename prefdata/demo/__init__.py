"""`prefdata demo`: the whole loop offline on a task with checkable answers.

    prefdata demo --out runs/demo --seed 0 [--quick]

task.py: two-number addition prompts with reference answers + deliberately noisy judges;
sft.py: a short SFT of a tiny local model so that it answers correctly part of the time;
evaluate.py: greedy exact-match accuracy and held-out reward accuracy;
run.py: build (sample -> label -> pair -> filter -> export) + train, for clean, noisy and
filtered labels, then the comparison table and plots.
"""
