"""Incident reports: one JSON and one Markdown file per run, built from its RunResult.

The report carries the decision and approval, every step with its times, the
validation results with their values, the downtime measured, what the rollback
kept and where, the preserved logs and the notifications sent. Everything comes
from the RunResult (steps, set_stats data) and the files the run left in its
artifacts folder, so ``promptlib-rollback report RUN_ID`` can rebuild it later.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .paths import default_artifacts_root
from .results import RunResult, StepResult

logger = logging.getLogger(__name__)

REPORT_VERSION = 1
REPORT_JSON = "report.json"
REPORT_MARKDOWN = "report.md"
RESULT_FILENAME = "result.json"
NOTIFICATION_LOG = "notifications.jsonl"
# The event of the notification log entries that describe a skipped target or
# another configuration problem, not a delivery attempt.
CONFIG_EVENT = "config"
CUSTOMER_NOTICE = "customer-notice.txt"
RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")

DECISION_KEY = "promptlib_rollback_decision"
COMPLETED_KEY = "promptlib_rollback_completed"
VALIDATION_KEY = "promptlib_rollback_validation"
KEPT_KEY = "promptlib_rollback_kept"
LOGS_KEY = "promptlib_rollback_logs"
REFUSED_KEY = "promptlib_rollback_refused"
DIAGNOSIS_KEY = "promptlib_rollback_diagnosis"

# Downtime runs from the first step that takes the service down to the end of
# the step that waits for it to answer again. The playbooks name these steps.
DOWNTIME_START_ROLES = frozenset({"stop_services", "service_restart"})
# A change of feature flags restarts the application. It is back up when it returns its flags.
RESTART_START_TASK = (
    "feature_flags",
    "Start the application again from the ecosystem file when its environment differs",
)
RESTART_END_TASK = "Read the flags from the running application"
DOWNTIME_END_TASKS = {
    "Wait for the application health endpoint": "application health",
    "Wait for the cache service's health check": "cache service health",
}

STATUS_MARK = {True: "passed", False: "FAILED"}


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _short_role(role: str | None) -> str | None:
    return role.rsplit(".", 1)[-1] if role else None


def measure_downtime(result: RunResult, host: str, checks: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Return the downtime a host saw during the run, or None when nothing was taken down.

    It starts at the first changed step of the stop_services or service_restart
    role and ends at the end of the health wait after it. ``recovered`` is whether
    the matching validation check passed. When it did not, the downtime runs to
    the end of the run, so the true downtime is at least that long.
    """
    steps = [step for step in result.steps if step.host == host]
    start_step = next(
        (step for step in steps if step.changed and _short_role(step.role) in DOWNTIME_START_ROLES and step.start),
        None,
    )
    if start_step is None:
        return measure_restarts(result, steps)
    started = start_step.start or ""
    start = _parse_time(started)
    end_step = next(
        (step for step in steps if step.task in DOWNTIME_END_TASKS and step.end and (step.start or "") >= started),
        None,
    )
    check_name = DOWNTIME_END_TASKS.get(end_step.task) if end_step else None
    recovered = bool(check_name) and any(check.get("name") == check_name and check.get("passed") for check in checks)
    end = _parse_time(end_step.end) if end_step and recovered else _parse_time(result.ended_at)
    if start is None or end is None:
        return None
    return {
        "seconds": round((end - start).total_seconds(), 1),
        "from": start_step.start,
        "to": end_step.end if end_step and recovered else result.ended_at,
        "recovered": recovered,
        "basis": f"from '{start_step.task}' to the first passing {check_name or 'health check'}",
    }


def measure_restarts(result: RunResult, steps: list[StepResult]) -> dict[str, Any] | None:
    """Return the time the application was down while pm2 restarted it with new flags, or None.

    The feature-specific and gradual rollbacks stop no service, but each change of
    flags restarts the application. Each restart counts from the changed pm2 step
    to the end of the first read of the running application's flags after it, and
    ``seconds`` is the sum of the restarts. A restart that no successful read follows runs to
    the end of the run, and ``recovered`` is then false.
    """
    windows: list[tuple[str, str | None]] = []
    for index, step in enumerate(steps):
        if not (step.changed and step.start and (_short_role(step.role), step.task) == RESTART_START_TASK):
            continue
        answer = next((later for later in steps[index + 1:] if later.task == RESTART_END_TASK), None)
        answered = answer is not None and answer.status in ("ok", "changed") and answer.end
        windows.append((step.start, answer.end if answered and answer else None))
    if not windows:
        return None
    total = 0.0
    for started, ended in windows:
        start, end = _parse_time(started), _parse_time(ended or result.ended_at)
        if start is None or end is None:
            return None
        total += (end - start).total_seconds()
    recovered = all(ended for unused, ended in windows)
    restarts = "1 restart" if len(windows) == 1 else f"{len(windows)} restarts"
    return {
        "seconds": round(total, 1),
        "from": windows[0][0],
        "to": windows[-1][1] or result.ended_at,
        "recovered": recovered,
        "basis": f"{restarts} by pm2 with new flags, each until the application reported its flags",
    }


