"""Named crash points, so kill -9 tests can stop a real process at an exact point of its work.

    PREFDATA_KILL_AT=dataset_dir:after_splits prefdata build RECIPE --out RUN   # dies there, like kill -9

Long work (sampling, labelling, training) is killed from outside at random points by the
tests; short writes (a dataset directory: a few files in well under a second) are killed
here, between their files. Unset, a crash point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "PREFDATA_KILL_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
