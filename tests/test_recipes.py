"""Every recipe shipped in pipelines/ validates and opens with the command that runs it."""

from __future__ import annotations

from itertools import takewhile
from pathlib import Path

import pytest

from prefdata.config import load_config
from prefdata.iterate.config import IterateRecipe
from prefdata.recipe import Recipe

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
RECIPES = sorted(PIPELINES.glob("*.yaml"))


def header(path: Path) -> str:
    """The comment block the file opens with."""
    return "\n".join(takewhile(lambda line: line.startswith("#"), path.read_text().splitlines()))


def load_recipe(path: Path):
    """A build recipe, or an iterate recipe (build + train + iterate) for those `prefdata iterate` runs."""
    return load_config(IterateRecipe if "prefdata iterate" in header(path) else Recipe, path)


def test_there_are_recipes():
    assert any(p.name == "sample_vllm_cpu.yaml" for p in RECIPES)


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_recipe_validates_and_opens_with_its_command(path):
    assert any(f"prefdata {cmd} pipelines/{path.name} --out " in header(path) for cmd in ("build", "iterate")), (
        f"{path.name} must open with a comment holding the command that runs it"
    )
    recipe = load_recipe(path)
    assert recipe.stages()[0] == "prompts"


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_prompt_file_is_shipped_or_the_command_says_how_to_pass_one(path):
    source = Path(load_recipe(path).prompts.path)
    is_file = source.suffix in {".jsonl", ".json", ".parquet", ".gz"}
    shipped = source.exists() or (path.parent / source).exists()
    made = "prefdata demo" in header(path)  # the header's first command writes the prompt file
    if is_file and not shipped and not made and "--set prompts.path=" not in header(path):
        pytest.fail(f"{path.name}: prompts.path {str(source)!r} is not shipped next to the recipe and the "
                    "header's command does not show `--set prompts.path=...`")
