"""Show the progress of a run on a terminal or in a log.

On a terminal, one status line with the elapsed time, the run, the host and
the task in progress is redrawn in place, and only failed steps stay on the
screen. Elsewhere, each finished step is printed as one plain line.
"""

from __future__ import annotations

import shutil
import threading
import time
from typing import TextIO

from .results import StepEvent, StepResult

# How often the status line is redrawn to advance the elapsed time, in seconds.
REDRAW_SECONDS = 0.5
# Steps that stay on the screen above the status line.
NOTABLE_STATUSES = frozenset({"failed", "unreachable", "rescued", "ignored", "cancelled"})
CLEAR_LINE = "\r\x1b[K"


def format_step(step: StepResult, elapsed: float) -> str:
    """Format a step line: ``[  3.2s] host  role : task  changed``."""
    line = f"[{elapsed:6.1f}s] {step.describe()}  {step.status}"
    if step.status in ("failed", "unreachable", "ignored", "cancelled") and step.message:
        line += f": {step.message}"
    return line


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class ProgressDisplay:
    """Print StepEvents to ``stream``: a redrawn status line when ``live``, plain lines otherwise.

    Use it as a context manager around the run and pass it as ``on_event``.
    ``cancel_event`` and ``force_event`` are the run's cancel requests, shown
    once they are set. With ``steps`` False, plain mode prints nothing but
    the cancel notices.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool,
        steps: bool = True,
        cancel_event: threading.Event | None = None,
        force_event: threading.Event | None = None,
    ) -> None:
        self._stream = stream
        self._live = live
        self._steps = steps
        self._cancel_event = cancel_event
        self._force_event = force_event
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._current: StepEvent | None = None
        self._finished_steps = 0
        self._cancel_shown = 0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="promptlib-rollback-progress", daemon=True)

    def __enter__(self) -> ProgressDisplay:
        self._ticker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._ticker.join()
        with self._lock:
            if self._live:
                self._write(CLEAR_LINE)

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def __call__(self, event: StepEvent) -> None:
        with self._lock:
            if event.kind == "step_started":
                self._current = event
            elif event.step is not None:
                self._finished_steps += 1
                self._show_finished(event.step)
            if self._live:
                self._draw_status()

    def _show_finished(self, step: StepResult) -> None:
        line = format_step(step, self.elapsed())
        if self._live:
            if step.status in NOTABLE_STATUSES:
                self._write(CLEAR_LINE + line + "\n")
        elif self._steps:
            self._write(line + "\n")

    def _cancel_notice(self) -> tuple[int, str] | None:
        if self._force_event is not None and self._force_event.is_set():
            return 2, "Stopping the run at once."
        if self._cancel_event is not None and self._cancel_event.is_set():
            return 1, "Cancel requested: the run stops before its next task (interrupt again to stop at once)."
        return None

    def _status_text(self) -> str:
        parts = [f"[{self.elapsed():6.1f}s]"]
        if self._current is not None:
            parts.append(f"{self._current.procedure}  step {self._finished_steps + 1}  {self._current.describe()}")
        else:
            parts.append("starting")
        notice = self._cancel_notice()
        if notice is not None:
            parts.append("(cancelling)")
        return " ".join(parts)

    def _draw_status(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        text = self._status_text()
        if len(text) > width - 1:
            text = text[: max(width - 4, 0)] + "..."
        self._write(CLEAR_LINE + text)

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            with self._lock:
                notice = self._cancel_notice()
                if notice is not None and notice[0] > self._cancel_shown:
                    self._cancel_shown = notice[0]
                    self._write((CLEAR_LINE if self._live else "") + notice[1] + "\n")
                if self._live:
                    self._draw_status()

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream must not stop the run
            pass
