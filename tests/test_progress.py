"""Progress lines and the stall warning (prefdata/progress.py), on a recording console."""

from __future__ import annotations

import io
import time

from rich.console import Console

from prefdata.progress import Heartbeat, last_log_line


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=400, color_system=None), out


def test_lines_show_phase_answers_rate_and_time_left(tmp_path):
    console, out = _console()
    log = tmp_path / "sample.log"
    log.write_text("(EngineCore pid=1) INFO 12-07 03:27:06 [core.py:402] init engine took 1.77 s\n")
    with Heartbeat(console, "vllm:smollm2", total=32, log_file=log, every=0.05) as beat:
        time.sleep(0.12)  # starting: the engine's last log line is quoted, without its prefix
        beat.phase("generating")
        beat.advance(8)
        time.sleep(0.12)
    text = out.getvalue()
    assert "vllm:smollm2: starting" in text and "| engine: init engine took 1.77 s" in text
    assert "8/32 answers" in text and "answers/s" in text and "eta " in text


def test_resumed_answers_count_as_done_but_not_in_the_rate():
    beat = Heartbeat(None, "x", total=10)
    beat.advance(6, resumed=True)
    beat.phase("generating")
    assert "6/10 answers" in beat.status() and "answers/s" not in beat.status()
    beat.reach(8)
    beat.reach(7)  # never goes back
    assert "8/10 answers" in beat.status()


def test_a_stall_is_warned_once_with_the_log_line_and_the_fix(tmp_path):
    console, out = _console()
    log = tmp_path / "sample.log"
    log.write_text("INFO [cpu_worker.py:1] Warming up model for the compilation...\n")
    with Heartbeat(console, "vllm:m", total=4, log_file=log, hint="lower max_model_len", every=0.03,
                   stall_after=0.1) as beat:
        beat.phase("starting engine")
        time.sleep(0.4)
    text = out.getvalue()
    assert text.count("warning: nothing has moved for") == 1
    assert "while starting engine (0/4 answers done)" in text and "Warming up model" in text
    assert "lower max_model_len" in text


def test_engine_steps_are_movement():
    console, out = _console()
    with Heartbeat(console, "m", total=4, every=0.03, stall_after=0.15) as beat:
        beat.phase("generating")
        for _ in range(12):
            time.sleep(0.03)
            beat.tick()
    assert "nothing has moved" not in out.getvalue()


def test_last_log_line_reads_the_tail(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("first\n" + "x" * 20000 + "\nlast line\n\n")
    assert last_log_line(log) == "last line" and last_log_line(tmp_path / "none.log") == ""


def test_work_past_its_deadline_fails_with_the_engine_log_never_hangs(tmp_path):
    import pytest

    from prefdata.errors import PrefdataError

    log = tmp_path / "sample.log"
    log.write_text("INFO loading weights\nINFO Warming up model for the compilation...\n")
    t0 = time.monotonic()
    with pytest.raises(PrefdataError) as e, Heartbeat(None, "vllm:m", total=4, log_file=log, hint="lower max_model_len",
                                                      every=0.05) as beat:
        with beat.deadline(0.3, "the vLLM engine's start"):
            time.sleep(30)  # a start that never ends
    assert time.monotonic() - t0 < 10
    message = str(e.value)
    assert "the vLLM engine's start did not finish within 0s (vllm:m)" in message
    assert "Warming up model for the compilation" in message and "lower max_model_len" in message


def test_a_deadline_met_changes_nothing():
    with Heartbeat(None, "m", total=1, every=0.05) as beat:
        with beat.deadline(5, "x"):
            time.sleep(0.1)
        time.sleep(0.2)
