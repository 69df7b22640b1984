"""`prefdata judges` lists every judge type and built-in check.

    python -m pytest -q tests/judges/test_cli.py
"""

from __future__ import annotations

from typer.testing import CliRunner

from prefdata.cli import app
from prefdata.judges.programmatic import BUILTINS


def test_judges_command_lists_types_and_builtins():
    result = CliRunner().invoke(app, ["judges"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ["reward_model", "llm", "programmatic", *BUILTINS]:
        assert name in result.output
    assert "pattern" in result.output and "abs_tol=1e-06" in result.output
