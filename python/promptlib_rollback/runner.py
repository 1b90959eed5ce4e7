"""Run a playbook through ansible-runner and return a RunResult."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Union

import ansible_runner
from ansible_runner.exceptions import AnsibleRunnerException

from .errors import ConfigurationError, RollbackError
from .events import CANCELED_RUNNER_STATUS, RunEventCollector, StepCallback
from .paths import default_artifacts_root, find_collection_root
from .procedures import procedure_playbook
from .results import RunResult, StepEvent, StepResult, format_utc
from .report import write_report_quietly

logger = logging.getLogger(__name__)

EventCallback = Callable[[StepEvent], None]
InventoryArg = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], Mapping[str, Any]]

ADMIN_TOKEN_ENV = "ADMIN_TOKEN"
RESULT_FILENAME = "result.json"
REDACTED = "<redacted>"
OUTPUT_TAIL_LINES = 15
# How often ansible-runner checks for a cancel request, in seconds. It is
# ansible-runner's pexpect_timeout setting (default 5).
CANCEL_POLL_SECONDS = 1
# Maximum delay between a cancel request and the cancel file the gate reads, in seconds.
CANCEL_WATCH_SECONDS = 0.1
# The cancel gate callback plugin, and the files and variables it reads.
CANCEL_PLUGIN_DIR = Path(__file__).resolve().parent / "ansible_plugins" / "callback"
CANCEL_FILENAME = "cancel-requested"
STOPPED_FILENAME = "cancel-held.json"
CANCEL_FILE_ENV = "PROMPTLIB_ROLLBACK_CANCEL_FILE"
STOPPED_FILE_ENV = "PROMPTLIB_ROLLBACK_STOPPED_FILE"

# Environment variable names whose values must not stay in ansible-runner's
# `command` artifact, which records the whole job environment.
SECRET_ENV_NAME = re.compile(
    r"TOKEN|PASSWORD|PASSWD|PASSPHRASE|SECRET|CREDENTIAL|WEBHOOK|(^|_)API_?KEY$|(^|_)KEY$",
    re.IGNORECASE,
)
# Extra-variable names that look like secrets, such as promptlib_admin_token.
# ansible-runner writes extra vars into the `command` artifact and onto the
# ansible-playbook command line, so these go through a private vars file instead.
SECRET_VAR_NAME = re.compile(r"token|password|passwd|passphrase|secret|credential", re.IGNORECASE)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def new_run_id(now: datetime | None = None) -> str:
    """Return a run id: the UTC start time and 8 random hex digits, e.g. ``20250101T120000Z-1a2b3c4d``."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def resolve_playbook(playbook: str | os.PathLike[str], root: Path) -> Path:
    """Return the absolute path of ``playbook``.

    A relative path is looked up in the current folder first, then in the
    collection root, so ``playbooks/rollback-full.yml`` works from anywhere.
    """
    path = Path(playbook).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = ", ".join(str(candidate) for candidate in candidates)
    raise ConfigurationError(f"Playbook {str(playbook)!r} not found (tried {tried}). Pass the path of a playbook file.")


def _host_list_inventory(text: str) -> dict[str, Any]:
    hosts = [host.strip() for host in text.split(",") if host.strip()]
    return {"all": {"hosts": {host: {} for host in hosts}}}


def resolve_inventory(inventory: InventoryArg) -> str | list[str] | dict[str, Any]:
    """Convert ``inventory`` into a form ansible-runner reads unambiguously.

    Accepts a path (made absolute, because ansible-runner resolves relative
    paths against its private data folder), a list of paths, a
    comma-separated host list such as ``web1,web2`` or ``web1,``, inventory
    content with at least one newline, or an inventory dict.
    """
    if isinstance(inventory, Mapping):
        return dict(inventory)
    if isinstance(inventory, (str, os.PathLike)):
        text = os.fspath(inventory)
        path = Path(text).expanduser()
        if path.exists():
            return str(path.resolve())
        if "\n" in text:
            return text
        if "," in text:
            return _host_list_inventory(text)
        raise ConfigurationError(
            f"Inventory {text!r} not found. Pass an inventory file or folder, "
            "a comma-separated host list such as 'web1,', or an inventory dict."
        )
    paths = [Path(os.fspath(item)).expanduser() for item in inventory]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise ConfigurationError(f"Inventory {', '.join(missing)} not found. Pass existing inventory files or folders.")
    if not paths:
        raise ConfigurationError("The inventory list is empty. Pass at least one inventory file or folder.")
    return [str(path.resolve()) for path in paths]


