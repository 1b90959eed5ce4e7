"""Results of playbook runs and drills, as plain data that serializes to JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, ClassVar

# "cancelled" marks the step that was running when the run was cancelled.
STEP_STATUSES = frozenset({"ok", "changed", "failed", "skipped", "unreachable", "rescued", "ignored", "cancelled"})
RUN_OUTCOMES = frozenset({"succeeded", "failed", "refused", "no_hosts", "cancelled"})

# Version of the JSON form of RunResult and DrillResult. Within one version
# fields are only added, never renamed, removed or given another meaning, so
# readers must ignore keys they do not know.
JSON_FORMAT_VERSION = 1


def format_utc(moment: datetime) -> str:
    """Format ``moment`` as ISO 8601 in UTC with a ``Z`` suffix and microseconds.

    A naive datetime is taken to be UTC already.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize_timestamp(value: Any) -> str | None:
    """Convert an ISO 8601 timestamp from an ansible-runner event to UTC.

    Returns None for an empty value, and the input unchanged when it does not
    parse as ISO 8601.
    """
    if not value:
        return None
    text = str(value)
    if text.endswith("Z"):
        # datetime.fromisoformat accepts "Z" only from Python 3.11 on.
        text = text[:-1] + "+00:00"
    try:
        return format_utc(datetime.fromisoformat(text))
    except ValueError:
        return str(value)


@dataclass
class StepResult:
    """One task's result on one host.

    A step with status ``cancelled`` is the task that was running when the run
    was cancelled: its ``end`` is the time of the cancellation.
    """

    host: str
    role: str | None
    task: str
    status: str
    changed: bool
    start: str | None
    end: str | None
    duration_seconds: float | None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        return cls(**_known_fields(cls, data))

    def describe(self) -> str:
        """Return ``host  role : task``, the way ansible-playbook names a task."""
        task = f"{self.role} : {self.task}" if self.role else self.task
        return f"{self.host}  {task}"


@dataclass
class RunResult:
    """The result of one playbook run.

    ``facts`` contains the data the playbook published with
    ``ansible.builtin.set_stats`` (``per_host: false``). ``rc`` and
    ``runner_status`` come from ansible-runner. ``error`` explains a failure
    that no step shows, such as a syntax error or a host that never reported
    completion. ``cancelled_step`` is the step that was running when a
    cancelled run stopped. ``warnings`` contains the warnings that
    ansible-playbook displayed outside task results, one line each.
    docs/python-api.md describes every field.
    """

    FORMAT_VERSION: ClassVar[int] = JSON_FORMAT_VERSION

    run_id: str
    procedure: str
    outcome: str
    started_at: str
    ended_at: str
    duration_seconds: float
    steps: list[StepResult] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    failed_step: StepResult | None = None
    refused_reason: str | None = None
    artifacts_dir: str = ""
    rc: int | None = None
    runner_status: str | None = None
    error: str | None = None
    check_mode: bool = False
    cancelled_step: StepResult | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": self.FORMAT_VERSION, **asdict(self)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        values = _known_fields(cls, data)
        values["steps"] = [StepResult.from_dict(step) for step in values.get("steps", [])]
        for key in ("failed_step", "cancelled_step"):
            if values.get(key) is not None:
                values[key] = StepResult.from_dict(values[key])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        return cls.from_dict(json.loads(text))


@dataclass
class DrillResult:
    """The result of a drill: the setup run, the rollback run and its time to recover.

    ``ttr_seconds`` (time to recover) is the rollback run's duration, because
    that run ends with the validation that proves the service healthy.
    """

    scenario: str
    outcome: str
    ttr_seconds: float | None
    rollback: RunResult
    setup: RunResult
    container: str
    artifacts_dir: str
    container_kept: bool = False

    FORMAT_VERSION: ClassVar[int] = JSON_FORMAT_VERSION

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format_version": self.FORMAT_VERSION, **asdict(self)}
        data["rollback"] = self.rollback.to_dict()
        data["setup"] = self.setup.to_dict()
        # Consumers of the drill report read the rollback steps at the top level.
        data["steps"] = data["rollback"]["steps"]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrillResult:
        values = _known_fields(cls, data)
        values["rollback"] = RunResult.from_dict(values["rollback"])
        values["setup"] = RunResult.from_dict(values["setup"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> DrillResult:
        return cls.from_dict(json.loads(text))


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Return the items of ``data`` that are fields of dataclass ``cls``.

    Keys a newer writer added, and ``format_version``, are dropped.
    """
    names = {item.name for item in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


STEP_EVENT_KINDS = frozenset({"step_started", "step_finished"})


@dataclass(frozen=True)
class StepEvent:
    """A task starting or finishing on one host, as passed to an ``on_event`` callback.

    ``step`` is the finished step for ``step_finished`` events and None for
    ``step_started`` events. ``elapsed_seconds`` counts from the start of the
    run named by ``run_id``.
    """

    kind: str
    run_id: str
    procedure: str
    host: str
    role: str | None
    task: str
    elapsed_seconds: float
    step: StepResult | None = None

    def describe(self) -> str:
        """Return ``host  role : task``, the way ansible-playbook names a task."""
        task = f"{self.role} : {self.task}" if self.role else self.task
        return f"{self.host}  {task}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
