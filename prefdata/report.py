"""Statistics, PNG plots and the summary of a run or a dataset directory.

    from prefdata.report import summarize, format_summary, write_report
    print(format_summary(summarize("runs/demo")))        # what `prefdata inspect runs/demo` prints
    images, sections, stats = write_report("runs/demo/dataset", before=pairs0, after=pairs1, funnel=funnel)

Plots (PNG, under `<dir>/plots/`): `margin_hist.png` (chosen - rejected score),
`length_gap_hist.png` (chosen minus rejected length in characters, before vs after the
filters) and `funnel.png` (rows after each stage and filter step). The funnel is a list of
steps `{name, unit, rows_in, rows_kept, dropped}`; `check_funnel` verifies that every step
keeps + drops exactly its input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from prefdata.errors import DataError
from prefdata.ledger import check_balance, funnel_entry, provenance_of
from prefdata.lengths import gap_summary, length_gap_expr
from prefdata.rundir import RunDir



# ----------------------------------------------------------------------------- statistics
def narrow_pairs(pairs: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """What the statistics and plots read of pairs (or DPO examples): prompt_id, margin and the
    chosen-minus-rejected length in characters; from a scan, only these columns are held."""
    lf = pairs.lazy()
    schema = lf.collect_schema()
    keep = [c for c in ("prompt_id", "margin", "provenance") if c in schema]
    return lf.select(*keep, length_gap_expr(schema)).collect()


def describe_pairs(pairs: pl.DataFrame | pl.LazyFrame) -> dict[str, Any]:
    """Counts, margin and length-gap statistics of pairs with chosen/rejected (+ margin), or of
    their `narrow_pairs`."""
    pairs = pairs if "length_gap" in pairs.collect_schema() else narrow_pairs(pairs)
    margin, by_provenance = _margins(pairs), provenance_of(pairs)
    return {
        "pairs": pairs.height,
        "prompts": pairs["prompt_id"].n_unique() if "prompt_id" in pairs.columns else None,
        "with_margin": int(margin.len()),
        "margin": {"mean": _f(margin.mean()), "median": _f(margin.median()), "min": _f(margin.min()),
                   "max": _f(margin.max())} if margin.len() else None,
        "length_gap": gap_summary(pairs["length_gap"]),
        **({"provenance": by_provenance} if by_provenance else {}),
    }


def _margins(pairs: pl.DataFrame) -> pl.Series:
    margin = pairs["margin"].drop_nulls() if "margin" in pairs.columns else pl.Series([], dtype=pl.Float64)
    return margin.filter(margin.is_finite()) if margin.len() else margin


def _f(value) -> float | None:
    return None if value is None else float(value)


def check_funnel(funnel: list[dict]) -> None:
    """Every step keeps + drops exactly its input: a broken ledger is a bug, not a user error."""
    for step in funnel:
        check_balance(f"funnel step {step['name']}", step["rows_in"], step["rows_kept"],
                      sum(step.get("dropped", {}).values()))


def run_funnel(run_dir: Path, stages: list[str] | None = None) -> list[dict]:
    """Funnel of a build run from each finished stage's manifest; filter steps are listed one by one.

    `stages` limits it to the recipe's stages (a stage dir left from an older recipe is ignored).
    """
    funnel = []
    for sdir in RunDir(run_dir).finished_stages(stages):
        manifest = sdir.manifest()
        stats = json.loads(manifest.stats or "{}")
        if sdir.name == "filter" and stats.get("funnel"):
            funnel += [filter_step(step) for step in stats["funnel"]]
            continue
        extra = {k: stats[k] for k in ("pairs", "provenance") if sdir.name in ("pair", "export") and k in stats}
        funnel.append(funnel_entry(sdir.name, manifest.unit, manifest.rows_in, manifest.rows_kept, manifest.dropped,
                                   **extra))
    return funnel


def funnel_line(manifest) -> str:
    """prompts -> candidates -> pairs -> kept pairs of one build, from its RunManifest."""
    stages = {s.name: s for s in manifest.stages}
    pairs = json.loads(stages["pair"].stats).get("pairs", stages["pair"].rows_kept)
    kept = stages["filter"].rows_kept if "filter" in stages else pairs
    candidates = sum(s.rows_in for s in manifest.stages if s.name.split(".")[0] == "label")  # every round's
    return (f"{stages['prompts'].rows_kept} prompts -> {candidates} candidates -> {pairs} pairs "
            f"-> {kept} kept")


def filter_step(step: dict) -> dict:
    """A filter-stage funnel entry in funnel form."""
    return funnel_entry(f"filter:{step['type']}", "pairs", step["rows_in"], step["rows_kept"], step["dropped"])


def import_step(stats: dict) -> list[dict]:
    """The import that made a dataset directory, from its stats.json (none when it was not imported)."""
    if "input_rows" not in stats:
        return []
    return [funnel_entry("import", "rows", stats["input_rows"], stats["kept"], stats.get("rejected_by_reason", {}))]


# ----------------------------------------------------------------------------- plots
def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_margins(pairs: pl.DataFrame, path: Path) -> Path:
    """`pairs`: narrow_pairs of the pairs."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    margin = _margins(pairs)
    if margin.len():
        ax.hist(margin.to_numpy(), bins=40, color="#4c72b0")
        ax.set_xlabel("margin (chosen score - rejected score)")
        ax.set_ylabel("pairs")
    else:
        ax.text(0.5, 0.5, "no scores: pairs carry no margin", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(f"Preference margin ({margin.len()} of {pairs.height} pairs scored)")
    return save_figure(fig, path)


def plot_length_gap(before: pl.DataFrame | None, after: pl.DataFrame, path: Path) -> Path:
    """`before`, `after`: narrow_pairs of the pairs."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    series = [("after filters", after, "#55a868")]
    if before is not None:
        series.append(("before filters", before, "#c44e52"))
    for label, df, color in reversed(series):
        gap = df["length_gap"]
        if gap.len():
            ax.hist(gap.to_numpy(), bins=40, alpha=0.55, color=color,
                    label=f"{label}: n={gap.len()}, mean {gap.mean():+.0f}")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("chosen minus rejected length (characters)")
    ax.set_ylabel("pairs")
    ax.set_title("Length gap")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_funnel(funnel: list[dict], path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(funnel) + 1.2))
    labels = [f"{s['name']} ({s['unit']})" for s in funnel]
    kept = [s["rows_kept"] for s in funnel]
    ax.barh(range(len(funnel)), kept, color="#4c72b0")
    for i, step in enumerate(funnel):
        ax.text(step["rows_kept"], i, f" {step['rows_kept']} / {step['rows_in']}", va="center", fontsize=8)
    ax.set_yticks(range(len(funnel)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("rows kept / rows in")
    ax.set_title("Funnel: rows after each stage and filter step")
    ax.set_xlim(0, max(kept + [1]) * 1.3)
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


# ----------------------------------------------------------------------------- card pieces
def funnel_markdown(funnel: list[dict]) -> str:
    lines = ["| step | unit | in | kept | dropped (by reason) |", "|---|---|---|---|---|"]
    for s in funnel:
        why = ", ".join(f"`{k}` {v}" for k, v in s.get("dropped", {}).items()) or "-"
        by = s.get("provenance")
        kept = f"{s['rows_kept']}" + (f" ({', '.join(f'{k} {v}' for k, v in by.items())} pairs)" if by else "")
        lines.append(f"| {s['name']} | {s['unit']} | {s['rows_in']} | {kept} | {why} |")
    return "\n".join(lines)


def write_report(out_dir: Path, *, before: pl.DataFrame | pl.LazyFrame | None, after: pl.DataFrame | pl.LazyFrame,
                 funnel: list[dict]) -> tuple[list[str], list[tuple[str, str]], dict]:
    """Plots under out_dir/plots; returns (image paths relative to out_dir, card sections, stats)."""
    check_funnel(funnel)
    out_dir = Path(out_dir)
    before, after = (narrow_pairs(f) if f is not None else None for f in (before, after))
    images = [plot_margins(after, out_dir / "plots" / "margin_hist.png"),
              plot_length_gap(before, after, out_dir / "plots" / "length_gap_hist.png"),
              plot_funnel(funnel, out_dir / "plots" / "funnel.png")]
    stats = {"funnel": funnel, "after_filters": describe_pairs(after)}
    if before is not None:
        stats["before_filters"] = describe_pairs(before)
    described = (("before_filters", stats.get("before_filters")), ("after_filters", stats["after_filters"]))
    gap_lines = [_gap_line(k.replace("_", " "), v["length_gap"]) for k, v in described if v is not None]
    sections = [("Funnel", funnel_markdown(funnel)),
                ("Length gap (chosen minus rejected, characters)", "\n".join(gap_lines))]
    return [str(p.relative_to(out_dir)) for p in images], sections, stats


def _gap_line(label: str, gap: dict) -> str:
    if gap["mean"] is None:
        return f"- {label}: no pairs"
    return (f"- {label}: mean {gap['mean']:+.1f}, median {gap['median']:+.1f}, "
            f"chosen longer in {gap['chosen_longer_share']:.0%} of pairs")


# ----------------------------------------------------------------------------- inspect
def summarize(path: str | Path) -> dict[str, Any]:
    """Summary of a build run directory (has stages/) or a dataset directory (has train.parquet)."""
    path = Path(path)
    run = RunDir(path)
    if run.is_run():
        funnel = run_funnel(path)
        summary: dict[str, Any] = {"kind": "run", "path": str(path), "funnel": funnel}
        rounds = rounds_table((s.name, json.loads(s.manifest().stats or "{}")) for s in run.finished_stages())
        if rounds:  # dynamic sampling
            summary["rounds"] = rounds
        final = run.final_pairs_file()
        if final is not None:
            summary["pairs"] = describe_pairs(pl.scan_parquet(final))
        if (run.dataset / "stats.json").is_file():
            summary["dataset"] = json.loads((run.dataset / "stats.json").read_text())
        return summary
    if (path / "train.parquet").is_file():
        from prefdata.io.dataset_dir import read_dataset_dir

        splits = read_dataset_dir(path)
        stats = json.loads((path / "stats.json").read_text()) if (path / "stats.json").is_file() else {}
        every = pl.concat(list(splits.values()), how="vertical")
        return {"kind": "dataset", "path": str(path), "source": stats.get("source"), "format": stats.get("format"),
                "splits": {k: v.height for k, v in splits.items()}, "funnel": dataset_funnel(stats),
                "pairs": describe_pairs(every)}
    raise DataError(f"{path}: neither a build run directory (no stages/) nor a dataset directory (no "
                    "train.parquet). Pass the --out directory of `prefdata build`, `prefdata import` or "
                    "`prefdata filter`.")


def dataset_funnel(stats: dict) -> list[dict]:
    """The funnel of a dataset directory from its stats.json: the filter steps that made it, else
    the import (rows in, kept, dropped by reason), else nothing known."""
    return stats["funnel"] if stats.get("funnel") else import_step(stats)


def funnel_table(funnel: list[dict]) -> str:
    """The funnel as a plain-text table: one line per step (+ one for the pairs made)."""
    w = max([22, *(len(s["name"]) + 2 for s in funnel)])  # a plugin's step name is `filter:module:Class`
    lines = [f"{'step':<{w}}{'unit':<12}{'in':>9}{'kept':>9}{'dropped':>9}  reasons"]
    for s in funnel:
        dropped = sum(s.get("dropped", {}).values())
        why = ", ".join(f"{k}={v}" for k, v in s.get("dropped", {}).items())
        lines.append(f"{s['name']:<{w}}{s['unit']:<12}{s['rows_in']:>9}{s['rows_kept']:>9}{dropped:>9}  {why}")
        if "pairs" in s:
            lines.append(f"{'':<{w}}{'-> pairs':<12}{'':>9}{s['pairs']:>9}")
        if s.get("provenance"):
            by = ", ".join(f"{who}={n}" for who, n in s["provenance"].items() if n)
            lines.append(f"{'':<{w}}{'decided by':<12}{'':>27}  {by}")  # under the reasons column
    return "\n".join(lines)


def format_summary(summary: dict[str, Any]) -> str:
    """Plain-text summary: the funnel table, then margins and length gap."""
    lines = [f"{summary['kind']}: {summary['path']}"]
    if summary.get("source"):
        lines.append(f"source: {summary['source']}  format: {summary.get('format')}")
    if summary.get("splits"):
        lines.append("splits: " + ", ".join(f"{k}={v}" for k, v in summary["splits"].items()))
    if summary.get("funnel"):
        lines.append("")
        lines.append(funnel_table(summary["funnel"]))
    if summary.get("rounds"):
        lines += ["", "dynamic sampling, by round:", rounds_text(summary["rounds"])]
    pairs = summary.get("pairs")
    if pairs:
        lines.append("")
        lines.append(f"pairs: {pairs['pairs']}  prompts: {pairs['prompts']}  scored: {pairs['with_margin']}")
        if pairs["margin"]:
            m = pairs["margin"]
            lines.append(f"margin: mean {m['mean']:.3f}  median {m['median']:.3f}  "
                         f"min {m['min']:.3f}  max {m['max']:.3f}")
        gap = pairs["length_gap"]
        if gap["mean"] is not None:
            lines.append(f"length gap (chosen - rejected chars): mean {gap['mean']:+.1f}  median {gap['median']:+.1f}  "
                         f"chosen longer in {gap['chosen_longer_share']:.0%}")
    return "\n".join(lines)


def rounds_table(stage_stats: Iterable[tuple[str, dict]]) -> list[dict]:
    """Dynamic sampling (prefdata/dynamic/), one row per round: the candidates after it, the prompts
    still without a pair, the pairs and the yield (pairs per 1,000 candidates), and how many
    prompts the next round sampled again; from the select stages' statistics. Empty for a run
    without dynamic sampling."""
    rows = []
    for name, stats in stage_stats:
        if name.startswith("select."):
            rows.append({"round": stats["round"] - 1, "candidates": stats["candidates"],
                         "prompts_without_pair": stats["prompts_without_pair"], "pairs": stats["pairs"],
                         "yield_per_1k_candidates": stats["yield_per_1k_candidates"],
                         "sampled_again": stats["selected"]})
    return rows


def rounds_text(rows: list[dict]) -> str:
    lines = [f"{'round':>5}{'candidates':>12}{'no pair':>9}{'pairs':>8}{'pairs/1k cand':>15}{'sampled again':>15}"]
    for r in rows:
        lines.append(f"{r['round']:>5}{r['candidates']:>12}{r['prompts_without_pair']:>9}{r['pairs']:>8}"
                     f"{r['yield_per_1k_candidates'] or 0:>15.1f}{r['sampled_again']:>15}")
    return "\n".join(lines)
