"""Kept + dropped = input: the one bookkeeping check every stage, filter step, funnel entry and
dataset directory makes.

    check_balance("stage 'pair'", rows_in=120, kept=100, dropped=20)    # passes
    check_balance("filter step 2 (dedup)", 120, 100, 19)                # BalanceError

A mismatch means rows were lost or counted twice: a bug in prefdata (or a plugin), never a
user error, so it is an AssertionError with both numbers, not a one-line user message.
"""

from __future__ import annotations


class BalanceError(AssertionError):
    """Rows were lost or counted twice between an input and its kept and dropped parts."""


def check_balance(what: str, rows_in: int, kept: int, dropped: int) -> None:
    if kept + dropped != rows_in:
        raise BalanceError(f"{what}: kept {kept} + dropped {dropped} != {rows_in} input rows; "
                           "rows were lost or counted twice")
