"""Each seed of a benchmark in its own process, so one seed's vLLM engines and models never
stay in memory for the next; a seed already finished is not run again.

    from seeds import run_seeds
    run_seeds(__file__, args.out, args.seeds, finished=lambda d: (d / "results.json").is_file())

The script runs one seed when called as `script --out OUT --one-seed SEED [extra...]`, and
writes that seed's results under OUT/seed<SEED>.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable


def run_seeds(script: str | Path, out: Path, seeds: Iterable[int], finished: Callable[[Path], bool],
              extra: Iterable[str] = ()) -> None:
    for seed in seeds:
        if not finished(out / f"seed{seed}"):
            subprocess.run([sys.executable, str(script), "--out", str(out), "--one-seed", str(seed), *extra],
                           check=True)
