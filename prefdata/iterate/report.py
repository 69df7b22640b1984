"""The report of an iterate run: DIR/report.json, DIR/report.md and DIR/plots/*.png.

    from prefdata.iterate.report import write_report
    write_report(layout, plan, models, evals)      # prefdata/iterate/loop.py calls it after the last round

Per round: the build's funnel (kept and dropped by reason, every stage and filter step), the
label statistics, the training summary (final loss, reward accuracy and margin, alarms) and
the held-out evaluation; round 0 is pi_0. One cross-round plot: every eval judge's mean
(and pass rate) by round, and the win rate against pi_0. Per-round plots: each round's
build funnel. Nothing here holds wall times or how much a rerun reused (`*_resumed`), so a
resumed loop writes the same report.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefdata.evaluate.report import difference, paired_text, value
from prefdata.report import funnel_markdown, plot_funnel, pyplot, run_funnel, save_figure
from prefdata.rundir import RunDir
from prefdata.atomic import write_text_atomic


def _found(stats):
    """Statistics without the counts of work a rerun reused (`*_resumed`): what the round found."""
    if isinstance(stats, dict):
        return {k: _found(v) for k, v in stats.items() if not k.endswith("_resumed")}
    return stats


def collect(layout, plan, models: dict[int, str], evals: dict[int, dict]) -> dict:
    rounds = []
    for t in sorted(models):
        entry = {"round": t, "model": str(Path(models[t]).relative_to(layout.root)) if t else models[t],
                 "eval": evals[t]["judges"], **({"ifeval": evals[t]["ifeval"]} if "ifeval" in evals[t] else {})}
        if t:
            run = RunDir(layout.round(t) / "run")
            entry["funnel"] = run_funnel(run.root)
            entry["label"] = _found(json.loads(run.stage("label").manifest().stats))
            entry["train"] = json.loads((layout.round(t) / "train.json").read_text())["summary"]
        rounds.append(entry)
    it = plan.recipe.iterate
    return {"recipe": str(plan.path), "overrides": plan.overrides, "rounds_run": plan.rounds,
            "schedule": {"prompts": it.prompts, "prompts_per_round": it.prompts_per_round,
                         "reference": it.reference, "init": it.init},
            "eval_judges": plan.eval_judges, "rounds": rounds}


def write_report(layout, plan, models: dict[int, str], evals: dict[int, dict]) -> dict:
    report = collect(layout, plan, models, evals)
    plots = layout.root / "plots"
    images = [plot_rounds(report, plots / "rounds.png")]
    for entry in report["rounds"][1:]:
        images.append(plot_funnel(entry["funnel"], plots / f"funnel_round{entry['round']}.png"))
    report["plots"] = [str(p.relative_to(layout.root)) for p in images]
    write_text_atomic(layout.root / "report.json", json.dumps(report, indent=2, default=str))
    write_text_atomic(layout.root / "report.md", markdown(report))
    return report


def markdown(report: dict) -> str:
    judges = report["eval_judges"]
    lines = [f"# Iterative DPO: {report['recipe']}", "",
             f"{report['rounds_run']} round(s); prompts {report['schedule']['prompts']}, reference "
             f"{report['schedule']['reference']}, init {report['schedule']['init']}. Round 0 is the initial policy.",
             "", "![rounds](plots/rounds.png)", "", "## Held-out evaluation (greedy answers)", ""]
    head = ["round", "pairs trained", "final loss", "reward acc."]
    for j in judges:
        head += [f"{j} mean", f"{j} pass", f"{j} win vs pi_0", f"{j} vs pi_0 [95% CI]"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in report["rounds"]:
        train = entry.get("train", {})
        row = [str(entry["round"]), str(train.get("pairs", "-")), fmt_number(train.get("final_loss")),
               fmt_number(train.get("reward_accuracy"))]
        for j in judges:
            r = entry["eval"].get(j, {})
            # the pass rate's difference in points, a score's as it is
            scale, digits = (100, 1) if "pass_rate" in r else (1, 3)
            row += [fmt_number(r.get("mean")), _pct(r.get("pass_rate")), _pct(r.get("win_rate_vs_initial")),
                    paired_text(r.get("vs_initial"), scale, digits) or "-"]
        lines.append("| " + " | ".join(row) + " |")
    lines += _ifeval_markdown(report["rounds"])
    for entry in report["rounds"][1:]:
        alarms = ", ".join(entry["train"]["alarms"]) or "none"
        lines += ["", f"## Round {entry['round']}", "", f"Model: `{entry['model']}`; training alarms: {alarms}.", "",
                  funnel_markdown(entry["funnel"]), "", f"![funnel](plots/funnel_round{entry['round']}.png)"]
    return "\n".join(lines) + "\n"


def plot_rounds(report: dict, path: Path) -> Path:
    """Eval judges' means and pass rates, and win rate against pi_0, by round."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    rounds = [e["round"] for e in report["rounds"]]
    for judge in report["eval_judges"]:
        series = [e["eval"].get(judge, {}) for e in report["rounds"]]
        left.plot(rounds, [s.get("mean") for s in series], marker="o", label=f"{judge} mean")
        if any("pass_rate" in s for s in series):
            left.plot(rounds, [s.get("pass_rate") for s in series], marker="s", linestyle="--",
                      label=f"{judge} pass rate")
        right.plot(rounds[1:], [s.get("win_rate_vs_initial") for s in series[1:]], marker="o", label=judge)
    left.set_xlabel("round (0 = initial policy)")
    left.set_title("held-out score")
    left.legend(fontsize=8)
    right.axhline(0.5, color="grey", linewidth=0.8)
    right.set_ylim(0, 1)
    right.set_xlabel("round")
    right.set_title("win rate against pi_0 (ties 1/2)")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.set_xticks(rounds)
    return save_figure(fig, path)


def _ifeval_markdown(rounds: list[dict]) -> list[str]:
    """IFEval's accuracies per round and judge, scored and compared as `prefdata eval` does."""
    if not any("ifeval" in r for r in rounds):
        return []
    head = ["round", "judge", "prompt strict", "vs pi_0 [95% CI]", "instruction loose", "vs pi_0 [95% CI]",
            "relevance"]
    lines = ["", "IFEval accuracy (scored as by `prefdata eval`; differences paired over the held-out prompts):", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rounds:
        for judge, e in (r.get("ifeval") or {}).items():
            vs = e.get("vs_initial", {})
            cells = [f"{value(m, e[m])} | {difference(m, vs.get(m)) or '-'}"
                     for m in ("prompt_strict", "instruction_loose")]
            lines.append(f"| {r['round']} | {judge} | {' | '.join(cells)} | {value('relevance', e['relevance'])} |")
    return lines


def fmt_number(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"
