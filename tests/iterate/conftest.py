from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def addition_policy(tmp_path_factory) -> Path:
    """The demo's first step: a tiny model SFT'd on addition (models/sft = pi_0) and the prompt
    files data/dpo_prompts.jsonl (400) and data/heldout_prompts.jsonl (200)."""
    from prefdata.demo.run import QUICK, prepare_policy
    from prefdata.demo.task import AdditionTask

    out = tmp_path_factory.mktemp("addition")
    task = AdditionTask(max_operand=QUICK.max_operand, seed=0, n_eval=QUICK.n_eval, n_dpo=QUICK.n_dpo)
    prepare_policy(out, task, QUICK, seed=0)
    return out
