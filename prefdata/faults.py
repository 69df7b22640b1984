"""Named crash points, so kill -9 tests can stop a real process at an exact point of its work.

    PREFDATA_KILL_AT=dataset_dir:after_splits prefdata build RECIPE --out RUN   # dies there, like kill -9

A loop that runs the same code many times names where it is with `scope`: inside
`scope("round2")` the point "label:judged" also answers to "round2/label:judged", so
`PREFDATA_KILL_AT=round2/label:judged prefdata iterate ...` dies in round 2's label stage only
(round 2's evaluation is "round2/eval/label:judged").

Long work (sampling, labelling, training) is killed from outside at random points by the
tests; short writes (a dataset directory: a few files in well under a second) are killed
here, between their files. Unset, a crash point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager

ENV = "PREFDATA_KILL_AT"
_scopes: list[str] = []


def crash_point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if wanted is not None and wanted in (name, "/".join([*_scopes, name])):
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def scope(name: str):
    """Crash points inside the block also answer to 'name/<point>'."""
    _scopes.append(name)
    try:
        yield
    finally:
        _scopes.pop()
