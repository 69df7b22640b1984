"""Headless Chromium signs in to the web UI of the local server and finds a pushed record.

The screenshot is saved under pytest's tmp dir and copied to tests/artifacts/argilla_ui.png
(gitignored) for a human to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prefdata.argilla.push import push
from prefdata.argilla.settings import ArgillaConfig

from conftest import make_run

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def sign_in(browser, server):
    """Sign in to the web UI as the server's owner; returns a 60 s WebDriverWait."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(f"{server.api_url}/sign-in")
    wait.until(lambda d: d.find_elements(By.NAME, "Username"))
    browser.find_element(By.NAME, "Username").send_keys(server.username)
    browser.find_element(By.NAME, "Password").send_keys(server.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "sign-in" not in d.current_url)
    return wait


def test_ui_sign_in_and_find_record(argilla_server, client, browser, tmp_path):
    from selenium.webdriver.common.by import By

    report = push(make_run(tmp_path / "run", 3, 2), client, ArgillaConfig(dataset="browser"), progress=False)
    wait = sign_in(browser, argilla_server)
    wait.until(lambda d: "browser" in d.find_element(By.TAG_NAME, "body").text)  # listed on the home page

    browser.get(f"{argilla_server.api_url}/dataset/{report['dataset_id']}/annotation-mode")
    body = lambda d: d.find_element(By.TAG_NAME, "body").text  # noqa: E731
    wait.until(lambda d: "Question number" in body(d))
    text = body(browser)
    assert "Rank the responses (1 = best)" in text and "Submit" in text
    assert any(f"Question number {i}: why?" in text for i in range(3))
    assert "Answer 0 to question" in text or "Answer 1 to question" in text
    shot = tmp_path / "argilla_ui.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "argilla_ui.png")


def test_ui_lists_exactly_the_selected_records(argilla_server, client, browser, tmp_path):
    """A budget of 2 of 6 prompts by margin: the UI's record list holds those 2 and nothing else."""
    from selenium.webdriver.common.by import By

    margins = {0: 0.9, 1: 0.05, 2: 0.5, 3: 0.01, 4: 0.7, 5: 0.3}  # smallest: p3, p1
    scores = {f"p{i}:0:{j}": (m if j == 0 else 0.0) for i, m in margins.items() for j in range(2)}
    run = make_run(tmp_path / "run", 6, 2, judge_scores=scores)
    report = push(run, client, ArgillaConfig(dataset="browser-budget", budget=2, select="margin"), progress=False)
    assert report["records"] == 2
    wait = sign_in(browser, argilla_server)
    body = lambda d: d.find_element(By.TAG_NAME, "body").text  # noqa: E731
    browser.get(f"{argilla_server.api_url}/dataset/{report['dataset_id']}/annotation-mode")
    shown = []
    for page in (1, 2):  # the pending queue, one record a page; the pager's Next button between them
        wait.until(lambda d: "Question number" in body(d) and not any(f"number {i}:" in body(d) for i in shown))
        text = body(browser)
        assert "of 2" in text  # the pager: 2 records in all
        shown += [i for i in margins if f"Question number {i}: why?" in text]
        assert "selection" not in text.lower()  # the criterion never shows
        if page == 1:
            browser.find_element(By.CSS_SELECTOR, "button[aria-label^='Next']").click()
    assert sorted(shown) == [1, 3]
