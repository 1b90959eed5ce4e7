"""The progress display: plain lines in a log, one redrawn status line on a terminal."""

from __future__ import annotations

import io
import os
import threading

import pytest

from promptlib_rollback import progress
from promptlib_rollback.results import StepEvent, StepResult


def make_step(status: str, task: str = "Swap releases") -> StepResult:
    return StepResult(
        host="web1",
        role="restore_code",
        task=task,
        status=status,
        changed=status == "changed",
        start="2025-01-01T12:00:01.000000Z",
        end="2025-01-01T12:00:02.000000Z",
        duration_seconds=1.0,
        message="exchange failed" if status == "failed" else "",
    )


def started(task: str = "Swap releases") -> StepEvent:
    return StepEvent("step_started", "20250101T120000Z-1a2b3c4d", "full", "web1", "restore_code", task, 0.5)


def finished(status: str, task: str = "Swap releases") -> StepEvent:
    step = make_step(status, task)
    return StepEvent("step_finished", "20250101T120000Z-1a2b3c4d", "full", "web1", "restore_code", task, 1.5, step)


@pytest.fixture
def no_ticks(monkeypatch):
    # A long redraw interval keeps the ticker thread from writing during a test.
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 3600)


def test_plain_mode_prints_finished_steps(no_ticks):
    stream = io.StringIO()
    with progress.ProgressDisplay(stream, live=False) as display:
        display(started())
        display(finished("changed"))
        display(started("Start pm2"))
        display(finished("failed", "Start pm2"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("] web1  restore_code : Swap releases  changed")
    assert lines[1].endswith("] web1  restore_code : Start pm2  failed: exchange failed")
    assert "\r" not in stream.getvalue()


def test_plain_mode_without_steps_is_silent(no_ticks):
    stream = io.StringIO()
    with progress.ProgressDisplay(stream, live=False, steps=False) as display:
        display(started())
        display(finished("changed"))
    assert stream.getvalue() == ""


def test_live_mode_redraws_one_line(no_ticks):
    stream = io.StringIO()
    with progress.ProgressDisplay(stream, live=True) as display:
        display(started())
        status = stream.getvalue()
        display(finished("changed"))
    assert status.startswith(progress.CLEAR_LINE)
    assert "full  step 1  web1  restore_code : Swap releases" in status
    assert "\n" not in stream.getvalue()
    assert stream.getvalue().endswith(progress.CLEAR_LINE)


def test_live_mode_keeps_failed_steps(no_ticks):
    stream = io.StringIO()
    with progress.ProgressDisplay(stream, live=True) as display:
        display(started())
        display(finished("failed"))
    kept = stream.getvalue().split("\n")[:-1]
    assert len(kept) == 1
    assert kept[0].endswith("web1  restore_code : Swap releases  failed: exchange failed")


def test_live_mode_counts_steps(no_ticks):
    stream = io.StringIO()
    with progress.ProgressDisplay(stream, live=True) as display:
        display(started())
        display(finished("ok"))
        display(started("Start pm2"))
        last = stream.getvalue().rsplit(progress.CLEAR_LINE, 1)[-1]
    assert "step 2  web1  restore_code : Start pm2" in last


def test_live_status_fits_terminal(no_ticks, monkeypatch):
    monkeypatch.setattr(progress.shutil, "get_terminal_size", lambda fallback: os.terminal_size((40, 20)))
    stream = io.StringIO()
    with progress.ProgressDisplay(stream, live=True) as display:
        display(started("A task with a very long name that does not fit"))
        last = stream.getvalue().rsplit(progress.CLEAR_LINE, 1)[-1]
    assert len(last) <= 39
    assert last.endswith("...")


def test_cancel_notice_shown_once(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.01)
    stream = io.StringIO()
    cancel = threading.Event()
    force = threading.Event()
    with progress.ProgressDisplay(stream, live=False, cancel_event=cancel, force_event=force):
        cancel.set()
        threading.Event().wait(0.2)
        force.set()
        threading.Event().wait(0.2)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "Cancel requested: the run stops before its next task (interrupt again to stop at once).",
        "Stopping the run at once.",
    ]


def test_ticker_advances_elapsed_time(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.01)
    stream = io.StringIO()
    with progress.ProgressDisplay(stream, live=True) as display:
        display(started())
        threading.Event().wait(0.2)
    assert stream.getvalue().count("Swap releases") > 2


class ClosedStream(io.StringIO):
    def write(self, text):
        raise BrokenPipeError("reader went away")


def test_closed_stream_ignored(no_ticks):
    with progress.ProgressDisplay(ClosedStream(), live=False) as display:
        display(finished("changed"))


def test_is_terminal():
    assert progress.is_terminal(io.StringIO()) is False
