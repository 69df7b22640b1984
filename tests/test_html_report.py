"""`prefdata report`: one self-contained HTML page, checked in real headless Chromium (the page
renders, the reason picker shows only that reason's rows) for an imported dataset, and its
content checked for a build run. The screenshot goes to tests/artifacts/report.png."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from prefdata.html_report import write_report

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def hh_dataset(hh_rlhf_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hh") / "data"
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "import", str(hh_rlhf_file), "--format", "hh-rlhf",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow
def test_report_page_renders_and_filters_dropped_rows_by_reason(hh_dataset, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page = write_report(hh_dataset, tmp_path / "report.html")
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:|//)""", text)  # self-contained: nothing to fetch
    browser.get(page.as_uri())
    assert "Funnel" in browser.find_element(By.TAG_NAME, "body").text
    rejects = pl.read_parquet(hh_dataset / "rejects.parquet")
    reason = rejects["reason"].value_counts(sort=True)["reason"][-1]  # the rarest reason
    Select(browser.find_element(By.ID, "reason")).select_by_value(reason)
    shown = [r for r in browser.find_elements(By.CSS_SELECTOR, "#rejects tr[data-reason]") if r.is_displayed()]
    assert len(shown) == int((rejects["reason"] == reason).sum()) > 0
    assert {r.get_attribute("data-reason") for r in shown} == {reason}
    search = browser.find_element(By.ID, "pair-search")
    search.send_keys("bomb")
    count = browser.find_element(By.ID, "pair-count").text
    assert count.endswith(" shown") and 0 < int(count.split()[0]) < pl.read_parquet(hh_dataset / "train.parquet").height
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report.png"))


def test_report_of_a_build_run_has_the_funnel_pairs_and_rejects(tmp_path):
    from prefdata.rundir import RunDir
    from prefdata.records import StageManifest
    from prefdata.ledger import rejects_from

    run = RunDir(tmp_path / "run")
    pairs = pl.DataFrame({"pair_id": ["a", "b"], "prompt_id": ["p1", "p2"], "prompt": ["q1", "q2"],
                          "chosen": ["good <b>", "fine"], "rejected": ["bad", "meh"], "margin": [1.0, 0.5]})
    dropped = rejects_from(pl.DataFrame({"pair_id": ["c"], "margin": [0.01]}), stage="filter", reason="low_margin",
                           message="margin below 0.1", id_column="pair_id", value_columns=["margin"])
    for name, data, rejects in (("pair", pairs, dropped.clear()), ("filter", pairs, dropped)):
        run.stage(name).write(data, rejects, StageManifest(
            name=name, key="k", unit="pairs", config_hash="c", input_hashes={}, output_hash="", rows_in=2 + rejects.height,
            rows_kept=2, dropped={"low_margin": rejects.height} if rejects.height else {}, seconds=0.0))
    text = write_report(run.root).read_text()
    assert "low_margin" in text and "margin below 0.1" in text and "good &lt;b&gt;" in text
    assert text.count("<tr data-reason='low_margin'>") == 1 and "filter" in text
