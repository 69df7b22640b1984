"""prefdata: build DPO preference datasets and train on them.

    prefdata import ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --format hh-rlhf --out data/hh
    prefdata build pipelines/sample_vllm_cpu.yaml --out runs/demo
    prefdata train --data runs/demo/export --config trainer/configs/lora_cpu.yaml

The data flows prompts -> sample -> label -> pair -> filter -> export -> train; each stage
lives in `prefdata/stages/`, its heavy backends in `backends/`, `judges/`, `filters/`.
"""

__version__ = "0.1.0"
