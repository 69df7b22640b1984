"""What `prefdata eval` shows: a console table, results.json and index.html beside the data.

Accuracy metrics are percentages (differences in points); relevance is a cosine, answer
length in tokens. Each model's row against the baseline reads `+3.0 [+0.5, +5.5] holds`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from prefdata.atomic import write_text_atomic
from prefdata.evaluate.scores import ACCURACY, METRICS

LABELS = {"prompt_strict": "prompt strict", "prompt_loose": "prompt loose",
          "instruction_strict": "instr. strict", "instruction_loose": "instr. loose",
          "relevance": "relevance", "answer_tokens": "answer tokens"}


def value(metric: str, x: float | None) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}%" if metric in ACCURACY else f"{x:.3f}" if metric == "relevance" else f"{x:.0f}"


def difference(metric: str, d: dict[str, Any] | None) -> str:
    scale, digits = (100, 1) if metric in ACCURACY else (1, 3 if metric == "relevance" else 0)
    return paired_text(d, scale, digits)


def paired_text(d: dict[str, Any] | None, scale: float, digits: int) -> str:
    """'+3.0 [+0.5, +5.5] holds' of a paired difference (evaluate/compare.py), `scale`d; '' without prompts."""
    if not d or d["verdict"] == "no prompts":
        return ""
    f = f"{{:+.{digits}f}}"
    return (f"{f.format(scale * d['diff'])} [{f.format(scale * d['low'])}, {f.format(scale * d['high'])}] "
            f"{d['verdict']}")


def console_table(results: dict[str, Any]):
    from rich.table import Table

    table = Table(title=f"prefdata eval: {results['prompts']['count']} prompts, baseline "
                        f"{Path(results['baseline']).name}")
    table.add_column("model")
    for metric in METRICS:
        table.add_column(LABELS[metric], justify="right")
    for model, summary in results["models"].items():
        compared = results["compared"].get(model, {})
        cells = [value(m, summary[m]) + (f"\n{difference(m, compared.get(m))}" if compared else "") for m in METRICS]
        name = Path(model).name or model  # the full paths are in results.json
        table.add_row(name + (" (baseline)" if model == results["baseline"] else ""), *cells)
    return table


def write_report(out: Path, results: dict[str, Any]) -> tuple[Path, Path]:
    data = write_text_atomic(Path(out) / "results.json", json.dumps(results, indent=2, sort_keys=True))
    rows = []
    for model, summary in results["models"].items():
        compared = results["compared"].get(model, {})
        cells = "".join(f"<td>{html.escape(value(m, summary[m]))}<br><small>{html.escape(difference(m, compared.get(m)))}"
                        "</small></td>" for m in METRICS)
        rows.append(f"<tr><th>{html.escape(model)}{' (baseline)' if model == results['baseline'] else ''}</th>{cells}</tr>")
    head = "".join(f"<th>{html.escape(LABELS[m])}</th>" for m in METRICS)
    prompts = results["prompts"]
    page = f"""<!doctype html><meta charset="utf-8"><title>prefdata eval</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.4em .8em;border-bottom:1px solid #ddd;text-align:right}}
th:first-child{{text-align:left}}small{{color:#555}}</style>
<h1>prefdata eval</h1>
<p>{prompts['count']} prompts from {html.escape(prompts['file'])}; greedy answers of up to {results['max_tokens']} tokens;
IFEval's checkers ({prompts['stand_in']} prompts scored with the punkt stand-ins). Differences: model - baseline
({html.escape(results['baseline'])}), paired per prompt, 95% bootstrap interval; <i>holds</i> when it lies above 0.
Per-prompt results: <code>models/*/scores.parquet</code>.</p>
<table><tr><th>model</th>{head}</tr>{''.join(rows)}</table>
"""
    page_path = write_text_atomic(Path(out) / "index.html", page)
    return data, page_path
