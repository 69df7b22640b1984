"""Filters from the user's own code: `type: my_module:MyClass` beside the recipe, entry points of
installed packages, the scope contract in the partitioned stage, plugin source in the stage key.

    python -m pytest -q tests/filters/test_filter_plugins.py
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal
from rich.console import Console

from prefdata.config import load_config
from prefdata.errors import ConfigError
from prefdata.stages.base import StageContext
from prefdata.stages.filter import FilterConfig, FilterStage

# A filter that needs a statistic over all pairs and declares no scope (as docs/extending.md shows)
USER_FILTERS = '''
from typing import Literal

import polars as pl
from pydantic import BaseModel

from prefdata.filters.base import Filter, Rule, split_by_reasons


class AboveMedianMarginConfig(BaseModel):
    keep_ties: bool = False


class AboveMedianMargin(Filter):
    """Keep pairs whose margin is above the median margin of all pairs."""

    name, Config = "above_median", AboveMedianMarginConfig

    def apply(self, pairs):
        median = pairs["margin"].median()
        return split_by_reasons(pairs, [Rule("below_median", pl.col("margin") <= median, "margin <= median",
                                             ["margin"])])


class ShortChosen(Filter):
    """Drop pairs whose chosen answer is shorter than min_chars characters."""

    class Config(BaseModel):
        min_chars: int = 5

    def scope(self):
        return "pair"

    def apply(self, pairs):
        return split_by_reasons(pairs, [Rule("short_chosen", pl.col("chosen").str.len_chars() < self.config.min_chars,
                                             "short", ["chosen"])])


class ChosenChars(ShortChosen):
    """Drop short chosen answers; report the chosen answers' characters over all pairs (summary hooks)."""

    def values(self, pairs):
        return pairs.select(pl.col("chosen").str.len_chars().alias("chars"))

    def summarize(self, before, after):
        return {"chars_before": int(before["chars"].sum()), "chars_after": int(after["chars"].sum())}
