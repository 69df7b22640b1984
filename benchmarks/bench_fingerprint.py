"""Fingerprinting a 1 GB model directory for a stage key: prefdata's fingerprint vs hashing every byte.

    python benchmarks/bench_fingerprint.py --gib 1

Writes a model directory with a --gib GiB weights file (sparse: no disk is used, reading it
still costs a full pass) and the small files of a real checkpoint (config, tokenizer, chat
template). Times `prefdata.fingerprint.path_fingerprint` on a fresh process's first call and
on a repeat call, against a sha256 of every file (what a content hash of the directory costs).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=1.0)
    args = ap.parse_args()

    from prefdata.fingerprint import content_digest, path_fingerprint
    from prefdata.tiny import build_tokenizer, default_corpus

    model = Path(tempfile.mkdtemp()) / "model"
    model.mkdir()
    build_tokenizer(default_corpus()).save_pretrained(model)
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 2048}))
    with open(model / "model.safetensors", "wb") as f:
        f.truncate(int(args.gib * 2**30))

    timings = {}
    for name, fn in (("prefdata_first_call", path_fingerprint), ("prefdata_repeat", path_fingerprint),
                     ("sha256_every_byte", content_digest)):
        t0 = time.perf_counter()
        fn(model)
        timings[name] = time.perf_counter() - t0
    print(json.dumps({"weights_gib": args.gib, **{k: round(v, 4) for k, v in timings.items()},
                      "ratio_full_hash_over_first_call": round(timings["sha256_every_byte"] /
                                                               timings["prefdata_first_call"], 1)}, indent=2))


if __name__ == "__main__":
    main()
