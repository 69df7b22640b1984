"""Dataset cards: a `README.md` with a Hugging Face dataset-card YAML header.

    from prefdata.card import write_card
    write_card("data/hh", title="HH-RLHF harmless (test)", source="hh-rlhf/harmless-base-test.jsonl.gz",
               splits={"train": 2303}, columns={"prompt": "..."}, stats={"input_rows": 2312, ...},
               extra_sections=[("Filters", "gap >= 0.5 dropped 120 pairs")], images=["plots/margins.png"])

The YAML header, written by huggingface_hub's `DatasetCardData` (`configs` -> `data_files`
per split), makes `datasets.load_dataset(DIR)` and the Hub viewer find the parquet files. Sections: Format, Columns, Counts, Source, then the
caller's extra sections and images (paths relative to the card, e.g. PNG plots).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "n>1M"


def card_header(title: str, splits: Mapping[str, int]) -> str:
    from huggingface_hub import DatasetCardData  # ~0.3 s to import: only when a card is written

    meta = DatasetCardData(
        pretty_name=title,
        tags=["dpo", "preference", "prefdata", "trl"],
        task_categories=["text-generation"],
        size_categories=[_size_category(sum(splits.values()))],
        configs=[{
            "config_name": "default",
            "data_files": [{"split": name, "path": f"{name}.parquet"} for name in splits],
        }],
    )
    return f"---\n{meta.to_yaml()}\n---\n"


def _format_section(stats: Mapping) -> str:
    kind = stats.get("format")
    if kind == "standard":
        shape = "standard (plain strings): `prompt`, `chosen` and `rejected` are strings; TRL appends EOS."
    else:
        shape = ("conversational: `prompt` is a list of `{role, content}` messages ending with a user turn, "
                 "`chosen` and `rejected` hold one assistant message each; TRL renders them with the model's chat template.")
    return (f"TRL's explicit-prompt preference format, {shape}\n\n"
            "Load it with `datasets.load_dataset(\"parquet\", data_dir=DIR)` and pass the `train` split to "
            "`trl.DPOTrainer` as is.")


def _counts_section(splits: Mapping[str, int], stats: Mapping) -> str:
    lines = ["| split | rows |", "|---|---|"] + [f"| {k} | {v} |" for k, v in splits.items()]
    for key in ("input_rows", "kept", "rejected", "prompts"):
        if key in stats:
            lines.append(f"| {key.replace('_', ' ')} | {stats[key]} |")
    by_reason = stats.get("rejected_by_reason") or {}
    if by_reason:
        lines += ["", "Dropped rows by reason (one row each in `rejects.parquet`, with line and message):", "",
                  "| reason | rows |", "|---|---|"] + [f"| `{r}` | {n} |" for r, n in by_reason.items()]
    return "\n".join(lines)


def render_card(*, title: str, source: str, splits: Mapping[str, int], columns: Mapping[str, str],
                stats: Mapping, extra_sections: Iterable[tuple[str, str]] = (), images: Iterable[str] = ()) -> str:
    parts = [card_header(title, splits), f"# {title}\n", "## Format\n", _format_section(stats) + "\n",
             "## Columns\n", "| column | description |\n|---|---|\n"
             + "\n".join(f"| `{name}` | {doc} |" for name, doc in columns.items()) + "\n",
             "## Counts\n", _counts_section(splits, stats) + "\n",
             "## Source\n", f"{source}\n\nFull statistics: `stats.json`.\n"]
    for heading, body in extra_sections:
        parts += [f"## {heading}\n", body.rstrip() + "\n"]
    images = list(images)
    if images:
        parts += ["## Plots\n", "\n\n".join(f"![{Path(p).stem}]({p})" for p in images) + "\n"]
    return "\n".join(parts)


def write_card(out_dir: str | Path, *, title: str, source: str, splits: Mapping[str, int], columns: Mapping[str, str],
               stats: Mapping, extra_sections: Iterable[tuple[str, str]] = (), images: Iterable[str] = ()) -> Path:
    """Write `out_dir/README.md`; returns its path."""
    from huggingface_hub import DatasetCard

    path = Path(out_dir) / "README.md"
    text = render_card(title=title, source=source, splits=splits, columns=columns,
                       stats=json.loads(json.dumps(stats, default=str)), extra_sections=extra_sections, images=images)
    DatasetCard(text).save(path)  # parses the header back: a card the Hub cannot read fails here
    return path
