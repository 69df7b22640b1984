"""`prefdata report RUN_DIR`: one self-contained HTML page of what was kept and what was dropped.

    prefdata report runs/math                   # a build run -> runs/math/report.html
    prefdata report data/hh --out hh.html       # an imported / filtered dataset directory
    prefdata report runs/iterate                # a `prefdata iterate` dir: every round on one page

The page needs no network: CSS, JavaScript and the plots (PNG, base64) are inline. It shows
the funnel, the plots, a searchable table of the kept pairs (prompt, chosen, rejected,
scores, margin, judge agreement) and every dropped row grouped by reason, with the values
that decided the drop; a reason picker shows one reason's rows.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import polars as pl

from prefdata.errors import DataError
from prefdata.rundir import RunDir

MAX_PAIRS = 2000  # rows of the kept-pairs table (the page says when there are more)
MAX_REJECTS = 5000
TEXT_CHARS = 600


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of a run or dataset directory; returns its path."""
    path = Path(path)
    kind, funnel, pairs, rejects, plots = _collect(path)
    out = Path(out) if out else path / "report.html"
    page = _page(f"prefdata report: {path}", kind, funnel, pairs, rejects, plots)
    out.write_text(page, encoding="utf-8")
    return out


def _collect(path: Path) -> tuple[str, list[dict], pl.DataFrame, pl.DataFrame, list[Path]]:
    from prefdata.report import dataset_funnel, run_funnel

    if (path / "iterate.resolved.yaml").is_file():
        return _collect_rounds(path)
    run = RunDir(path)
    if run.is_run():
        final = run.final_pairs_file()
        pairs = pl.read_parquet(final) if final else pl.DataFrame()
        rejects = [pl.read_parquet(d.rejects) for d in run.finished_stages() if d.rejects.is_file()]
        plots = sorted((run.dataset / "plots").glob("*.png"))
        return "build run", run_funnel(path), pairs, _concat(rejects), plots
    if (path / "train.parquet").is_file():
        from prefdata.io.dataset_dir import read_dataset_dir

        splits = read_dataset_dir(path)
        pairs = pl.concat([df.with_columns(pl.lit(s).alias("split")) for s, df in splits.items()], how="diagonal")
        stats = json.loads((path / "stats.json").read_text()) if (path / "stats.json").is_file() else {}
        funnel = dataset_funnel(stats)
        rejects = pl.read_parquet(path / "rejects.parquet") if (path / "rejects.parquet").is_file() else pl.DataFrame()
        return "dataset directory", funnel, pairs, rejects, sorted((path / "plots").glob("*.png"))
    raise DataError(f"{path}: neither a build run directory (no stages/) nor a dataset directory (no train.parquet). "
                    "Pass the --out directory of `prefdata build`, `prefdata import` or `prefdata filter`.")


def _collect_rounds(path: Path) -> tuple[str, list[dict], pl.DataFrame, pl.DataFrame, list[Path]]:
    """Every round's build of an iterate dir: funnel steps, pairs and rejects tagged with the round."""
    funnel, pairs, rejects = [], [], []
    runs = sorted((p for p in (path / "rounds").glob("*/run") if p.parent.name.isdigit()),
                  key=lambda p: int(p.parent.name))
    for run in runs:
        t = int(run.parent.name)
        _, steps, kept, dropped, _ = _collect(run)
        funnel += [{**s, "name": f"round {t}: {s['name']}"} for s in steps]
        pairs.append(kept.with_columns(pl.lit(t).alias("round")))
        if dropped.height:
            rejects.append(dropped.with_columns(pl.format("round {}: {}", pl.lit(t), pl.col("stage")).alias("stage")))
    return f"iterate run ({len(runs)} rounds)", funnel, _concat(pairs), _concat(rejects), sorted(
        (path / "plots").glob("*.png"))


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f.height]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _text(value: Any) -> str:
    """Response or prompt text, whether a string or a list of messages."""
    if isinstance(value, list):
        return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in value if isinstance(m, dict))
    return "" if value is None else str(value)


def _cell(value: Any) -> str:
    text = _text(value)
    short = text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS] + " …"
    return html.escape(short)


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def _funnel_html(funnel: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s['name'])}</td><td>{html.escape(s['unit'])}</td><td>{s['rows_in']}</td>"
        f"<td>{s['rows_kept']}</td><td>{sum(s.get('dropped', {}).values())}</td>"
        f"<td>{html.escape(', '.join(f'{k}: {v}' for k, v in s.get('dropped', {}).items()))}</td></tr>"
        for s in funnel)
    return ("<table class=funnel><tr><th>step</th><th>unit</th><th>in</th><th>kept</th><th>dropped</th>"
            f"<th>reasons</th></tr>{rows}</table>")


