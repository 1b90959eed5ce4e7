"""The public Python API of promptlib_rollback, re-exported by the package.

>>> from promptlib_rollback import run
>>> result = run("full", "inventories/drill/hosts.yml")
>>> result.outcome, result.failed_step

Runs return a RunResult, drills a DrillResult. Their outcome is one of
OUTCOMES, decided from the play recap and the facts the playbooks publish
with ``ansible.builtin.set_stats``, never from the exit code alone. A failed,
refused, cancelled or unmatched run raises nothing: only invalid input
(ConfigurationError) and a run that could not start (RollbackError) raise.
docs/python-api.md describes every field of the JSON form.

The decide, diagnose and report features live in their own modules
(``decision``, ``diagnosis``, ``report``). :func:`decide`, :func:`diagnose`
and :func:`load_report` import them when called, and raise
FeatureUnavailableError when this installation lacks them.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from . import drill as _drill
from .artifacts import LoadedResult, resolve_keep_runs, rotate_artifacts
from .artifacts import load_result as _load_result
from .errors import ConfigurationError, FeatureUnavailableError
from .paths import default_artifacts_root, find_collection_root
from .procedures import PROCEDURES, procedure_playbook
from .results import DrillResult, RunResult
from .runner import EventCallback, InventoryArg, PreparedRun, execute_run, prepare_run

logger = logging.getLogger(__name__)

OUTCOMES = ("succeeded", "failed", "refused", "no_hosts", "cancelled")

# The issue types of the runbook's decision matrix, in its order.
ISSUE_TYPES = (
    "application-wont-start",
    "database-corruption",
    "security-vulnerability",
    "performance-degradation",
    "template-validation-failures",
    "cache-failures",
    "minor-ui-issues",
)

__all__ = [
    "ISSUE_TYPES",
    "OUTCOMES",
    "RunHandle",
    "as_dict",
    "decide",
    "diagnose",
    "load_report",
    "load_result",
    "run",
    "run_drill",
    "start",
]


def _prepare(
    procedure: str,
    inventory: InventoryArg,
    extravars: Mapping[str, Any] | None,
    *,
    check: bool,
    artifacts_root: str | os.PathLike[str] | None,
    verbosity: int,
    envvars: Mapping[str, str] | None,
) -> PreparedRun:
    label: str | None = procedure
    if procedure in PROCEDURES:
        playbook: str | os.PathLike[str] = procedure_playbook(procedure, find_collection_root())
    elif procedure.endswith((".yml", ".yaml")) or os.sep in procedure:
        playbook, label = procedure, None
    else:
        # Raises ConfigurationError naming the known procedures.
        playbook = procedure_playbook(procedure, find_collection_root())
    return prepare_run(
        playbook,
        inventory,
        extravars,
        procedure=label,
        artifacts_root=artifacts_root,
        check=check,
        verbosity=verbosity,
        envvars=envvars,
    )


def run(
    procedure: str,
    inventory: InventoryArg,
    extravars: Mapping[str, Any] | None = None,
    *,
    check: bool = False,
    on_event: EventCallback | None = None,
    artifacts_root: str | os.PathLike[str] | None = None,
    keep_runs: int | None = None,
    verbosity: int = 0,
    envvars: Mapping[str, str] | None = None,
    cancel_event: threading.Event | None = None,
    force_event: threading.Event | None = None,
) -> RunResult:
    """Run rollback ``procedure`` against ``inventory`` and wait for its result.

    ``procedure`` is a key of PROCEDURES, or the path of a playbook file
    (ending in .yml or .yaml, or containing a path separator), which then
    names the result by its file name without suffix.
    ``inventory`` is an inventory file or folder, a list of them, a
    comma-separated host list (``"web1,"``) or an inventory dict.
    ``extravars`` reach the playbook as extra variables and are visible in
    the process list, except names that look like secrets (such as
    ``promptlib_admin_token``), which go through a private vars file. Pass the
    admin token as ``ADMIN_TOKEN`` in the environment or ``envvars``.
    ``check`` runs in check mode.

    ``on_event`` receives a StepEvent when a task starts and when it
    finishes on a host. Setting ``cancel_event`` lets the task in progress
    finish and stops the run before its next task. Setting ``force_event``
    stops it at once, even in the middle of a task. In the main thread a
    first SIGINT or SIGTERM acts as ``cancel_event`` and a second one as
    ``force_event``. A cancelled run has the outcome ``cancelled``.

    The run writes to its own folder ``<artifacts_root>/<run id>/``; after
    it, the oldest run folders beyond the newest ``keep_runs`` are removed
    (default: PROMPTLIB_ROLLBACK_KEEP_RUNS, else 50; 0 keeps all).

    Raises:
        ConfigurationError: unknown procedure, inventory not found or another
            invalid argument, before anything runs.
        RollbackError: ansible-runner could not start the run.
    """
    keep = resolve_keep_runs(keep_runs)
    prepared = _prepare(
        procedure,
        inventory,
        extravars,
        check=check,
        artifacts_root=artifacts_root,
        verbosity=verbosity,
        envvars=envvars,
    )
    try:
        return execute_run(prepared, on_event=on_event, cancel_event=cancel_event, force_event=force_event)
    finally:
        rotate_artifacts(prepared.artifacts_base, keep)


class RunHandle:
    """A run going on in a background thread: wait for it or cancel it.

    The thread is not a daemon thread, so a program that ends while the run
    goes on waits for the rollback to finish instead of killing it half way.
    """

    def __init__(self, prepared: PreparedRun, keep_runs: int, on_event: EventCallback | None) -> None:
        self.run_id = prepared.run_id
        self.procedure = prepared.procedure
        self.artifacts_dir = str(prepared.run_dir)
        self._prepared = prepared
        self._keep_runs = keep_runs
        self._on_event = on_event
        self._cancel = threading.Event()
        self._force = threading.Event()
        self._finished = threading.Event()
        self._result: RunResult | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=f"promptlib-rollback-{self.run_id}", daemon=False)

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<RunHandle {self.procedure} {self.run_id} {state}>"

    def _start(self) -> None:
        self._thread.start()

    def _work(self) -> None:
        try:
            self._result = execute_run(
                self._prepared, on_event=self._on_event, cancel_event=self._cancel, force_event=self._force
            )
        except BaseException as exc:  # handed to the caller by wait()
            logger.error("Run %s raised %s: %s", self.run_id, type(exc).__name__, exc)
            self._error = exc
        finally:
            rotate_artifacts(self._prepared.artifacts_base, self._keep_runs)
            self._finished.set()

    def cancel(self, *, force: bool = False) -> bool:
        """Request the run to stop; returns False when it had already finished.

        The task in progress finishes on its hosts and the run stops before
        the next task starts, so no task is cut short. With ``force`` the run
        is stopped within about a second (CANCEL_POLL_SECONDS) even in the
        middle of a task, whose process may then go on running on the host.
        The result's outcome is ``cancelled`` unless the run ended first. Call
        :meth:`wait` for the result.
        """
        if self._finished.is_set():
            return False
        if not self._cancel.is_set() or (force and not self._force.is_set()):
            logger.info("Cancel%s requested for run %s", " (forced)" if force else "", self.run_id)
        if force:
            self._force.set()
        self._cancel.set()
        return True

    @property
    def cancel_requested(self) -> bool:
        """True once :meth:`cancel` has been called on a run that had not finished."""
        return self._cancel.is_set()

    def done(self) -> bool:
        """Tell whether the run has finished, whatever its outcome."""
        return self._finished.is_set()

    @property
    def result(self) -> RunResult | None:
        """The result once the run has finished, else None."""
        return self._result if self._finished.is_set() else None

    def wait(self, timeout: float | None = None) -> RunResult:
        """Wait until the run finishes and return its result.

        ``timeout`` is in seconds; None waits as long as the run takes.

        Raises:
            TimeoutError: the run is still going after ``timeout`` seconds.
            RollbackError: ansible-runner could not start the run.
        """
        if not self._finished.wait(timeout):
            raise TimeoutError(f"Run {self.run_id} is still going after {timeout:g}s. Call wait() again or cancel().")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def start(
    procedure: str,
    inventory: InventoryArg,
    extravars: Mapping[str, Any] | None = None,
    *,
    check: bool = False,
    on_event: EventCallback | None = None,
    artifacts_root: str | os.PathLike[str] | None = None,
    keep_runs: int | None = None,
    verbosity: int = 0,
    envvars: Mapping[str, str] | None = None,
) -> RunHandle:
    """Start rollback ``procedure`` in a background thread and return its RunHandle at once.

    The arguments are those of :func:`run`. The arguments are checked, and
    the run id and folder are made, before this function returns, so invalid
    input raises here. ``on_event`` is called from the run's thread. Signals
    do not cancel a background run: call :meth:`RunHandle.cancel`.

    Raises:
        ConfigurationError: unknown procedure, inventory not found or another
            invalid argument, before anything runs.
    """
    keep = resolve_keep_runs(keep_runs)
    prepared = _prepare(
        procedure,
        inventory,
        extravars,
        check=check,
        artifacts_root=artifacts_root,
        verbosity=verbosity,
        envvars=envvars,
    )
    handle = RunHandle(prepared, keep, on_event)
    handle._start()
    logger.debug("Started run %s in the background", handle.run_id)
    return handle


def run_drill(
    scenario: str,
    *,
    keep: bool = False,
    container: str | None = None,
    on_event: EventCallback | None = None,
    artifacts_root: str | os.PathLike[str] | None = None,
    keep_runs: int | None = None,
    rebuild_image: bool = False,
    cancel_event: threading.Event | None = None,
    force_event: threading.Event | None = None,
) -> DrillResult:
    """Drill ``scenario`` (a key of SCENARIOS) in a fresh podman container and return the DrillResult.

    The drill deploys a failing release into the container, runs the
    scenario's procedure and measures the time to recover. The container is
    named ``container`` (default ``promptlib-drill-<scenario>``) and removed
    at the end unless ``keep`` is set. The drill writes to its own folder
    ``<artifacts_root>/drill-<scenario>-<run id>/``, and old folders are
    rotated as in :func:`run`. ``on_event`` receives the step events of the
    setup and the rollback run. ``cancel_event`` and ``force_event`` cancel
    the run in progress as in :func:`run`; a drill cancelled during its setup
    raises DrillError.

    Raises:
        ConfigurationError: unknown scenario or invalid argument.
        DrillError: the image, the container or the setup run failed, so the
            rollback was never tried.
    """
    keep_count = resolve_keep_runs(keep_runs)
    root = Path(artifacts_root).expanduser().resolve() if artifacts_root else default_artifacts_root()
    try:
        return _drill.run_drill(
            scenario,
            keep=keep,
            container=container,
            artifacts_root=root,
            rebuild_image=rebuild_image,
            on_event=on_event,
            cancel_event=cancel_event,
            force_event=force_event,
        )
    finally:
        rotate_artifacts(root, keep_count)


def load_result(run_id: str, *, artifacts_root: str | os.PathLike[str] | None = None) -> LoadedResult:
    """Load the result of an earlier run, or of a drill, from its artifacts folder.

    ``run_id`` is the RunResult's ``run_id`` or a drill folder name. Returns a
    RunResult, or a DrillResult for a drill folder.

    Raises:
        RunNotFoundError: no run with that id, or it did not finish.
    """
    root = Path(artifacts_root).expanduser().resolve() if artifacts_root else default_artifacts_root()
    return _load_result(run_id, root)


def _optional_function(module_name: str, function_name: str, feature: str) -> Callable[..., Any]:
    """Import ``promptlib_rollback.<module_name>`` and return its function ``function_name``.

    Raises:
        FeatureUnavailableError: the module or the function is missing.
    """
    full_name = f"{__package__}.{module_name}"
    try:
        module: ModuleType = importlib.import_module(full_name)
    except ModuleNotFoundError as exc:
        if exc.name != full_name:
            raise
        raise FeatureUnavailableError(
            f"{feature} needs the module {full_name}, which this installation of promptlib-rollback does not "
            "have. Install a release of promptlib-rollback that includes it.",
            module=full_name,
        ) from None
    function: Callable[..., Any] | None = getattr(module, function_name, None)
    if function is None or not callable(function):
        raise FeatureUnavailableError(
            f"{feature} needs {full_name}.{function_name}(), which this installation does not have. "
            "Install a release of promptlib-rollback whose modules match.",
            module=full_name,
        )
    return function


def decide(issue_type: str) -> Any:
    """Return the decision-matrix row for ``issue_type`` (one of ISSUE_TYPES).

    The row gives the severity, the rollback type and playbook, the maximum
    decision time and the authority that may approve. It comes from
    ``promptlib_rollback.decision.decide``.

    Raises:
        ConfigurationError: ``issue_type`` is not one of ISSUE_TYPES.
        FeatureUnavailableError: the decision module is missing.
    """
    if issue_type not in ISSUE_TYPES:
        raise ConfigurationError(f"Unknown issue type {issue_type!r}: choose one of {', '.join(ISSUE_TYPES)}.")
    return _optional_function("decision", "decide", "decide")(issue_type)


def diagnose(
    inventory: InventoryArg,
    *,
    extravars: Mapping[str, Any] | None = None,
    artifacts_root: str | os.PathLike[str] | None = None,
    envvars: Mapping[str, str] | None = None,
) -> Any:
    """Read the decision matrix's signals on the hosts of ``inventory`` and name the issue type found.

    The result carries the evidence for the issue type. It comes from
    ``promptlib_rollback.diagnosis.diagnose``, called with the same arguments.

    Raises:
        FeatureUnavailableError: the diagnose module is missing.
    """
    function = _optional_function("diagnosis", "diagnose", "diagnose")
    return function(inventory, extravars=extravars, artifacts_root=artifacts_root, envvars=envvars)


def load_report(run_id: str, *, artifacts_root: str | os.PathLike[str] | None = None) -> Any:
    """Load the incident report that run ``run_id`` wrote.

    It comes from ``promptlib_rollback.report.load_report``, called with the
    same arguments.

    Raises:
        FeatureUnavailableError: the report module is missing.
    """
    function = _optional_function("report", "load_report", "load_report")
    return function(run_id, artifacts_root=artifacts_root)


def as_dict(value: Any) -> dict[str, Any]:
    """Return the JSON form of a result: its ``to_dict()``, a dataclass's fields, or a mapping.

    Raises:
        TypeError: ``value`` is none of these.
    """
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} has no JSON form: expected to_dict(), a dataclass or a mapping.")
