"""Judges from the user's own code: a Judge class named `module:Class` and a `module:function`
check, both in a module beside the recipe (no PYTHONPATH), with their source in the stage key.

    python -m pytest -q tests/judges/test_judge_plugins.py
"""

from __future__ import annotations

import sys

import pytest
import yaml

from prefdata.config import load_config
from prefdata.judges.base import build_judge
from prefdata.stages.label import LabelConfig, LabelStage

USER_JUDGES = '''
from pydantic import BaseModel

from prefdata.judges.base import Judge, judgment_row


class WordCountJudge(Judge):
    """Score an answer by its number of words, capped."""

    judge_type = "word_count"

    class Config(BaseModel):
        id: str
        cap: int = 10

    def judge(self, items, progress=None):
        return [judgment_row(self, item, score=float(min(self.config.cap, len(item.response.split()))))
                for item in items]


def says_yes(prompt, response, reference):
    return float("yes" in response.lower())
'''


@pytest.fixture
def recipe_dir(tmp_path, monkeypatch):
    folder = tmp_path / "recipe"
    folder.mkdir()
    (folder / "my_judges.py").write_text(USER_JUDGES)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "my_judges", raising=False)
    yield folder
    sys.modules.pop("my_judges", None)


def test_a_judge_class_and_a_check_function_beside_the_recipe(recipe_dir, item):
    path = recipe_dir / "label.yaml"
    path.write_text(yaml.safe_dump({"judges": [
        {"type": "my_judges:WordCountJudge", "id": "words", "cap": 3},
        {"type": "programmatic", "id": "yes", "function": "my_judges:says_yes"}]}))
    config = load_config(LabelConfig, path)
    items = [item("q", "Yes it is a long answer", index=0), item("q", "no", index=1)]
    words, yes = (build_judge(j) for j in config.judges)
    assert [r["score"] for r in words.judge(items)] == [3.0, 1.0]
    assert [r["score"] for r in yes.judge(items)] == [1.0, 0.0]
    assert str(recipe_dir / "my_judges.py") in {str(f) for f in LabelStage(config).code_files()}