def build_envvars(root: Path, envvars: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for ansible-playbook on top of the inherited one.

    It points Ansible at the collection's ansible.cfg and collections path so
    that runs work from any folder. It puts the ansible-playbook installed
    beside this Python first on PATH. It forwards ``ADMIN_TOKEN`` when set, so
    the token never has to appear on a command line. Values in ``envvars`` win.
    """
    env = {
        "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(root / ".collections"),
    }
    bin_dir = Path(sys.executable).parent
    if (bin_dir / "ansible-playbook").is_file():
        env["PATH"] = os.pathsep.join([str(bin_dir), os.environ.get("PATH", os.defpath)])
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if token:
        env[ADMIN_TOKEN_ENV] = token
    env.update({str(key): str(value) for key, value in (envvars or {}).items()})
    return env


def redact_command_artifact(run_dir: Path) -> None:
    """Replace secret values in the environment that ansible-runner records in ``command``."""
    command_file = run_dir / "command"
    try:
        record = json.loads(command_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        logger.warning("Removing %s because it cannot be read to redact secrets: %s", command_file, exc)
        command_file.unlink(missing_ok=True)
        return
    env = record.get("env") or {}
    secret_names = [name for name in env if SECRET_ENV_NAME.search(name)]
    if not secret_names:
        return
    for name in secret_names:
        env[name] = REDACTED
    command_file.write_text(json.dumps(record), encoding="utf-8")


def split_secret_extravars(extravars: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split extra vars into (plain, secret), by whether the name matches SECRET_VAR_NAME."""
    plain: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for name, value in (extravars or {}).items():
        (secret if SECRET_VAR_NAME.search(str(name)) else plain)[name] = value
    return plain, secret


@contextlib.contextmanager
def secret_vars_file(variables: Mapping[str, Any]) -> Iterator[str | None]:
    """Write ``variables`` to a vars file readable by this user only, outside the artifacts, and remove it afterwards.

    Yields the ansible-playbook option that loads the file (``-e @PATH``),
    or None when there is nothing to write.
    """
    if not variables:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="promptlib-rollback-vars-")
    try:
        path = Path(folder) / "secret-vars.json"
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
            json.dump(dict(variables), handle)
        yield f"-e {shlex.quote('@' + str(path))}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_output_tail(run_dir: Path, lines: int = OUTPUT_TAIL_LINES) -> str:
    """Return the last lines of ansible-playbook's output without colour codes."""
    try:
        text = (run_dir / "stdout").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    clean = ANSI_ESCAPE.sub("", text).replace("\r", "")
    non_blank = [line for line in clean.splitlines() if line.strip()]
    return "\n".join(non_blank[-lines:])


