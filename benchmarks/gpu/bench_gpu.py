"""DPO step time and peak memory per reference strategy, and vLLM candidates/s, in one go.

    bash benchmarks/gpu/run.sh                 # GPU: bf16, a 0.5B Qwen2-shaped random model
    bash benchmarks/gpu/run.sh --tiny          # CPU: the same code at a tiny size (CI runs this)

The model is randomly initialised with Qwen2.5-0.5B's shape (24 layers, hidden 896, 14
heads, 2 KV heads, MLP 4864; the vocabulary is the local tokenizer's, so the embedding is
small) and saved, then loaded back through `from_pretrained` like any checkpoint. Each
reference strategy trains in its own process (`prefdata.trainer.dpo.train`, LoRA r=16 for
the adapter strategies) for --steps steps on synthetic pairs of --length tokens:
- model: full fine-tuning with a frozen reference copy
- adapter_disabled: LoRA, the reference is the base with the adapter switched off
- adapter: LoRA on top of an SFT adapter, the reference is that adapter frozen
- precomputed: full fine-tuning, reference log-probs computed once before training
Per strategy: seconds per optimizer step (TRL's train_runtime / steps, first step included)
and peak memory (GPU: torch.cuda.max_memory_allocated; CPU: the process's peak RSS). Then
vLLM candidates/s and tokens/s sampling from the same model. One JSON object on stdout
(and in --out).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
STRATEGIES = ("model", "adapter_disabled", "adapter", "precomputed")
QWEN2_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864)
TINY = dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=256)


def build_model(out: Path, shape: dict) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from prefdata.tiny import build_tokenizer, default_corpus

    tokenizer = build_tokenizer(default_corpus(n_lines=600))
    config = Qwen2Config(vocab_size=len(tokenizer), max_position_embeddings=4096, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **shape)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_adapter(model_dir: Path, out: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear")).save_pretrained(out)
    return out


def build_data(out: Path, rows: int, length: int) -> Path:
    import random

    from prefdata.io.dataset_dir import examples_frame, write_dataset_dir
    from prefdata.ledger import empty_rejects
    from prefdata.tiny import default_corpus

    rng = random.Random(0)
    words = " ".join(default_corpus(n_lines=600)).split()

    def text(tokens: int) -> str:  # a word is 1-3 tokens of the local tokenizer: max_length leaves room
        return " ".join(rng.choice(words) for _ in range(max(1, tokens // 2)))

    examples = [{"prompt": [{"role": "user", "content": text(length // 2)}],
                 "chosen": [{"role": "assistant", "content": text(length // 4)}],
                 "rejected": [{"role": "assistant", "content": text(length // 4)}],
                 "prompt_id": f"p{i}", "source": "bench"} for i in range(rows)]
    write_dataset_dir(out, examples_frame(examples), empty_rejects(), source="synthetic")
    return out


def train_one(strategy: str, args, root: Path) -> dict:
    """One strategy, in this process: seconds per step and peak memory."""
    import torch

    from prefdata.trainer.config import validate_train_config
    from prefdata.trainer.dpo import train

    gpu = torch.cuda.is_available()
    lora = strategy in ("adapter_disabled", "adapter")
    raw = {
        "model": {"path": str(root / "model"), "dtype": "bfloat16" if gpu else "float32"},
        "data": {"dir": str(root / "data"), "eval_split": None, "check": False},
        "peft": {"mode": "lora" if lora else "full", "r": 16, "alpha": 32,
                 **({"adapter_name_or_path": str(root / "sft-adapter")} if strategy == "adapter" else {})},
        "reference": {"strategy": strategy, "cache_dir": str(root / "ref-cache")},
        "alarms": {"enabled": False},
        "dpo": {"output_dir": str(root / f"out-{strategy}"), "max_steps": args.steps, "learning_rate": 1e-5,
                "per_device_train_batch_size": args.batch_size, "max_length": args.length * 2,
                "bf16": gpu, "use_cpu": not gpu, "report_to": "none", "save_strategy": "no",
                "logging_steps": 1, "seed": 0},
    }
    cfg = validate_train_config(raw, f"bench:{strategy}")
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = train(cfg, overwrite=True)
    wall = time.perf_counter() - t0
    runtime = result.train_metrics.get("train_runtime") or wall
    peak = (torch.cuda.max_memory_allocated() if gpu else
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"strategy": strategy, "s_per_step": round(runtime / args.steps, 4), "wall_s": round(wall, 1),
            "peak_memory_gib": round(peak / 2**30, 3), "memory": "cuda_max_allocated" if gpu else "process_peak_rss"}


def sample(args, root: Path) -> dict:
    from prefdata.backends import make_sampler
    from prefdata.backends.base import Request, SamplingParams

    config = {"backend": "vllm", "model": str(root / "model"), "max_model_len": 512, "max_num_seqs": 64,
              "dtype": "auto" if args.gpu else "float32"}
    sampler = make_sampler(config)
    requests = [Request([{"role": "user", "content": f"question {i}: say something"}], n=args.k, seed=1024 * i)
                for i in range(args.prompts)]
    params = SamplingParams(max_tokens=args.max_tokens, temperature=1.0)
    sampler.generate(requests[:2], params)  # warm-up: compile / graph capture
    t0 = time.perf_counter()
    outs = sampler.generate(requests, params)
    seconds = time.perf_counter() - t0
    cands = sum(len(o) for o in outs)
    tokens = sum(g.num_tokens or 0 for o in outs for g in o)
    return {"prompts": args.prompts, "k": args.k, "candidates_per_s": round(cands / seconds, 1),
            "tokens_per_s": round(tokens / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny model, few steps: the CPU smoke run CI makes")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--length", type=int, default=None, help="tokens per example (prompt + response)")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write the JSON here too")
    ap.add_argument("--one", choices=STRATEGIES, help=argparse.SUPPRESS)  # internal: one strategy per process
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    small = args.tiny
    args.steps = args.steps or (3 if small else 20)
    args.batch_size = args.batch_size or (2 if small else 8)
    args.length = args.length or (64 if small else 512)
    args.prompts = args.prompts or (8 if small else 256)
    args.max_tokens = args.max_tokens or (16 if small else 256)
    import torch

    args.gpu = torch.cuda.is_available()
    if args.one:
        print(json.dumps(train_one(args.one, args, args.root)))
        return
    root = Path(tempfile.mkdtemp(prefix="prefdata-gpu-bench-"))
    build_model(root / "model", TINY if small else QWEN2_05B)
    build_adapter(root / "model", root / "sft-adapter")
    build_data(root / "data", rows=args.steps * args.batch_size * 2, length=args.length)
    results = {"device": torch.cuda.get_device_name() if args.gpu else "cpu", "shape": "tiny" if small else
               "Qwen2.5-0.5B dims", "steps": args.steps, "batch_size": args.batch_size, "length": args.length,
               "strategies": []}
    for strategy in STRATEGIES:
        cmd = [sys.executable, __file__, "--one", strategy, "--root", str(root), "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--length", str(args.length)] + (["--tiny"] if small else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"strategy {strategy} failed:\n{proc.stderr[-3000:]}")
        results["strategies"].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results["vllm"] = sample(args, root)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
