"""One line of training progress on the console: step, loss, reward accuracy, margin, lr.

    trainer.add_callback(ConsoleProgress(console))   # replaces transformers' tqdm bar and log printer

On a terminal it is a live rich progress bar with ETA; elsewhere (CI, a log file) it prints
one line every tenth of the run. TRL's full per-step dicts go to metrics.jsonl and
tensorboard, not to the console.
"""

from __future__ import annotations

import math

from transformers import TrainerCallback

FIELDS = (("loss", "loss", "{:.4f}"), ("rewards/accuracies", "acc", "{:.2f}"),
          ("rewards/margins", "margin", "{:+.3f}"), ("learning_rate", "lr", "{:.2e}"))


class ConsoleProgress(TrainerCallback):
    def __init__(self, console):
        self.console = console
        self.bar = None
        self.task = None
        self.every = 1
        self.latest: dict[str, float] = {}

    def _text(self) -> str:
        return "  ".join(fmt.format(self.latest[key]).join((f"{name} ", "")) for key, name, fmt in FIELDS
                         if isinstance(self.latest.get(key), (int, float)))

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.every = max(1, math.ceil(state.max_steps / 10))
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[m]}"),
                                TextColumn("eta"), TimeRemainingColumn(), console=self.console)
            self.task = self.bar.add_task("train", total=state.max_steps, completed=state.global_step, m="")
            self.bar.start()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        self.latest.update(logs)
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step, m=self._text())
        elif state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self.console.print(f"train {state.global_step}/{state.max_steps}  {self._text()}", highlight=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)
            self.bar.stop()
            self.bar = None