class Cancellation:
    """The cancel state of one run and the files that tell the cancel gate about it.

    A cancel (``cancel_event``) pauses the run before its next task. The
    ``promptlib_rollback_cancel`` callback plugin sees ``cancel_file``, writes
    the paused task to ``stopped_file`` and waits, and then ansible-runner
    kills ansible-playbook. A forced cancel (``force_event``) kills it at
    once, even in the middle of a task.
    """

    def __init__(
        self,
        run_dir: Path,
        cancel_event: threading.Event | None = None,
        force_event: threading.Event | None = None,
    ) -> None:
        self.cancel_event = cancel_event or threading.Event()
        self.force_event = force_event or threading.Event()
        self.cancel_file = run_dir / CANCEL_FILENAME
        self.stopped_file = run_dir / STOPPED_FILENAME

    def envvars(self, inherited: Mapping[str, str]) -> dict[str, str]:
        """Return the variables that load the cancel gate into ansible-playbook and point it at the files."""
        plugin_paths = [str(CANCEL_PLUGIN_DIR)]
        if inherited.get("ANSIBLE_CALLBACK_PLUGINS"):
            plugin_paths.append(inherited["ANSIBLE_CALLBACK_PLUGINS"])
        return {
            "ANSIBLE_CALLBACK_PLUGINS": os.pathsep.join(plugin_paths),
            CANCEL_FILE_ENV: str(self.cancel_file),
            STOPPED_FILE_ENV: str(self.stopped_file),
        }

    def should_stop(self) -> bool:
        """Tell ansible-runner whether to kill ansible-playbook now; it calls this about every second."""
        if self.force_event.is_set():
            return True
        if not self.cancel_event.is_set():
            return False
        self._write_cancel_file()
        return self.stopped_file.exists()

    def _write_cancel_file(self) -> None:
        if not self.cancel_file.exists():
            self.cancel_file.touch()

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Write the cancel file within CANCEL_WATCH_SECONDS of a cancel request while the block runs.

        ansible-runner polls :meth:`should_stop` only about every second, and
        a task that ends in that second would otherwise let the next one start.
        """
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                if self.cancel_event.wait(CANCEL_WATCH_SECONDS):
                    self._write_cancel_file()
                    return

        watcher = threading.Thread(target=watch, name="promptlib-rollback-cancel-watch", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()

    def held_task(self) -> tuple[str, str | None] | None:
        """Return the task and role before which the cancel gate paused the run, or None."""
        try:
            record = json.loads(self.stopped_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return str(record.get("task", "")), record.get("role") or None


@contextlib.contextmanager
def _cancel_on_signals(cancellation: Cancellation) -> Iterator[list[int]]:
    """Make SIGINT and SIGTERM cancel the run while the block runs.

    The first signal cancels the run before its next task, a second one
    forces it to stop at once. Yields the list that receives the number of
    each signal caught. Outside the main thread no handler can be installed,
    so signals keep their default effect there. The previous handlers come
    back afterwards, which also undoes the handlers ansible-runner 2.4 would
    otherwise leave behind.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def request_cancel(number: int, frame: Any) -> None:
        caught.append(number)
        if cancellation.cancel_event.is_set():
            cancellation.force_event.set()
        cancellation.cancel_event.set()

    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in saved:
        signal.signal(number, request_cancel)
    try:
        yield caught
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


@dataclass
class PreparedRun:
    """A checked run request with its run id and artifacts folder, not started yet."""

    run_id: str
    procedure: str
    playbook: Path
    inventory: str | list[str] | dict[str, Any]
    artifacts_base: Path
    run_dir: Path
    check: bool = False
    verbosity: int = 0
    extravars: dict[str, Any] | None = field(default=None, repr=False)
    envvars: dict[str, str] = field(default_factory=dict, repr=False)


def prepare_run(
    playbook: str | os.PathLike[str],
    inventory: InventoryArg,
    extravars: Mapping[str, Any] | None = None,
    *,
    procedure: str | None = None,
    artifacts_root: str | os.PathLike[str] | None = None,
    check: bool = False,
    verbosity: int = 0,
    envvars: Mapping[str, str] | None = None,
) -> PreparedRun:
    """Check a run request and create its artifacts folder, without starting it.

    Raises:
        ConfigurationError: the playbook, inventory or collection is not found.
    """
    root = find_collection_root()
    playbook_path = resolve_playbook(playbook, root)
    inventory_arg = resolve_inventory(inventory)
    artifacts_base = Path(artifacts_root).expanduser().resolve() if artifacts_root else default_artifacts_root(root)
    run_id = new_run_id()
    run_dir = artifacts_base / run_id
    try:
        run_dir.mkdir(parents=True, mode=0o700)
    except OSError as exc:
        raise ConfigurationError(
            f"The artifacts folder {run_dir} cannot be created: {exc}. "
            "Pass a writable folder as the artifacts root."
        ) from exc
    return PreparedRun(
        run_id=run_id,
        procedure=procedure or playbook_path.stem,
        playbook=playbook_path,
        inventory=inventory_arg,
        artifacts_base=artifacts_base,
        run_dir=run_dir,
        check=check,
        verbosity=verbosity,
        extravars=dict(extravars) if extravars else None,
        envvars=build_envvars(root, envvars),
    )


