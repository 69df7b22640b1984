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


def test_ui_sign_in_and_find_record(argilla_server, client, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    report = push(make_run(tmp_path / "run", 3, 2), client, ArgillaConfig(dataset="browser"), progress=False)
    wait = WebDriverWait(browser, 60)
    browser.get(f"{argilla_server.api_url}/sign-in")
    wait.until(lambda d: d.find_elements(By.NAME, "Username"))
    browser.find_element(By.NAME, "Username").send_keys(argilla_server.username)
    browser.find_element(By.NAME, "Password").send_keys(argilla_server.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "sign-in" not in d.current_url)
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
