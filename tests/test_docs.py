"""The README and docs/ hold together: every link lands on a file and a heading, every page is
reachable from the README, and every repository file they name exists.

    python -m pytest -q tests/test_docs.py
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# a file of this repository named in backticks: benchmarks/bench_real.py, pipelines/demo.yaml, ...
REPO_FILE = re.compile(r"`((?:benchmarks|pipelines|prefdata|trainer|tests|schemas|docs)/[\w./-]+\.(?:py|yaml|sh|md|json))`")


def prose(page: Path) -> str:
    """The page without its code blocks (a `# comment` in a bash block is not a heading)."""
    return re.sub(r"```.*?```", "", page.read_text(), flags=re.S)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", prose(page), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_lands_on_a_file_and_a_heading(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(REPO)}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(REPO / t.partition("#")[0]).resolve() for t in LINK.findall(prose(REPO / "README.md"))}
    assert [p.name for p in PAGES[1:] if p not in linked] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_repository_file_named_exists(page):
    missing = [name for name in REPO_FILE.findall(page.read_text()) if not (REPO / name).exists()]
    assert not missing, f"{page.name} names files that are not in the repository: {missing}"