class StepEventAdapter:
    """Turn the collector's start and step callbacks into StepEvents for ``on_event``.

    ``event_callback`` keeps receiving the bare StepResult of each finished step.
    """

    def __init__(
        self,
        prepared: PreparedRun,
        on_event: EventCallback | None,
        event_callback: StepCallback | None,
    ) -> None:
        self._prepared = prepared
        self._on_event = on_event
        self._event_callback = event_callback
        self._clock_start = time.monotonic()

    def started(self, host: str, role: str | None, task: str) -> None:
        if self._on_event is not None:
            self._on_event(self._event("step_started", host, role, task, None))

    def finished(self, step: StepResult) -> None:
        if self._on_event is not None:
            try:
                self._on_event(self._event("step_finished", step.host, step.role, step.task, step))
            except Exception:  # a broken display must not abort the rollback
                logger.exception("The on_event callback failed on %s, and the run goes on.", step.describe())
        if self._event_callback is not None:
            self._event_callback(step)

    def _event(self, kind: str, host: str, role: str | None, task: str, step: StepResult | None) -> StepEvent:
        return StepEvent(
            kind=kind,
            run_id=self._prepared.run_id,
            procedure=self._prepared.procedure,
            host=host,
            role=role,
            task=task,
            elapsed_seconds=round(time.monotonic() - self._clock_start, 3),
            step=step,
        )


def _write_runner_settings(run_dir: Path) -> None:
    """Write ansible-runner's settings file, which sets how often it checks for a cancel request.

    NOTE: ansible-runner 2.4 drops the ``settings`` argument of run() when
    ``env/settings`` is missing, which it always is with suppress_env_files,
    so the file is written here. It contains no secret.
    """
    env_dir = run_dir / "env"
    env_dir.mkdir(mode=0o700, exist_ok=True)
    (env_dir / "settings").write_text(json.dumps({"pexpect_timeout": CANCEL_POLL_SECONDS}) + "\n", encoding="utf-8")


