"""The demo task and its noisy judges (fast)."""

from prefdata.demo.task import AdditionTask, noisy_exact_match, question


def test_splits_are_disjoint_and_cover_every_problem():
    task = AdditionTask(max_operand=19, seed=3, n_eval=50, n_dpo=100)
    ev, dpo, sft = map(set, (task.eval_problems, task.dpo_problems, task.sft_problems))
    assert not (ev & dpo) and not (ev & sft) and not (dpo & sft)
    assert len(ev) == 50 and len(dpo) == 100 and len(ev | dpo | sft) == 20 * 20


def test_noisy_judge_flips_about_the_requested_share_deterministically():
    verdicts = []
    for a in range(40):
        for b in range(40):
            q, right = question(a, b), str(a + b)
            verdicts.append((noisy_exact_match(q, right, right, flip=0.25, salt="a"),
                             noisy_exact_match(q, "x", right, flip=0.25, salt="a")))
    flipped = sum((ok != 1.0) + (bad != 0.0) for ok, bad in verdicts) / (2 * len(verdicts))
    assert 0.22 < flipped < 0.28
    assert noisy_exact_match("1+1=", "2", "2", flip=0.25, salt="a") == noisy_exact_match("1+1=", "2", "2", flip=0.25, salt="a")


def test_two_salts_flip_independently():
    same = sum(
        noisy_exact_match(question(a, b), "0", "0", flip=0.5, salt="a")
        == noisy_exact_match(question(a, b), "0", "0", flip=0.5, salt="b")
        for a in range(30) for b in range(30)
    ) / 900
    assert 0.4 < same < 0.6
