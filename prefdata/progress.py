"""No silent minutes: progress lines while an engine loads, compiles, warms up and generates.

    with Heartbeat(console, "sample vllm:smollm2", total=32, log_file=run / "logs/sample.log",
                   hint="lower max_model_len or max_num_seqs, or use backend: transformers") as beat:
        beat.phase("starting engine")       # long calls inside: the engine's last log line is shown
        beat.phase("generating")
        beat.advance(4)                     # answers done
        beat.tick()                         # work moved without finishing an answer (an engine step)

Every `every` seconds (10) a line: the phase, answers done / total, the rate and the time left
(over time spent generating only). When nothing has moved for `stall_after` seconds (60) -- no
answer, no engine step, no new line in the engine log -- a warning says what it is waiting on,
the engine's last log line and what to change. Lines, not a live bar: they read the same on a
terminal, in CI and in a log file.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from prefdata.errors import PrefdataError

EVERY_S = 10.0
STALL_S = 60.0
GRACE_S = 60.0  # after a deadline: how long the work may take to notice before the process exits
WORK_PHASES = ("generating", "judging")  # the time the rate and the time left are measured over


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def last_log_lines(path: Path | None, n: int = 8) -> list[str]:
    """The last `n` non-empty lines of an engine log, read from its tail."""
    if path is None or not Path(path).is_file():
        return []
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 32768))
        return [ln.rstrip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()][-n:]


def last_log_line(path: Path | None, limit: int = 160) -> str:
    """The last non-empty line of an engine log, without vLLM's log prefix, shortened."""
    last = last_log_lines(path, 1)
    if not last:
        return ""
    line = last[0].strip()
    line = line.split("] ", 1)[-1] if "] " in line[:120] else line  # drop vLLM's log prefix
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Quiet:
    """The progress of work nobody watches (a sampler used outside a stage)."""

    def phase(self, name: str) -> None: ...
    def advance(self, n: int = 1, resumed: bool = False) -> None: ...
    def reach(self, done: int) -> None: ...
    def tick(self) -> None: ...
    def note(self, line: str, detail: str = "") -> None: ...

    def deadline(self, seconds: float | None, what: str):
        return nullcontext()