def execute_run(
    prepared: PreparedRun,
    *,
    on_event: EventCallback | None = None,
    event_callback: StepCallback | None = None,
    cancel_event: threading.Event | None = None,
    force_event: threading.Event | None = None,
) -> RunResult:
    """Run a prepared run to its end, or until it is cancelled, and return its RunResult.

    ``on_event`` receives a StepEvent when a task starts and when it
    finishes on a host, and ``event_callback`` the StepResult of each
    finished task. Both are called from the thread that runs this function,
    and an exception they raise is logged and does not stop the run.

    Setting ``cancel_event`` lets the task in progress finish and stops the
    run before the next task starts. Setting ``force_event`` kills
    ansible-playbook within about CANCEL_POLL_SECONDS, even in the middle of
    a task, whose process may then go on running on the host. Either way the
    outcome is ``cancelled``, unless the run ended first. In the main thread,
    a first SIGINT or SIGTERM sets ``cancel_event`` and a second one
    ``force_event``.

    Raises:
        RollbackError: ansible-runner could not start the run.
    """
    cancellation = Cancellation(prepared.run_dir, cancel_event, force_event)
    run_dir = prepared.run_dir
    adapter = StepEventAdapter(prepared, on_event, event_callback)
    collector = RunEventCollector(adapter.finished, adapter.started)

    def redact_when_running(status_data: Mapping[str, Any], runner_config: Any = None) -> None:
        # ansible-runner writes the `command` file just before the "running"
        # status, so redacting here keeps the secret window short.
        if status_data.get("status") == "running":
            redact_command_artifact(run_dir)

    logger.info("Starting %s run %s: %s", prepared.procedure, prepared.run_id, prepared.playbook)
    started_at = datetime.now(timezone.utc)
    clock_start = time.monotonic()
    if cancellation.cancel_event.is_set() or cancellation.force_event.is_set():
        logger.info("Run %s was cancelled before it started", prepared.run_id)
        return _finish(prepared, collector, cancellation, started_at, clock_start, rc=None,
                       runner_status=CANCELED_RUNNER_STATUS)

    # ansible-runner starts ansible-playbook with os.environ updated by envvars.
    inherited = {**os.environ, **prepared.envvars}
    envvars = {**prepared.envvars, **cancellation.envvars(inherited)}
    _write_runner_settings(run_dir)
    plain_extravars, secret_extravars = split_secret_extravars(prepared.extravars)
    try:
        with _cancel_on_signals(cancellation) as caught, cancellation.watching(), \
                secret_vars_file(secret_extravars) as secret_vars_option:
            cmdline = [option for option in ("--check" if prepared.check else None, secret_vars_option) if option]
            runner = ansible_runner.run(
                private_data_dir=str(run_dir),
                artifact_dir=str(prepared.artifacts_base),
                ident=prepared.run_id,
                playbook=str(prepared.playbook),
                inventory=prepared.inventory,
                # The run id names this run in the host's rollback lock too.
                extravars={**plain_extravars, "promptlib_run_id": prepared.run_id},
                envvars=envvars,
                cmdline=" ".join(cmdline) or None,
                verbosity=prepared.verbosity or None,
                quiet=True,
                # Keep envvars (which may carry ADMIN_TOKEN) out of <run_dir>/env/.
                suppress_env_files=True,
                event_handler=collector.handle,
                status_handler=redact_when_running,
                cancel_callback=cancellation.should_stop,
            )
    except (AnsibleRunnerException, ValueError, OSError) as exc:
        raise RollbackError(
            f"ansible-runner could not run {prepared.playbook}: {exc}. Artifacts: {run_dir}"
        ) from exc
    finally:
        redact_command_artifact(run_dir)
    for number in caught:
        logger.warning("Run %s: %s received, cancelling the run", prepared.run_id, signal.Signals(number).name)
    return _finish(prepared, collector, cancellation, started_at, clock_start, rc=runner.rc,
                   runner_status=runner.status)


def no_hosts_message(prepared: PreparedRun, pattern: str | None) -> str:
    """Name the inventory and host pattern that matched no host, and the ways to fix that."""
    pattern = pattern or (prepared.extravars or {}).get("rollback_target") or "prompt_library"
    inventory = prepared.inventory
    if isinstance(inventory, list):
        inventory = ", ".join(inventory)
    elif not isinstance(inventory, str):
        inventory = "given as data"
    return (f"No host in the inventory {inventory} matched the host pattern {pattern!r}, so nothing ran. "
            "Put the hosts in the group prompt_library of that inventory, pass another inventory with -i, "
            "or set -e rollback_target=PATTERN to a group or host the inventory has.")