def _first(values: Mapping[str, Any] | None) -> Any:
    if not values:
        return None
    return next(iter(values.values()))


def read_notifications(run_dir: Path) -> list[dict[str, Any]]:
    """Return the delivery attempts that the notify callback logged for the run."""
    path = run_dir / NOTIFICATION_LOG
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            logger.warning("Skipping line %d of %s because it is not JSON", number, path)
    return entries


def _host_section(result: RunResult, host: str) -> dict[str, Any]:
    facts = result.facts
    checks = list((facts.get(VALIDATION_KEY) or {}).get(host) or [])
    completed = (facts.get(COMPLETED_KEY) or {}).get(host)
    kept = dict((facts.get(KEPT_KEY) or {}).get(host) or {})
    if isinstance(completed, Mapping) and isinstance(completed.get("kept"), Mapping):
        kept.update(completed["kept"])
    return {
        "completed": completed,
        "refused": (facts.get(REFUSED_KEY) or {}).get(host) if isinstance(facts.get(REFUSED_KEY), Mapping) else None,
        "validation": checks,
        "downtime": measure_downtime(result, host, checks),
        "kept": kept,
        "logs": dict((facts.get(LOGS_KEY) or {}).get(host) or {}),
        "diagnosis": (facts.get(DIAGNOSIS_KEY) or {}).get(host),
    }


def _approval(decision: Any, completed: Mapping[str, Any] | None) -> Any:
    """Return the recorded approval: the decision's, or else the first that a host's completion record names.

    A procedure's playbook run directly has no decision, but the gradual, feature and
    database-only rollbacks record their approval with their completion.
    """
    if isinstance(decision, Mapping) and decision.get("approval"):
        return decision["approval"]
    for record in (completed or {}).values():
        if isinstance(record, Mapping) and record.get("approval"):
            return record["approval"]
    return None