def _pairs_html(pairs: pl.DataFrame) -> str:
    if not pairs.height:
        return "<p>No kept pairs.</p>"
    columns = [c for c in ("round", "prompt", "chosen", "rejected", "chosen_score", "rejected_score", "margin",
                           "agreement", "swap_consistency", "split") if c in pairs.columns]
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = []
    for row in pairs.head(MAX_PAIRS).iter_rows(named=True):
        cells = "".join(f"<td class={'num' if c not in ('prompt', 'chosen', 'rejected', 'split') else 'txt'}>"
                        f"{_number(row[c]) if c not in ('prompt', 'chosen', 'rejected') else _cell(row[c])}</td>"
                        for c in columns)
        body.append(f"<tr>{cells}</tr>")
    more = f"<p>First {MAX_PAIRS} of {pairs.height} pairs.</p>" if pairs.height > MAX_PAIRS else ""
    return (f"<input id=pair-search type=search placeholder='search the kept pairs' oninput='searchPairs()'> "
            f"<span id=pair-count></span>{more}<table id=pairs><tr>{head}</tr>{''.join(body)}</table>")


def _rejects_html(rejects: pl.DataFrame) -> str:
    if not rejects.height:
        return "<p>No dropped rows.</p>"
    counts = rejects.group_by("reason").len().sort("len", descending=True)
    options = "".join(f"<option value='{html.escape(r)}'>{html.escape(r)} ({n})</option>"
                      for r, n in counts.iter_rows())
    body = []
    for row in rejects.head(MAX_REJECTS).iter_rows(named=True):
        body.append(
            f"<tr data-reason='{html.escape(row['reason'] or '')}'><td>{html.escape(row.get('stage') or '')}</td>"
            f"<td>{html.escape(row['reason'] or '')}</td><td>{_cell(row.get('row_id'))}</td>"
            f"<td>{_cell(row.get('field'))}</td><td class=txt>{_cell(row.get('values'))}</td>"
            f"<td class=txt>{_cell(row.get('message'))}</td></tr>")
    more = f"<p>First {MAX_REJECTS} of {rejects.height} dropped rows.</p>" if rejects.height > MAX_REJECTS else ""
    return (f"<select id=reason onchange='filterReason()'><option value=''>all reasons ({rejects.height})</option>"
            f"{options}</select> <span id=reject-count></span>{more}<table id=rejects><tr><th>stage</th><th>reason</th>"
            "<th>row</th><th>field</th><th>values that decided</th><th>message</th></tr>" + "".join(body) + "</table>")


def _plots_html(plots: list[Path]) -> str:
    return "".join(f"<figure><img alt='{p.stem}' src='data:image/png;base64,"
                   f"{base64.b64encode(p.read_bytes()).decode()}'><figcaption>{p.stem}</figcaption></figure>"
                   for p in plots)


STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;
margin-top:28px}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 6px;
vertical-align:top}th{background:#f4f4f4;text-align:left}td.num{text-align:right;white-space:nowrap}
td.txt{max-width:420px;white-space:pre-wrap;word-break:break-word}figure{display:inline-block;margin:6px}
img{max-width:420px;border:1px solid #eee}input,select{font-size:14px;padding:4px;margin:4px 0}"""

SCRIPT = """function searchPairs(){const q=document.getElementById('pair-search').value.toLowerCase();let n=0;
document.querySelectorAll('#pairs tr:not(:first-child)').forEach(r=>{const show=!q||r.textContent.toLowerCase()
.includes(q);r.style.display=show?'':'none';n+=show});document.getElementById('pair-count').textContent=n+' shown'}
function filterReason(){const v=document.getElementById('reason').value;let n=0;
document.querySelectorAll('#rejects tr[data-reason]').forEach(r=>{const show=!v||r.dataset.reason===v;
r.style.display=show?'':'none';n+=show});document.getElementById('reject-count').textContent=n+' shown'}"""


def _page(title: str, kind: str, funnel: list[dict], pairs: pl.DataFrame, rejects: pl.DataFrame,
          plots: list[Path]) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{kind}: {pairs.height} kept pairs, "
            f"{rejects.height} dropped rows.</p><h2>Funnel</h2>{_funnel_html(funnel)}"
            f"<h2>Plots</h2>{_plots_html(plots) or '<p>No plots.</p>'}<h2>Kept pairs</h2>{_pairs_html(pairs)}"
            f"<h2>Dropped rows, by reason</h2>{_rejects_html(rejects)}<script>{SCRIPT}</script></body></html>")
