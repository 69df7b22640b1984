"""prefdata: build DPO preference datasets and train on them.

    prefdata import ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --format hh-rlhf --out data/hh
    prefdata build pipelines/sample_vllm_cpu.yaml --out runs/demo
    prefdata train --data runs/demo/dataset --config trainer/configs/lora_cpu.yaml

    import prefdata
    run = prefdata.build("pipelines/sample_vllm_cpu.yaml", "runs/demo")   # a Run: funnel(), dataset(), report()

The data flows prompts -> sample -> label -> pair -> filter -> export -> train; each stage
lives in `prefdata/stages/`, its heavy backends in `backends/`, `judges/`, `filters/`.
Everything in `__all__` is the Python API (prefdata/api.py and the blocks' base classes),
imported on first use so that `import prefdata` and the CLI stay fast.
"""

from importlib import import_module

__version__ = "0.1.0"

# name -> module that defines it
_API = {
    # running things
    "build": "prefdata.api", "train": "prefdata.api", "evaluate": "prefdata.api", "Run": "prefdata.api",
    "Recipe": "prefdata.recipe", "load_recipe": "prefdata.recipe",
    # the records a run writes
    "PromptRecord": "prefdata.records", "Candidate": "prefdata.records", "Judgment": "prefdata.records",
    "PairRecord": "prefdata.records",
    # extending it: the blocks' base classes and registration
    "Filter": "prefdata.filters.base", "Rule": "prefdata.filters.base", "split_by_reasons": "prefdata.filters.base",
    "Judge": "prefdata.judges.base", "JudgeItem": "prefdata.judges.base",
    "Sampler": "prefdata.backends.base", "Request": "prefdata.backends.base", "Generation": "prefdata.backends.base",
    "SamplingParams": "prefdata.backends.base", "PairingStrategy": "prefdata.pairing.strategy",
    "Importer": "prefdata.io.importer", "StrictModel": "prefdata.config", "register": "prefdata.plugins",
    "PrefdataError": "prefdata.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prefdata' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
