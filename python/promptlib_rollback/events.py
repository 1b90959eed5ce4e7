"""Turn ansible-runner events into steps and decide the outcome of a run.

The playbooks report through ``ansible.builtin.set_stats`` with the default
``per_host: false``, which ansible-runner passes on as ``artifact_data`` in
the ``playbook_on_stats`` event:

* ``promptlib_rollback_refused``: a dict host -> reason, set when preflight
  rejects the rollback before anything changed;
* ``promptlib_rollback_completed``: a dict host -> details, set by the last
  play once the host is rolled back and validated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .results import StepResult, format_utc, normalize_timestamp

logger = logging.getLogger(__name__)

REFUSED_KEY = "promptlib_rollback_refused"
COMPLETED_KEY = "promptlib_rollback_completed"
MESSAGE_MAX_CHARS = 500
WARNING_PREFIX = "[WARNING]: "
# ANSI SGR sequences, which ansible-core puts around each line of a colored warning.
ANSI_SGR = re.compile(r"\x1b\[[0-9;]*m")
STDERR_TAIL_CHARS = 300

# ansible-runner's final status for runs it stopped itself.
INTERRUPTED_RUNNER_STATUSES = frozenset({"timeout", "canceled"})
CANCELED_RUNNER_STATUS = "canceled"

StepCallback = Callable[[StepResult], None]
# Called with host, role and task name when a task starts on a host.
StartCallback = Callable[[str, "str | None", str], None]


@dataclass
class RunningStep:
    """A task that started on a host and has not finished yet."""

    host: str
    role: str | None
    task: str
    start: str


@dataclass
class Outcome:
    """The outcome of a run and the details that explain it."""

    outcome: str
    failed_step: StepResult | None = None
    refused_reason: str | None = None
    error: str | None = None


def truncate(text: str, limit: int = MESSAGE_MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def build_message(result: Mapping[str, Any], status: str) -> str:
    """Build a step message from a task result: ``msg``, plus the stderr tail on failure."""
    msg = result.get("msg")
    if msg is None and status == "skipped":
        msg = result.get("skip_reason")
    if msg is None:
        # Results of no_log tasks carry only this notice.
        msg = result.get("censored")
    message = "" if msg is None else str(msg)
    if status in ("failed", "ignored", "unreachable"):
        stderr = str(result.get("stderr") or "").strip()
        if stderr:
            tail = stderr[-STDERR_TAIL_CHARS:]
            message = f"{message}: {tail}" if message else tail
    return truncate(message)


def step_from_event(event: Mapping[str, Any]) -> StepResult | None:
    """Build a StepResult from a ``runner_on_*`` event, or return None for other events."""
    kind = event.get("event")
    data = event.get("event_data") or {}
    result = data.get("res") or {}
    if not isinstance(result, Mapping):
        result = {"msg": str(result)}

    changed = bool(result.get("changed", False))
    if kind == "runner_on_ok":
        status = "changed" if changed else "ok"
    elif kind == "runner_on_failed":
        status = "ignored" if data.get("ignore_errors") else "failed"
    elif kind == "runner_on_skipped":
        status = "skipped"
    elif kind == "runner_on_unreachable":
        status = "unreachable"
    else:
        return None

    duration = data.get("duration")
    return StepResult(
        host=str(data.get("host", "")),
        role=data.get("role") or None,
        task=str(data.get("task", "")),
        status=status,
        changed=changed,
        start=normalize_timestamp(data.get("start")),
        end=normalize_timestamp(data.get("end")),
        duration_seconds=float(duration) if duration is not None else None,
        message=build_message(result, status),
    )


def warning_from_event(event: Mapping[str, Any]) -> str | None:
    """Return the text of a ``warning`` event as one line, or None for other events.

    ansible-core colors each line of a warning and, unless the caller passed
    ``formatted=True``, wraps it at the terminal width. The lines are stripped of
    color and joined with spaces.
    """
    # NOTE: a wrapped warning gains a space where ansible-core broke a word
    # longer than the line or split one after a hyphen. The notify callback
    # passes formatted=True, so its warnings come through exactly.
    if event.get("event") != "warning":
        return None
    text = ANSI_SGR.sub("", str(event.get("stdout") or ""))
    line = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if line.startswith(WARNING_PREFIX):
        line = line[len(WARNING_PREFIX):]
    return truncate(line) if line else None


def _host_counts(stats: Mapping[str, Any], key: str) -> dict[str, int]:
    counts = stats.get(key) or {}
    return {str(host): int(count) for host, count in counts.items()}


class RunEventCollector:
    """Collect the events of one run and derive its outcome.

    Pass :meth:`handle` to ``ansible_runner.run(event_handler=...)``. It calls
    ``step_callback`` with each step as the event arrives.
    """

    def __init__(self, step_callback: StepCallback | None = None, start_callback: StartCallback | None = None) -> None:
        self.steps: list[StepResult] = []
        self.stats: dict[str, Any] | None = None
        self.no_hosts_matched = False
        # The host pattern of the first play that matched no host.
        self.unmatched_pattern: str | None = None
        # Warnings that ansible-playbook displayed outside a task result, such as
        # undeliverable notifications, one line each in the order they arrived.
        self.warnings: list[str] = []
        self._step_callback = step_callback
        self._start_callback = start_callback
        # Tasks started and not finished, by (host, task uuid), in start order.
        self._running: dict[tuple[str, str], RunningStep] = {}
        # The hosts that started the most recent task, in start order.
        self._recent_task = ""
        self.recent_hosts: list[str] = []

    def handle(self, event: Mapping[str, Any]) -> bool:
        """Record one event. Returns True so that ansible-runner also stores it in job_events."""
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_no_hosts_matched":
            self.no_hosts_matched = True
            if self.unmatched_pattern is None:
                self.unmatched_pattern = data.get("play_pattern")
        elif kind == "playbook_on_stats":
            self.stats = dict(data)
            self._mark_rescued_steps(self.stats)
        elif kind == "runner_on_start":
            self._record_start(data, event.get("created"))
        elif kind == "warning":
            warning = warning_from_event(event)
            if warning:
                self.warnings.append(warning)
        else:
            step = step_from_event(event)
            if step is not None:
                self._running.pop((step.host, str(data.get("task_uuid", ""))), None)
                self.steps.append(step)
                self._notify(step)
        return True

    def _record_start(self, data: Mapping[str, Any], created: Any) -> None:
        running = RunningStep(
            host=str(data.get("host", "")),
            role=data.get("role") or None,
            task=str(data.get("task", "")),
            start=normalize_timestamp(created) or format_utc(datetime.now(timezone.utc)),
        )
        task_uuid = str(data.get("task_uuid", ""))
        self._running[(running.host, task_uuid)] = running
        if task_uuid != self._recent_task:
            self._recent_task = task_uuid
            self.recent_hosts = []
        if running.host not in self.recent_hosts:
            self.recent_hosts.append(running.host)
        if self._start_callback is None:
            return
        try:
            self._start_callback(running.host, running.role, running.task)
        except Exception:  # a broken display must not abort the rollback
            logger.exception("The start callback failed on %s %s, and the run goes on.", running.host, running.task)

    def _notify(self, step: StepResult) -> None:
        if self._step_callback is None:
            return
        try:
            self._step_callback(step)
        except Exception:  # a broken display must not abort the rollback
            logger.exception("The step callback failed on %s, and the run goes on.", step.describe())

    def held_steps(self, task: str, role: str | None, end: datetime | None = None) -> list[StepResult]:
        """Return the task a cancelled run held before, as a ``cancelled`` step per host.

        The hosts are those of the most recent task. The host is empty when
        no task had started yet.
        """
        moment = format_utc(end or datetime.now(timezone.utc))
        steps = []
        for host in self.recent_hosts or [""]:
            where = f" on {host}" if host else ""
            steps.append(
                StepResult(
                    host=host,
                    role=role,
                    task=task,
                    status="cancelled",
                    changed=False,
                    start=moment,
                    end=moment,
                    duration_seconds=0.0,
                    message=f"The run was cancelled before this task started{where}.",
                )
            )
        return steps

    def unfinished_steps(self, end: datetime | None = None) -> list[StepResult]:
        """Return the tasks that started and never finished, as ``cancelled`` steps.

        ``end`` (default: now) becomes their end time and sets their duration.
        """
        moment = end or datetime.now(timezone.utc)
        steps = []
        for running in self._running.values():
            started = datetime.fromisoformat(running.start.replace("Z", "+00:00"))
            steps.append(
                StepResult(
                    host=running.host,
                    role=running.role,
                    task=running.task,
                    status="cancelled",
                    changed=False,
                    start=running.start,
                    end=format_utc(moment),
                    duration_seconds=round(max((moment - started).total_seconds(), 0.0), 3),
                    message=(
                        f"The run was stopped at once while this task was running on {running.host}, "
                        "so the task may have been cut short or may still be running there."
                    ),
                )
            )
        return steps

    def _mark_rescued_steps(self, stats: Mapping[str, Any]) -> None:
        """Relabel failures that a ``rescue`` section handled as 'rescued'.

        The events do not say which failure was rescued. ansible-core counts
        a handled failure in ``rescued`` and an unhandled one in ``failures``,
        and a host stops after an unhandled failure except for ``always``
        sections, so the first ``rescued[host]`` failures of each host are
        taken as the rescued ones.
        """
        # NOTE: a rescued failure inside an ``always`` section that runs after
        # an unhandled failure gets the wrong label. The per-host counts in
        # ``stats`` stay exact either way.
        for host, count in _host_counts(stats, "rescued").items():
            failed = [step for step in self.steps if step.host == host and step.status == "failed"]
            for step in failed[:count]:
                step.status = "rescued"

    @property
    def facts(self) -> dict[str, Any]:
        if self.stats is None:
            return {}
        return dict(self.stats.get("artifact_data") or {})

    @property
    def processed_hosts(self) -> list[str]:
        if self.stats is None:
            return []
        return list((self.stats.get("processed") or {}).keys())

    def summary_stats(self) -> dict[str, Any]:
        """Return the per-host counters of ``playbook_on_stats`` without the set_stats data."""
        if self.stats is None:
            return {}
        keys = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored", "processed")
        return {key: dict(self.stats.get(key) or {}) for key in keys}

    def _first_step(self, statuses: tuple[str, ...]) -> StepResult | None:
        for status in statuses:
            for step in self.steps:
                if step.status == status:
                    return step
        return None

    def _first_failure(self) -> StepResult | None:
        for step in self.steps:
            if step.status in ("failed", "unreachable"):
                return step
        return self._first_step(("rescued",))

    def outcome(self, rc: int | None = None, runner_status: str | None = None) -> Outcome:
        """Decide the outcome from the stats and set_stats data, never from ``rc`` alone.

        * ``cancelled``: ansible-runner stopped the run on a cancel request
          before the play recap;
        * ``no_hosts``: no host was processed;
        * ``refused``: some host set ``promptlib_rollback_refused``;
        * ``succeeded``: no failures, no unreachable hosts, every processed
          host in ``promptlib_rollback_completed``, rc 0 and a run that
          ansible-runner did not stop;
        * ``failed``: anything else, including a rescued failure on a host
          that never reported completion.
        """
        if self.stats is None:
            if runner_status == CANCELED_RUNNER_STATUS:
                return Outcome(
                    "cancelled",
                    error=(
                        "The run was cancelled before the play recap, so hosts may be between two steps. "
                        "Run the procedure again to finish the rollback."
                    ),
                )
            if self.no_hosts_matched and rc == 0:
                return Outcome("no_hosts")
            return Outcome(
                "failed",
                failed_step=self._first_failure(),
                error=(
                    f"ansible-playbook ended without a recap (rc {rc}, runner status {runner_status}); "
                    "read stdout in the artifacts folder for the error."
                ),
            )

        processed = self.processed_hosts
        if not processed:
            return Outcome("no_hosts")

        facts = self.facts
        refused = facts.get(REFUSED_KEY)
        if refused:
            if isinstance(refused, Mapping):
                reason = "; ".join(f"{host}: {text}" for host, text in refused.items())
            else:
                reason = str(refused)
            return Outcome("refused", refused_reason=reason)

        failures = _host_counts(self.stats, "failures")
        unreachable = _host_counts(self.stats, "dark")
        failed_hosts = sorted(host for host, count in failures.items() if count > 0)
        unreachable_hosts = sorted(host for host, count in unreachable.items() if count > 0)
        if failed_hosts or unreachable_hosts:
            parts = []
            if failed_hosts:
                parts.append("failed on " + ", ".join(failed_hosts))
            if unreachable_hosts:
                parts.append("unreachable: " + ", ".join(unreachable_hosts))
            return Outcome("failed", failed_step=self._first_failure(), error="Run " + "; ".join(parts) + ".")

        completed = facts.get(COMPLETED_KEY)
        completed_hosts = set(completed.keys()) if isinstance(completed, Mapping) else set()
        missing = [host for host in processed if host not in completed_hosts]
        if missing:
            return Outcome(
                "failed",
                failed_step=self._first_failure(),
                error=f"{', '.join(missing)} did not report {COMPLETED_KEY}, so the rollback is not confirmed.",
            )

        if runner_status in INTERRUPTED_RUNNER_STATUSES:
            return Outcome("failed", error=f"ansible-runner stopped the run (status {runner_status}).")
        if rc not in (None, 0):
            return Outcome("failed", error=f"ansible-playbook exited with rc {rc} although every host completed.")
        return Outcome("succeeded")
