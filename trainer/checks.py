"""Pre-training checks of the data rendered with the model's own tokenizer and chat template.

    from prefdata.trainer.checks import check_examples
    report = check_examples(frame, tokenizer, max_length=1024)
    report.raise_if_severe(); kept = report.kept(frame)

Severe problems (empty prompt/chosen/rejected, identical chosen and rejected, a prompt that
does not end with a user turn) stop the run with the rows named. Prompts of at least `max_length` tokens, which
TRL would drop silently, are dropped here instead and written to the rejects ledger with
reason `prompt_too_long`. The per-row checks are `prefdata.validate`'s (same as `prefdata validate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from prefdata.errors import DataError
from prefdata.ledger import Rejects

TRUNCATION_WARN_SHARE = 0.10
SHOW_ROWS = 5


@dataclass
class CheckReport:
    rows: int
    severe: dict[str, list[int]] = field(default_factory=dict)  # reason -> 1-based rows
    too_long: list[int] = field(default_factory=list)
    truncated: int = 0
    warnings: list[str] = field(default_factory=list)

    def raise_if_severe(self, source: str) -> None:
        if not self.severe:
            return
        lines = [f"{reason}: {len(rows)} row(s), e.g. rows {rows[:SHOW_ROWS]}" for reason, rows in self.severe.items()]
        raise DataError(
            f"{source}: the data has problems that break DPO training:\n  - " + "\n  - ".join(lines)
            + "\nFix or drop these rows (`prefdata validate DIR` shows them), or set data.check: false to train anyway."
        )

    def kept(self, frame: pl.DataFrame) -> pl.DataFrame:
        drop = {r - 1 for r in self.too_long}
        return frame.with_row_index("_row").filter(~pl.col("_row").is_in(list(drop))).drop("_row")

    def rejects(self, frame: pl.DataFrame, max_length: int, source: str) -> Rejects:
        rejects = Rejects(stage="train", source=source)
        ids = frame["prompt_id"].to_list()
        for row in self.too_long:
            rejects.add("prompt_too_long", f"prompt has >= max_length={max_length} tokens: TRL would train on "
                        "no completion token; raise dpo.max_length or shorten the prompt",
                        row=row, row_id=ids[row - 1], field="prompt", values={"max_length": max_length})
        return rejects


def check_examples(frame: pl.DataFrame, tokenizer, max_length: int | None) -> CheckReport:
    """Each row through `prefdata.validate.check_example` (TRL 1.16's own tokenization, mirrored)."""
    from prefdata.validate import check_example

    report = CheckReport(rows=frame.height)
    specials = [t for t in tokenizer.all_special_tokens if t]
    limit = max_length if max_length is not None else 10**9
    counts: dict[str, int] = {}
    for row, example in enumerate(frame.iter_rows(named=True), start=1):
        for check in check_example(tokenizer, example, limit, specials):
            counts[check] = counts.get(check, 0) + 1
            if check in SEVERE:
                report.severe.setdefault(check, []).append(row)
            elif check == "prompt_too_long":
                report.too_long.append(row)
    report.truncated = counts.get("truncated", 0)
    if report.rows and report.truncated / report.rows > TRUNCATION_WARN_SHARE:
        report.warnings.append(f"{report.truncated}/{report.rows} examples are truncated at max_length={max_length}: "
                               "their completion ends are not trained on; consider a larger dpo.max_length")
    for check, message in WARNINGS.items():
        if counts.get(check):
            report.warnings.append(f"{counts[check]}/{report.rows} examples: {message}")
    return report


SEVERE = {"empty", "identical", "prompt_not_user"}
WARNINGS = {
    "double_special": "BOS or EOS twice in a row (the template and the data/tokenizer both add it)",
    "special_in_text": "a special token string inside a message: it tokenizes as the control token",
}
