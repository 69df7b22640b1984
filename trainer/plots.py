"""PNG plots of a run from its metrics.jsonl: loss, rewards/chosen, rewards/rejected, margins, accuracies.

    python -m prefdata.trainer.plots runs/dpo          # writes runs/dpo/plots/*.png
    from prefdata.trainer.plots import plot_run; plot_run("runs/dpo")

One PNG per metric, train as a line and eval as markers on the same axes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefdata.trainer.metrics import read_metrics

PLOTTED = {
    "loss": "loss",
    "rewards/chosen": "rewards_chosen",
    "rewards/rejected": "rewards_rejected",
    "rewards/margins": "rewards_margins",
    "rewards/accuracies": "rewards_accuracies",
}


def plot_run(output_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    rows = read_metrics(output_dir / "metrics.jsonl")
    folder = output_dir / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key, name in PLOTTED.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for split, style in (("train", "-"), ("eval", "o--")):
            points = [(r["step"], r[key]) for r in rows if r.get("split") == split and key in r]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, label=split)
        ax.set_title(key)
        ax.set_xlabel("step")
        if key == "loss":
            ax.axhline(0.6931, color="grey", lw=0.8, ls=":", label="ln 2")
        ax.legend()
        fig.tight_layout()
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in plot_run(sys.argv[1]):
        print(path)
