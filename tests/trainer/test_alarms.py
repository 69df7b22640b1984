"""Alarms fire on a deliberately broken run (lr=0: loss stuck at ln 2) and stay quiet on a healthy one."""

from __future__ import annotations

import math
from types import SimpleNamespace

from prefdata.trainer.alarms import DPOAlarms
from prefdata.trainer.config import AlarmsSection
from prefdata.trainer.dpo import train


def test_stuck_alarm_fires_when_learning_rate_is_zero(make_cfg, capsys):
    cfg = make_cfg(alarms={"warmup_steps": 2, "window": 3}, dpo={"learning_rate": 0.0, "max_steps": 6})
    result = train(cfg)
    assert set(result.alarms) == {"stuck_at_ln2"}
    assert "learning_rate too low or 0" in result.alarms["stuck_at_ln2"]
    shown = capsys.readouterr()
    assert "prefdata alarm [stuck_at_ln2]" in shown.out + shown.err  # on the console as it fires


def test_healthy_run_raises_no_alarm(make_cfg):
    cfg = make_cfg(alarms={"warmup_steps": 2, "window": 3},
                   dpo={"learning_rate": 1e-3, "max_steps": 6, "per_device_train_batch_size": 4})
    assert train(cfg).alarms == {}


def _feed(alarms, rows, start=1):
    for step, logs in enumerate(rows, start=start):
        alarms.on_log(None, SimpleNamespace(global_step=step), None, logs=logs)


def test_non_finite_and_pinned_accuracy_alarms():
    alarms = DPOAlarms(AlarmsSection(warmup_steps=0, window=2))
    _feed(alarms, [{"loss": 0.5, "rewards/margins": 0.3, "rewards/accuracies": 1.0}] * 2)
    assert "accuracy_pinned" in alarms.fired and "trivially separable" in alarms.fired["accuracy_pinned"]
    _feed(alarms, [{"loss": math.nan, "rewards/margins": 0.1, "rewards/accuracies": 0.5}])
    assert "is nan at step 1" in alarms.fired["non_finite"]
    flipped = DPOAlarms(AlarmsSection(warmup_steps=0, window=2))
    _feed(flipped, [{"loss": 0.9, "rewards/margins": -0.3, "rewards/accuracies": 0.0}] * 2)
    assert "labels are probably swapped" in flipped.fired["accuracy_pinned"]


def test_no_stuck_alarm_inside_the_warmup_window():
    alarms = DPOAlarms(AlarmsSection(warmup_steps=10, window=2))
    _feed(alarms, [{"loss": math.log(2), "rewards/margins": 0.0, "rewards/accuracies": 0.0}] * 5)
    assert alarms.fired == {}
    _feed(alarms, [{"loss": math.log(2), "rewards/margins": 0.0, "rewards/accuracies": 0.0}] * 2, start=11)
    assert set(alarms.fired) == {"stuck_at_ln2"}  # ties give accuracy 0: not reported as flipped labels
