"""Helpers shared by the io tests (a uniquely named module: `conftest` names clash across test folders)."""

from __future__ import annotations

import json
from pathlib import Path


def write_jsonl(path: Path, rows: list) -> Path:
    """Rows as JSON lines; a str row is written verbatim (to plant malformed lines)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """Run `prefdata ARGS` in-process through the real entry point: (exit code, stdout, stderr)."""
    import contextlib
    import io
    import sys

    from prefdata.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["prefdata", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()
