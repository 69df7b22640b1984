"""A TrainerCallback that warns when DPO training is silently broken.

    trainer.add_callback(DPOAlarms(AlarmsSection(warmup_steps=10)))
    ...; alarms.fired   # {"stuck_at_ln2": "...message...", ...}

It watches the train logs:
- loss ~ ln 2 and rewards/margins ~ 0 after the warm-up window: the policy is not moving;
- NaN/inf loss or rewards: the run diverged;
- reward accuracy pinned at 0 or 1 for the whole window: labels flipped, or a trivially
  separable / leaking dataset.
Each alarm fires once, as a logged warning naming the usual causes.
"""

from __future__ import annotations

import logging
import math
from collections import deque

from transformers import TrainerCallback

from prefdata.trainer.config import AlarmsSection

LN2 = math.log(2)
logger = logging.getLogger("prefdata.trainer.alarms")

CAUSES = {
    "stuck_at_ln2": (
        "loss stays at ln 2 = 0.693 and reward margins at 0 after {steps} steps: the policy is not moving "
        "away from the reference. Usual causes: learning_rate too low or 0 (TRL's default 1e-6 barely moves "
        "small models), no trainable parameters (all frozen / wrong target_modules), the reference is the "
        "policy itself (a shared adapter), or the warm-up has not finished."
    ),
    "non_finite": (
        "{key} is {value} at step {step}: the run diverged. Usual causes: learning rate too high, fp16 "
        "overflow (use bf16 or fp32), empty completions (log-prob of zero tokens), or a broken reference."
    ),
    "accuracy_pinned": (
        "rewards/accuracies has been {value:.0f} for the last {n} logs: at 0 the chosen/rejected labels are "
        "probably swapped; at 1 the pairs may be trivially separable (length, formatting, a leaked marker) "
        "or the eval data overlaps training. Inspect a few pairs."
    ),
}


class DPOAlarms(TrainerCallback):
    def __init__(self, config: AlarmsSection | None = None, console=None):
        self.console = console
        self.config = config or AlarmsSection()
        self.recent: deque = deque(maxlen=self.config.window)
        self.fired: dict[str, str] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self.config.enabled or not logs or any(k.startswith("eval_") for k in logs):
            return
        if "loss" not in logs and "rewards/margins" not in logs:
            return
        self._check_finite(logs, state.global_step)
        self.recent.append(logs)
        if len(self.recent) < self.config.window:
            return
        if state.global_step > self.config.warmup_steps:
            self._check_stuck(state.global_step)
        self._check_accuracy()

    def _fire(self, name: str, message: str) -> None:
        if name in self.fired:
            return
        self.fired[name] = message
        logger.warning("prefdata alarm [%s]: %s", name, message)
        if self.console is not None:  # on the screen as it fires, whatever the engines' logs do
            from rich.text import Text

            self.console.print(Text.assemble(("prefdata alarm", "yellow"), f" [{name}]: {message}"))
        else:
            print(f"WARNING prefdata alarm [{name}]: {message}")

    def _check_finite(self, logs: dict, step: int) -> None:
        for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins"):
            value = logs.get(key)
            if isinstance(value, (int, float)) and not math.isfinite(value):
                self._fire("non_finite", CAUSES["non_finite"].format(key=key, value=value, step=step))
                return

    def _check_stuck(self, step: int) -> None:
        losses = [r["loss"] for r in self.recent if "loss" in r]
        margins = [r["rewards/margins"] for r in self.recent if "rewards/margins" in r]
        if not losses or not margins:
            return
        loss_stuck = abs(sum(losses) / len(losses) - LN2) < self.config.loss_tolerance
        margin_stuck = max(abs(m) for m in margins) < self.config.reward_tolerance
        if loss_stuck and margin_stuck:
            self._fire("stuck_at_ln2", CAUSES["stuck_at_ln2"].format(steps=step))

    def _check_accuracy(self) -> None:
        accuracies = [r.get("rewards/accuracies") for r in self.recent]
        if None in accuracies:
            return
        for pinned in (0.0, 1.0):
            # ln 2 with zero margins also gives accuracy 0 (ties): that is the stuck alarm, not this one
            if all(a == pinned for a in accuracies) and not all(
                abs(r.get("rewards/margins", 0.0)) < self.config.reward_tolerance for r in self.recent
            ):
                self._fire("accuracy_pinned", CAUSES["accuracy_pinned"].format(value=pinned, n=len(accuracies)))