def build_report(result: RunResult) -> dict[str, Any]:
    """Build the incident report of one run as JSON-ready data."""
    run_dir = Path(result.artifacts_dir) if result.artifacts_dir else None
    hosts = sorted(set(result.stats.get("processed", {})) | {step.host for step in result.steps if step.host})
    decision = _first(result.facts.get(DECISION_KEY))
    host_sections = {host: _host_section(result, host) for host in hosts}
    downtimes = [section["downtime"]["seconds"] for section in host_sections.values() if section["downtime"]]
    notifications = read_notifications(run_dir) if run_dir else []
    notice = run_dir / CUSTOMER_NOTICE if run_dir else None
    return {
        "report_version": REPORT_VERSION,
        "run_id": result.run_id,
        "procedure": result.procedure,
        "outcome": result.outcome,
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "duration_seconds": result.duration_seconds,
        "refused_reason": result.refused_reason,
        "error": result.error,
        "failed_step": result.failed_step.to_dict() if result.failed_step else None,
        "decision": decision,
        "approval": _approval(decision, result.facts.get(COMPLETED_KEY)),
        "downtime_seconds": max(downtimes) if downtimes else None,
        "hosts": host_sections,
        "timeline": [step.to_dict() for step in result.steps],
        "step_counts": dict(Counter(step.status for step in result.steps)),
        "notifications": notifications,
        "customer_notice": str(notice) if notice and notice.is_file() else None,
        "artifacts_dir": result.artifacts_dir,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# ----- Markdown -----


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines.extend("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows)
    return lines


def _offset(started_at: str, moment: str | None) -> str:
    start, then = _parse_time(started_at), _parse_time(moment)
    if start is None or then is None:
        return ""
    return f"+{(then - start).total_seconds():.1f}s"


def _decision_lines(report: Mapping[str, Any]) -> list[str]:
    decision = report.get("decision")
    approval = report.get("approval")
    if not isinstance(decision, Mapping):
        lines = ["No decision was recorded: the procedure's playbook ran directly, not through playbooks/rollback.yml."]
        if approval:
            lines += ["", f"Approved by {approval.get('by')} ({approval.get('role')}) at {approval.get('at')}."]
        return lines
    authority = decision.get("authority") or {}
    lines = _table(
        ["Item", "Value"],
        [
            ["Issue", f"{decision.get('issue')} ({decision.get('issue_type')})"],
            ["Severity", decision.get("severity")],
            ["Rollback type", decision.get("rollback_type")],
            ["Procedure", f"{decision.get('procedure')} ({decision.get('playbook')})"],
            ["Decide within", f"{decision.get('max_decision_minutes')} minutes"],
            ["Authority", f"{authority.get('name')}: {', '.join(authority.get('roles') or [])}"],
            ["Decided at", decision.get("decided_at")],
        ],
    )
    if not decision.get("rollback"):
        lines += ["", f"No rollback: {decision.get('no_rollback_reason')}"]
    if approval:
        lines += ["", f"Approved by {approval.get('by')} ({approval.get('role')}) at {approval.get('at')}."]
    elif authority.get("approval_required"):
        lines += ["", "No approval was recorded, although this procedure needs one."]
    else:
        lines += ["", "No recorded approval was needed."]
    return lines


def _host_lines(host: str, section: Mapping[str, Any]) -> list[str]:
    lines = [f"### {host}", ""]
    if section.get("refused"):
        lines += [f"Refused: {section['refused']}", ""]
    downtime = section.get("downtime")
    if downtime:
        state = "" if downtime["recovered"] else ", not recovered by the end of the run"
        lines += [f"Downtime: {downtime['seconds']} s ({downtime['basis']}{state}).", ""]
    else:
        lines += ["Downtime: none measured (no service was stopped or restarted).", ""]
    checks = section.get("validation") or []
    if checks:
        lines += ["Validation:", ""]
        lines += _table(
            ["Check", "Value", "Threshold", "Result", "Critical"],
            [[c.get("name"), c.get("value"), c.get("threshold"), STATUS_MARK[bool(c.get("passed"))],
              "yes" if c.get("critical") else "no"] for c in checks],
        )
        lines.append("")
    kept = section.get("kept") or {}
    if kept:
        lines += ["Kept:", ""] + _table(["What", "Where"], [[key, value] for key, value in sorted(kept.items())]) + [""]
    logs = section.get("logs") or {}
    if logs:
        rows = []
        for phase in ("before", "after"):
            entry = logs.get(phase)
            if entry:
                where = entry.get("path") or f"not preserved: {entry.get('error')}"
                rows.append([phase, where, len(entry.get("files") or []), ", ".join(entry.get("missing") or [])])
        lines += ["Preserved logs:", ""] + _table(["Phase", "Folder", "Files", "Missing"], rows) + [""]
    diagnosis = section.get("diagnosis")
    if diagnosis:
        lines += [f"Diagnosis: {diagnosis.get('issue_type') or 'no issue found'}", ""]
        for finding in diagnosis.get("findings") or []:
            lines.append(f"- {finding.get('issue_type')}: {'; '.join(finding.get('evidence') or [])}")
        lines.append("")
    return lines


def _notification_lines(entries: list[dict[str, Any]]) -> list[str]:
    """Render the delivery attempts as a table and the configuration problems as a list after it."""
    deliveries = [entry for entry in entries if entry.get("event") != CONFIG_EVENT]
    problems = [entry for entry in entries if entry.get("event") == CONFIG_EVENT]
    lines: list[str] = []
    if deliveries:
        lines += _table(
            ["Time", "Event", "Target", "Status", "Detail"],
            [[n.get("time"), n.get("event"), n.get("target"), n.get("status"), n.get("error") or n.get("http_status")]
             for n in deliveries],
        )
    elif problems:
        lines.append("None sent, because of the configuration problems below.")
    else:
        lines.append("None sent (no notification configuration, or this playbook does not notify).")
    if problems:
        lines += ["", "Skipped by the notification configuration:", ""]
        lines += [f"- {entry.get('error')}" for entry in problems]
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    """Render a report from :func:`build_report` as Markdown."""
    lines = [f"# Rollback report {report['run_id']}", ""]
    downtime = report.get("downtime_seconds")
    lines += _table(
        ["Item", "Value"],
        [
            ["Outcome", report["outcome"]],
            ["Procedure", report["procedure"]],
            ["Started", report["started_at"]],
            ["Ended", report["ended_at"]],
            ["Duration", f"{report['duration_seconds']:.1f} s"],
            ["Downtime", f"{downtime} s" if downtime is not None else "none measured"],
            ["Artifacts", report.get("artifacts_dir")],
        ],
    )
    for label, key in (("Refused", "refused_reason"), ("Error", "error")):
        if report.get(key):
            lines += ["", f"{label}: {report[key]}"]
    if report.get("failed_step"):
        step = report["failed_step"]
        lines += ["", f"Failed step: {step['host']} {step.get('role') or ''} {step['task']}: {step.get('message')}"]
    lines += ["", "## Decision and approval", ""] + _decision_lines(report)
    lines += ["", "## Hosts", ""]
    for host, section in report["hosts"].items():
        lines += _host_lines(host, section)
    lines += ["## Notifications", ""] + _notification_lines(report.get("notifications") or [])
    if report.get("customer_notice"):
        lines += ["", f"Customer notice: {report['customer_notice']}"]
    lines += ["", "## Timeline", ""]
    lines += _table(
        ["Start", "Host", "Step", "Status", "Duration", "Message"],
        [[_offset(report["started_at"], step.get("start")), step.get("host"),
          f"{step['role']} : {step['task']}" if step.get("role") else step.get("task"), step.get("status"),
          f"{step['duration_seconds']:.1f}s" if step.get("duration_seconds") is not None else "",
          step.get("message")] for step in report["timeline"]],
    )
    return "\n".join(lines) + "\n"


# ----- files -----


def write_report(result: RunResult) -> tuple[Path, Path]:
    """Write report.json and report.md into the run's artifacts folder and return their paths."""
    run_dir = Path(result.artifacts_dir)
    report = build_report(result)
    json_path, markdown_path = run_dir / REPORT_JSON, run_dir / REPORT_MARKDOWN
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, markdown_path


def write_report_quietly(result: RunResult) -> None:
    """Write the report, logging instead of raising on failure, because a run's outcome must not depend on it."""
    try:
        write_report(result)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        logger.error("The incident report of run %s could not be written: %s", result.run_id, exc)


def _drill_rollback_dir(drill_dir: Path) -> Path | None:
    """Return the folder of the rollback run inside a drill's folder, or None when it is not a drill's."""
    try:
        drill = json.loads((drill_dir / "drill.json").read_text(encoding="utf-8"))
        rollback_id = drill["rollback"]["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(rollback_id, str) or not RUN_ID_PATTERN.match(rollback_id):
        return None
    folder = drill_dir / rollback_id
    return folder if (folder / RESULT_FILENAME).is_file() or (folder / REPORT_JSON).is_file() else None


def find_run_dir(run_id: str, artifacts_root: str | Path | None = None) -> Path:
    """Return the artifacts folder of run ``run_id``, directly under the root or in a drill folder.

    A drill's folder name, or the run id at its end, gives the folder of the
    rollback run inside that drill.

    Raises:
        ConfigurationError: the id is malformed or no such run is found.
    """
    drill_id = re.fullmatch(r"drill-[a-z0-9-]+-(.+)", run_id)
    if not RUN_ID_PATTERN.match(drill_id.group(1) if drill_id else run_id):
        raise ConfigurationError(
            f"Invalid run id {run_id!r}: expected the form 20250101T120000Z-1a2b3c4d, or a drill's folder name "
            "such as drill-app-failure-20250101T120000Z-1a2b3c4d, as printed under Artifacts."
        )
    root = Path(artifacts_root).expanduser().resolve() if artifacts_root else default_artifacts_root()
    candidates = [root / run_id, *sorted(root.glob(f"*/{run_id}")), *sorted(root.glob(f"drill-*-{run_id}"))]
    for candidate in candidates:
        if (candidate / RESULT_FILENAME).is_file() or (candidate / REPORT_JSON).is_file():
            return candidate
        rollback_dir = _drill_rollback_dir(candidate)
        if rollback_dir is not None:
            return rollback_dir
    raise ConfigurationError(
        f"Run {run_id} not found under {root}. Pass --artifacts-dir with the folder the run wrote to."
    )


def load_report(run_id: str, artifacts_root: str | Path | None = None) -> dict[str, Any]:
    """Return the stored report of ``run_id``, building it from result.json when it is missing."""
    run_dir = find_run_dir(run_id, artifacts_root)
    report_path = run_dir / REPORT_JSON
    if not report_path.is_file():
        result = RunResult.from_json((run_dir / RESULT_FILENAME).read_text(encoding="utf-8"))
        result.artifacts_dir = str(run_dir)
        write_report(result)
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    return report
