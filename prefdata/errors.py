"""User-facing errors: the CLI prints them as a few lines and exits 2, never a traceback."""

from __future__ import annotations


class PrefdataError(Exception):
    """An error the user can fix; the message says what went wrong and how to fix it."""

    exit_code = 2


class ConfigError(PrefdataError):
    """Every problem found in one config, reported at once."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: found the following errors:\n{lines}")


class DataError(PrefdataError):
    """A dataset that cannot be used as a whole (missing columns, unreadable file)."""