def _finish(
    prepared: PreparedRun,
    collector: RunEventCollector,
    cancellation: Cancellation,
    started_at: datetime,
    clock_start: float,
    *,
    rc: int | None,
    runner_status: str | None,
) -> RunResult:
    """Build the RunResult of a run that ended, write it to result.json and return it."""
    duration = time.monotonic() - clock_start
    ended_at = datetime.now(timezone.utc)
    decision = collector.outcome(rc=rc, runner_status=runner_status)
    error = decision.error
    if decision.outcome == "no_hosts" and not error:
        error = no_hosts_message(prepared, collector.unmatched_pattern)
    if collector.stats is None and decision.outcome == "failed":
        tail = read_output_tail(prepared.run_dir)
        if tail:
            error = f"{error}\n{tail}"
    steps = list(collector.steps)
    cancelled_step = None
    if decision.outcome == "cancelled":
        stopped = collector.unfinished_steps(ended_at)
        held = cancellation.held_task()
        if not stopped and held is not None:
            stopped = collector.held_steps(held[0], held[1], ended_at)
        steps.extend(stopped)
        cancelled_step = stopped[0] if stopped else None

    result = RunResult(
        run_id=prepared.run_id,
        procedure=prepared.procedure,
        outcome=decision.outcome,
        started_at=format_utc(started_at),
        ended_at=format_utc(ended_at),
        duration_seconds=round(duration, 3),
        steps=steps,
        stats=collector.summary_stats(),
        facts=collector.facts,
        failed_step=decision.failed_step,
        refused_reason=decision.refused_reason,
        artifacts_dir=str(prepared.run_dir),
        rc=rc,
        runner_status=runner_status,
        error=error,
        check_mode=prepared.check,
        cancelled_step=cancelled_step,
        warnings=list(collector.warnings),
    )
    (prepared.run_dir / RESULT_FILENAME).write_text(result.to_json() + "\n", encoding="utf-8")
    write_report_quietly(result)
    logger.info("Finished %s run %s: %s in %.1fs", prepared.procedure, prepared.run_id, result.outcome, duration)
    return result


def run_playbook(
    playbook: str | os.PathLike[str],
    inventory: InventoryArg,
    extravars: Mapping[str, Any] | None = None,
    *,
    procedure: str | None = None,
    artifacts_root: str | os.PathLike[str] | None = None,
    check: bool = False,
    verbosity: int = 0,
    envvars: Mapping[str, str] | None = None,
    event_callback: StepCallback | None = None,
    on_event: EventCallback | None = None,
    cancel_event: threading.Event | None = None,
    force_event: threading.Event | None = None,
) -> RunResult:
    """Run ``playbook`` against ``inventory`` and return its RunResult.

    Each run writes ansible-runner's artifacts and ``result.json`` to
    ``<artifacts_root>/<run_id>/``. ``artifacts_root`` defaults to
    :func:`promptlib_rollback.paths.default_artifacts_root`. ``procedure``
    (default: the playbook's file name without suffix) only labels the
    result. ``event_callback`` receives each StepResult as its event arrives,
    and ``on_event`` a StepEvent when each task starts and finishes on a
    host. Setting ``cancel_event`` or ``force_event`` cancels the run (see
    :func:`execute_run`).

    ``extravars`` reach ansible-playbook as ``-e`` JSON and are not stored in
    the result, but they do appear in the process list and in the run's
    ``command`` artifact. The exception are names that look like secrets
    (SECRET_VAR_NAME, e.g. ``promptlib_admin_token``): those go through a vars
    file readable only by this user, removed when the run ends. Passing the
    admin token as ``ADMIN_TOKEN`` in the environment or ``envvars`` is simpler.

    Raises:
        ConfigurationError: the playbook, inventory or collection is not found.
        RollbackError: ansible-runner could not start the run.
    """
    prepared = prepare_run(
        playbook,
        inventory,
        extravars,
        procedure=procedure,
        artifacts_root=artifacts_root,
        check=check,
        verbosity=verbosity,
        envvars=envvars,
    )
    return execute_run(
        prepared,
        on_event=on_event,
        event_callback=event_callback,
        cancel_event=cancel_event,
        force_event=force_event,
    )


def run_procedure(
    procedure: str,
    inventory: InventoryArg,
    extravars: Mapping[str, Any] | None = None,
    **options: Any,
) -> RunResult:
    """Run the playbook of a named procedure (see ``procedures.PROCEDURES``).

    ``options`` are the keyword arguments of :func:`run_playbook`.
    """
    playbook = procedure_playbook(procedure, find_collection_root())
    return run_playbook(playbook, inventory, extravars, procedure=procedure, **options)
