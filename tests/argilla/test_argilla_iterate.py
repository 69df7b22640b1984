"""Humans in the iterative loop, against the real local Argilla server: each round pushes its share
of the budget, the loop stops until the simulated annotator has answered, then trains on mixed labels.

    python -m pytest -q tests/argilla/test_argilla_iterate.py
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.argilla.simulate import annotate, reference_check
from prefdata.iterate.human import WaitingForHumans
from prefdata.iterate.loop import iterate
from prefdata.pipelines import recipe_path
from prefdata.rundir import RunDir

# imported with the module: at test time `conftest` may name another folder's conftest
from conftest import annotator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def addition_policy(tmp_path_factory):
    """The demo's SFT'd tiny model (pi_0) and its prompt files, as tests/iterate/conftest.py makes them."""
    from prefdata.demo.run import QUICK, prepare_policy
    from prefdata.demo.task import AdditionTask

    out = tmp_path_factory.mktemp("addition")
    prepare_policy(out, AdditionTask(max_operand=QUICK.max_operand, seed=0, n_eval=QUICK.n_eval, n_dpo=QUICK.n_dpo),
                   QUICK, seed=0)
    return out


def test_each_round_asks_for_its_share_waits_for_the_answers_then_trains_on_them(
        argilla_server, client, addition_policy, tmp_path, monkeypatch):
    monkeypatch.setenv("ARGILLA_API_URL", argilla_server.api_url)
    monkeypatch.setenv("ARGILLA_API_KEY", argilla_server.api_key)
    policy = addition_policy
    overrides = [f"prompts.path={policy / 'data/dpo_prompts.jsonl'}", f"sample.models.0.model={policy / 'models/sft'}",
                 f"iterate.eval.prompts={policy / 'data/heldout_prompts.jsonl'}", "iterate.prompts_per_round=48",
                 "train.dpo.num_train_epochs=2", "label.source=mixed", "pair.label_source=mixed",
                 "iterate.human={budget: 24, schedule: front_loaded, select: implicit_margin}"]
    out = tmp_path / "iter"
    ann = annotator(client, "loop-annotator")
    asked = {}
    for t in (1, 2):
        with pytest.raises(WaitingForHumans, match=f"round {t} waits for"):
            iterate(recipe_path("iterate_demo"), out, overrides, rounds=2)
        run = out / "rounds" / str(t) / "run"
        selection = pl.read_parquet(run / "human" / "selection.parquet")
        asked[t] = selection.filter("selected")
        assert selection["criterion"][0] == ("margin" if t == 1 else "implicit_margin")  # round 1: pi == pi_ref
        done = annotate(ann, f"iterate-round-{t}", reference_check(run))
        assert done["answered"] == asked[t].height
    report = iterate(recipe_path("iterate_demo"), out, overrides, rounds=2)
    assert [asked[1].height, asked[2].height] == [16, 8]  # 24 front-loaded over 2 rounds: 2 parts, then 1
    for t in (1, 2):
        stats = json.loads(RunDir(out / "rounds" / str(t) / "run").stage("pair").manifest().stats)
        decided = stats["provenance"]["human"] + stats["provenance"]["both"]
        label = json.loads(RunDir(out / "rounds" / str(t) / "run").stage("label").manifest().stats)["mixed"]
        assert label["prompts_human"] == asked[t].height and decided <= asked[t].height
    assert len(report["rounds"]) == 3 and (out / "report.md").is_file()