'''


@pytest.fixture
def recipe_dir(tmp_path, monkeypatch):
    """A folder with a user module beside the filter config; not on sys.path beforehand."""
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "my_filters.py").write_text(USER_FILTERS)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the recipe's folder is added during the test only
    monkeypatch.delitem(sys.modules, "my_filters", raising=False)
    yield folder
    sys.modules.pop("my_filters", None)


def config_file(folder, steps, **extra):
    path = folder / "filters.yaml"
    path.write_text(yaml.safe_dump({"steps": steps, **extra}))
    return path


def scored_pairs(n: int = 400):
    import numpy as np

    rng = np.random.default_rng(0)
    margins = rng.random(n).round(3)
    return pl.DataFrame({
        "pair_id": [f"q{i:04d}" for i in range(n)], "prompt_id": [f"p{i // 2}" for i in range(n)],
        "prompt": [[{"role": "user", "content": f"question {i // 2}"}] for i in range(n)],
        "chosen": ["a long enough answer" if i % 7 else "tiny" for i in range(n)],
        "rejected": ["another answer here" for _ in range(n)],
        "chosen_score": margins + 1.0, "rejected_score": [1.0] * n, "margin": margins,
    })


def run(tmp_path, config, pairs, name):
    stage_dir = tmp_path / name
    stage_dir.mkdir()
    artifact = tmp_path / f"{name}.parquet"
    pairs.write_parquet(artifact)
    console = Console(file=io.StringIO(), record=True, width=400)
    ctx = StageContext(run_dir=tmp_path, stage_dir=stage_dir, input_files={"pairs": artifact}, console=console)
    out = FilterStage(config).run({"pairs": pl.scan_parquet(artifact)}, ctx)
    data = out.frame()
    return out, data, console.export_text()


@pytest.mark.parametrize("partition_pairs", [1000, 60])
def test_a_filter_with_summary_hooks_reports_them_in_one_partition_or_many(tmp_path, recipe_dir, partition_pairs):
    config = load_config(FilterConfig, config_file(recipe_dir, [{"type": "my_filters:ChosenChars"}],
                                                   partition_pairs=partition_pairs))
    out, data, _ = run(tmp_path, config, scored_pairs(), "sliced")
    assert out.stats["partitions"] == (1 if partition_pairs == 1000 else 7)
    stats = out.stats["funnel"][0]["stats"]
    assert (stats["chars_before"], stats["chars_after"]) == (400 * 20 - 58 * 16, data["chosen"].str.len_chars().sum())


def test_a_filter_beside_the_recipe_is_named_by_module_and_class(tmp_path, recipe_dir):
    steps = [{"type": "quality"}, {"type": "my_filters:ShortChosen", "min_chars": 6}]
    config = load_config(FilterConfig, config_file(recipe_dir, steps))  # no PYTHONPATH: the folder is searched
    out, data, _ = run(tmp_path, config, scored_pairs(40), "mem")
    assert [s["type"] for s in out.stats["funnel"]] == ["quality", "my_filters:ShortChosen"]
    assert out.stats["funnel"][1]["dropped"] == {"short_chosen": 6} and data.height == 34


def test_a_filter_that_declares_no_scope_gets_all_pairs_in_slices_too(tmp_path, recipe_dir):
    pairs = scored_pairs(400)
    steps = [{"type": "my_filters:AboveMedianMargin"}, {"type": "my_filters:ShortChosen"}]
    whole, whole_data, _ = run(tmp_path, load_config(FilterConfig, config_file(recipe_dir, steps)), pairs, "whole")
    sliced_config = load_config(FilterConfig, config_file(recipe_dir, steps, partition_pairs=60))
    parts, parts_data, log = run(tmp_path, sliced_config, pairs, "parts")
    assert parts.stats["partitions"] == 7
    assert_frame_equal(parts_data, whole_data)  # per partition, the median of each partition would decide
    assert_frame_equal(parts.rejects, whole.rejects)
    assert "my_filters:AboveMedianMargin: declares no scope" in log and "ShortChosen: declares" not in log


def test_plugin_filters_run_on_ray_workers_that_never_saw_the_recipe_folder(tmp_path, recipe_dir, ray_cluster):
    """The workers import my_filters from the folders the driver searched (not on their sys.path)."""
    pairs = scored_pairs(400)
    steps = [{"type": "my_filters:ShortChosen"}, {"type": "my_filters:AboveMedianMargin"}]
    whole, whole_data, _ = run(tmp_path, load_config(FilterConfig, config_file(recipe_dir, steps)), pairs, "whole")
    on_ray = load_config(FilterConfig, config_file(recipe_dir, steps, partition_pairs=100, executor="ray"))
    parts, parts_data, _ = run(tmp_path, on_ray, pairs, "ray")
    assert parts.stats["partitions"] == 4
    assert_frame_equal(parts_data, whole_data)
    assert_frame_equal(parts.rejects, whole.rejects)


def test_plugin_options_are_validated_by_its_config_with_the_other_errors(recipe_dir):
    steps = [{"type": "my_filters:ShortChosen", "min_chars": "many"}, {"type": "gap", "min_margin": -1},
             {"type": "my_filters:Nope"}, {"type": "qualty"}, {"type": "yaml:safe_load"}]
    with pytest.raises(ConfigError) as e:
        load_config(FilterConfig, config_file(recipe_dir, steps))
    text = str(e.value)
    assert "my_filters:ShortChosen: min_chars: Input should be a valid integer" in text
    assert "steps.1.gap.min_margin" in text
    assert "module 'my_filters' has no attribute 'Nope'" in text
    assert "unknown filter 'qualty'; built-in: gap," in text
    assert "'yaml:safe_load' is not a Filter subclass" in text


def test_the_plugin_source_is_part_of_the_stage_key(recipe_dir):
    path = config_file(recipe_dir, [{"type": "my_filters:ShortChosen"}])
    before = FilterStage(load_config(FilterConfig, path)).fingerprint()
    assert str(recipe_dir / "my_filters.py") in {str(f) for f in FilterStage(load_config(FilterConfig, path)).code_files()}
    (recipe_dir / "my_filters.py").write_text(USER_FILTERS + "\n# edited\n")
    assert FilterStage(load_config(FilterConfig, path)).fingerprint() != before


def test_an_installed_package_registers_a_filter_by_entry_point(tmp_path):
    site = tmp_path / "site"
    (site / "acme_filters").mkdir(parents=True)
    (site / "acme_filters" / "__init__.py").write_text(USER_FILTERS)
    dist = site / "acme_filters-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-filters\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[prefdata.filters]\nshort_chosen = acme_filters:ShortChosen\n"
                                           "gone = acme_missing:Gone\n")  # a broken one must not break the listing
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(site)!r})
        from prefdata.config import validate
        from prefdata.stages.filter import FilterConfig
        config = validate(FilterConfig, {{"steps": [{{"type": "short_chosen", "min_chars": 3}}]}}, "r.yaml")
        print(type(config.steps[0].block_config).__name__, config.steps[0].block_config.min_chars)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.split() == ["Config", "3"], proc.stderr
    listing = subprocess.run([sys.executable, "-m", "prefdata.cli", "filters"], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"})
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert "short_chosen" in listing.stdout and "acme_filters:ShortChosen" in listing.stdout, listing.stderr
    assert "cannot be loaded: ModuleNotFoundError" in listing.stdout


def test_a_broken_plugin_is_refused_at_load_in_one_line(recipe_dir):
    (recipe_dir / "bad_filters.py").write_text(USER_FILTERS + textwrap.dedent('''
        class Scoped(ShortChosen):
            """Declares a scope that does not exist."""
            def scope(self):
                return "partition"

        class PerPrompt(ShortChosen):
            """Per prompt, without the phases."""
            def scope(self):
                return "prompt"
    '''))
    (recipe_dir / "broken.py").write_text("def oops(:\n")
    steps = [{"type": "bad_filters:Scoped"}, {"type": "bad_filters:PerPrompt"}, {"type": "broken:Filter"}]
    with pytest.raises(ConfigError) as e:
        load_config(FilterConfig, config_file(recipe_dir, steps))
    text = str(e.value)
    assert "bad_filters:Scoped: scope() returned 'partition'" in text
    assert "bad_filters:PerPrompt: scope prompt needs collect, decide_partitions, apply_decided" in text
    assert "importing 'broken' for 'broken:Filter' failed: SyntaxError" in text