class Heartbeat(Quiet):
    def __init__(self, console, label: str, total: int, unit: str = "answers", log_file: Path | None = None,
                 hint: str = "", every: float = EVERY_S, stall_after: float = STALL_S):
        self.console, self.label, self.total, self.unit = console, label, total, unit
        self.log_file, self.hint, self.every, self.stall_after = log_file, hint, every, stall_after
        self.done = 0
        self._phase, self._phase_since = "starting", time.monotonic()
        self._generating_s, self._generated, self._gen_since = 0.0, 0, None
        self._moved = time.monotonic()
        self._log_size = -1
        self._warned = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._deadline: tuple[float, float, str] | None = None  # (monotonic end, seconds, what)
        self._expired: str | None = None
        self.t0 = time.monotonic()

    # -- called by the work ----------------------------------------------------------
    def phase(self, name: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._close_generating(now)
            self._phase, self._phase_since = name, now
            if name in WORK_PHASES:
                self._gen_since = now
            self._touch(now)

    def advance(self, n: int = 1, resumed: bool = False) -> None:
        """`n` answers done; `resumed` ones (read back from disk) count towards done, not the rate."""
        with self._lock:
            self.done += n
            if not resumed:
                self._generated += n
            self._touch(time.monotonic())

    def reach(self, done: int) -> None:
        """At least `done` answers are done (for work whose backend does not count its answers)."""
        with self._lock:
            if done > self.done:
                self._generated += done - self.done
                self.done = done
                self._touch(time.monotonic())

    def tick(self) -> None:
        self._moved = time.monotonic()

    @contextmanager
    def deadline(self, seconds: float | None, what: str):
        """Fail the work inside the block when it has not finished after `seconds`: a
        PrefdataError naming `what` with the engine's last log lines, never a hang. If the work
        is stuck inside one native call that ignores the interrupt, the process exits (code 3)
        after GRACE_S with the same message: everything written so far is crash-safe."""
        if not seconds or threading.current_thread() is not threading.main_thread():
            yield  # only the main thread can be interrupted
            return
        self._deadline, self._expired = (time.monotonic() + seconds, seconds, what), None
        self._ensure_thread()
        try:
            yield
        except KeyboardInterrupt:
            if self._expired is None:
                raise
            raise PrefdataError(self._expired) from None
        finally:
            self._deadline = None

    def _expire(self) -> None:
        end, seconds, what = self._deadline
        lines = "\n  ".join(last_log_lines(self.log_file)) or "(no engine log)"
        self._expired = (f"{what} did not finish within {_clock(seconds)} ({self.label}); the engine's last log lines "
                         f"({self.log_file}):\n  {lines}\n{self.hint}")
        # a real signal, not _thread.interrupt_main(): that only sets a flag, which a thread asleep
        # or waiting in a native call never reads
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        if self._stop.wait(GRACE_S) or self._deadline is None:
            return
        if self.console is not None:  # stuck in native code: exit rather than hang
            self.console.print(f"[bold red]error:[/] {self._expired}", highlight=False)
        os._exit(3)

    def steps_only(self) -> "Quiet":
        """A view for work counted in other units (a judge's engine answers requests, the stage
        counts candidates): its phases, notes and steps show here, its answers only as movement."""
        beat = self

        class StepsOnly(Quiet):
            def phase(self, name: str) -> None:
                beat.phase(name)

            def advance(self, n: int = 1, resumed: bool = False) -> None:
                beat.tick()

            def reach(self, done: int) -> None:
                beat.tick()

            def tick(self) -> None:
                beat.tick()

            def note(self, line: str, detail: str = "") -> None:
                beat.note(line, detail)

            def deadline(self, seconds: float | None, what: str):
                return beat.deadline(seconds, what)

        return StepsOnly()

    def note(self, line: str, detail: str = "") -> None:
        """A line worth keeping (e.g. the engine settings chosen): on the console, and in the log
        with its `detail`."""
        print(f"prefdata: {self.label}: {line}{' ' + detail if detail else ''}", flush=True)  # stdout: the stage log
        if self.console is not None:
            style = "yellow" if line.startswith("warning") else "dim"
            self.console.print(f"[{style}]{'':>8}  {self.label}: {line}[/]", highlight=False, soft_wrap=True)

    # -- the reporting thread ------------------------------------------------------------
    def __enter__(self) -> "Heartbeat":
        if self.console is not None:
            self._ensure_thread()
        return self

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prefdata-heartbeat", daemon=True)
            self._thread.start()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _touch(self, now: float) -> None:
        self._moved = now
        self._warned = False

    def _close_generating(self, now: float) -> None:
        if self._gen_since is not None:
            self._generating_s += now - self._gen_since
            self._gen_since = None

    def _run(self) -> None:
        next_report = time.monotonic() + self.every
        while not self._stop.wait(min(1.0, self.every)):
            now = time.monotonic()
            if self._deadline is not None and now >= self._deadline[0] and self._expired is None:
                self._expire()
            if now >= next_report and self.console is not None:
                self.report()
                next_report = now + self.every

    def status(self) -> str:
        """The progress line (also what `report` prints)."""
        with self._lock:
            now = time.monotonic()
            parts = [f"{self.label}: {self._phase} {_clock(now - self._phase_since)}",
                     f"{self.done}/{self.total} {self.unit}"]
            seconds = self._generating_s + (now - self._gen_since if self._gen_since is not None else 0.0)
            if self._generated and seconds > 0:
                rate = self._generated / seconds
                parts.append(f"{rate:.2f} {self.unit}/s")
                if self.done < self.total:
                    parts.append(f"eta {_clock((self.total - self.done) / rate)}")
            parts.append(f"elapsed {_clock(now - self.t0)}")
        line = "  ".join(parts)
        if self._phase != "generating" or not self._generated:
            detail = last_log_line(self.log_file)
            if detail:
                line += f"  | engine: {detail}"
        return line

    def _log_grew(self) -> bool:
        if self.log_file is None or not Path(self.log_file).is_file():
            return False
        size = Path(self.log_file).stat().st_size
        grew, self._log_size = size != self._log_size and self._log_size >= 0, size
        return grew

    def report(self) -> None:
        if self._log_grew():
            self._moved = time.monotonic()
        self.console.print(f"[dim]{'':>8}  {self.status()}[/]", highlight=False, soft_wrap=True)
        idle = time.monotonic() - self._moved
        if idle >= self.stall_after and not self._warned:
            self._warned = True
            where = f"; its last line: {last_log_line(self.log_file)!r} ({self.log_file})" if self.log_file else ""
            self.console.print(
                f"[yellow]warning: nothing has moved for {_clock(idle)} while {self._phase} "
                f"({self.done}/{self.total} {self.unit} done){where}. {self.hint}[/]", highlight=False, soft_wrap=True)
