"""The label stage's logic, beside the judges it drives: running any judge from its declaration
(`Judge.runs`), shards that resume, combining several judges, agreement, mixed human/judge labels.

    from prefdata.labelling.runner import JudgeRunner, build_items, run_judge

runner.py     JudgeRunner (one judge for a stage run, in this process or on Ray actors), shards, statistics
ray_pool.py   model judges on a pool of Ray actors (`label.executor: ray`)
combine.py    mean / majority / rank combination of several judges
agreement.py  pairwise agreement, Cohen's kappa, Krippendorff's alpha on derived pairs
mixed.py      the annotators' ranking where answered, the judges' labels elsewhere (`label.source: mixed`)

The stage itself is prefdata/stages/label.py, its partitions prefdata/partition/labels.py.
Nothing here names a judge: tests/test_imports.py checks it.
"""
