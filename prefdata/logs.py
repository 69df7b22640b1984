"""Engine output goes to log files, the console keeps what matters.

    console = terminal_console()                 # prefdata's own lines: on the real stderr
    with engine_output(run_dir / "logs" / "sample.log", echo=verbose):
        ...                                      # vLLM, transformers, TRL, Ray: into the file

`engine_output` redirects file descriptors 1 and 2 (not just `sys.stdout`): vLLM's engine
processes, C++ kernels and tqdm bars write there, and child processes started inside the
block inherit the log file. With `echo` (`-v`) a thread copies everything to the terminal
too. The console from `terminal_console` writes to a duplicate of the original stderr, so
progress bars and prefdata's messages stay on screen while the engines are redirected.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path


def terminal_console(**kwargs):
    """A rich Console on a duplicate of the process's current stderr (survives redirection)."""
    from rich.console import Console

    sys.stderr.flush()
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded interpreters): use the object
        return Console(stderr=True, **kwargs)
    return Console(file=os.fdopen(fd, "w", buffering=1, closefd=True), **kwargs)


@contextmanager
def engine_output(path: Path, echo: bool = False):
    """Send everything written to fd 1 and 2 inside the block to `path` (appended)."""
    path = Path(path)
    if not path.parent.is_dir():  # (other training ranks find it made by the main process)
        path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(1), os.dup(2)
    log = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in finally
    copier = None
    if echo:
        read_end, target = os.pipe()
        copier = threading.Thread(target=_tee, args=(read_end, log, saved[1]), daemon=True)
        copier.start()
    else:
        target = log.fileno()
    os.dup2(target, 1)
    os.dup2(target, 2)
    try:
        yield path
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except ValueError:
                pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        if copier is not None:
            os.close(target)
            copier.join(timeout=5)
        for fd in saved:
            os.close(fd)
        log.close()


def _tee(read_end: int, log, terminal_fd: int) -> None:
    with os.fdopen(read_end, "rb", buffering=0) as source:
        for chunk in iter(lambda: source.read(65536), b""):
            try:  # a child process may outlive the block: stop quietly once the log is closed
                log.write(chunk)
                os.write(terminal_fd, chunk)
            except (OSError, ValueError):
                return


def engine_output_until_exit(path: Path) -> None:
    """Point fd 1 and 2 at `path` for the rest of the process: engines that shut down at exit
    (vLLM's process manager) write there. The console from `terminal_console` is unaffected."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
