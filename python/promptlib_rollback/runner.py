"""Run a playbook through ansible-runner and return a RunResult."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

import ansible_runner
from ansible_runner.exceptions import AnsibleRunnerException

from .errors import ConfigurationError, RollbackError
from .events import RunEventCollector, StepCallback
from .paths import default_artifacts_root, find_collection_root
from .procedures import procedure_playbook
from .report import write_report_quietly
from .results import RunResult, format_utc

logger = logging.getLogger(__name__)

InventoryArg = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], Mapping[str, Any]]

RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
ADMIN_TOKEN_ENV = "ADMIN_TOKEN"
RESULT_FILENAME = "result.json"
REDACTED = "<redacted>"
OUTPUT_TAIL_LINES = 15

# Environment variable names whose values must not stay in ansible-runner's
# `command` artifact, which records the whole job environment.
SECRET_ENV_NAME = re.compile(
    r"TOKEN|PASSWORD|PASSWD|PASSPHRASE|SECRET|CREDENTIAL|WEBHOOK|(^|_)API_?KEY$|(^|_)KEY$",
    re.IGNORECASE,
)
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


def read_output_tail(run_dir: Path, lines: int = OUTPUT_TAIL_LINES) -> str:
    """Return the last lines of ansible-playbook's output without colour codes."""
    try:
        text = (run_dir / "stdout").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    clean = ANSI_ESCAPE.sub("", text).replace("\r", "")
    non_blank = [line for line in clean.splitlines() if line.strip()]
    return "\n".join(non_blank[-lines:])


@contextlib.contextmanager
def _restored_signal_handlers() -> Iterator[None]:
    """Restore the SIGINT and SIGTERM handlers that ansible-runner replaces.

    ansible-runner 2.4 installs handlers that cancel the run and leaves them
    in place afterwards, which would swallow Ctrl-C between runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


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
) -> RunResult:
    """Run ``playbook`` against ``inventory`` and return its RunResult.

    Each run writes ansible-runner's artifacts and ``result.json`` to
    ``<artifacts_root>/<run_id>/``. ``artifacts_root`` defaults to
    :func:`promptlib_rollback.paths.default_artifacts_root`. ``procedure``
    (default: the playbook's file name without suffix) only labels the
    result. ``event_callback`` receives each StepResult as its event arrives.

    ``extravars`` reach ansible-playbook as ``-e`` JSON and are not stored in
    the result, but they do appear in the process list, so pass secrets
    through ``envvars`` instead.

    Raises:
        ConfigurationError: the playbook, inventory or collection is not found.
        RollbackError: ansible-runner could not start the run.
    """
    root = find_collection_root()
    playbook_path = resolve_playbook(playbook, root)
    inventory_arg = resolve_inventory(inventory)
    artifacts_base = Path(artifacts_root).expanduser().resolve() if artifacts_root else default_artifacts_root(root)
    label = procedure or playbook_path.stem

    run_id = new_run_id()
    run_dir = artifacts_base / run_id
    run_dir.mkdir(parents=True, mode=0o700)
    collector = RunEventCollector(event_callback)

    def redact_when_running(status_data: Mapping[str, Any], runner_config: Any = None) -> None:
        # ansible-runner writes the `command` file just before the "running"
        # status, so redacting here keeps the secret window short.
        if status_data.get("status") == "running":
            redact_command_artifact(run_dir)

    logger.info("Starting %s run %s: %s", label, run_id, playbook_path)
    started_at = datetime.now(timezone.utc)
    clock_start = time.monotonic()
    try:
        with _restored_signal_handlers():
            runner = ansible_runner.run(
                private_data_dir=str(run_dir),
                artifact_dir=str(artifacts_base),
                ident=run_id,
                playbook=str(playbook_path),
                inventory=inventory_arg,
                extravars=dict(extravars) if extravars else None,
                envvars=build_envvars(root, envvars),
                cmdline="--check" if check else None,
                verbosity=verbosity or None,
                quiet=True,
                # Keep envvars (which may carry ADMIN_TOKEN) out of <run_dir>/env/.
                suppress_env_files=True,
                event_handler=collector.handle,
                status_handler=redact_when_running,
            )
    except (AnsibleRunnerException, ValueError, OSError) as exc:
        raise RollbackError(f"ansible-runner could not run {playbook_path}: {exc}. Artifacts: {run_dir}") from exc
    finally:
        redact_command_artifact(run_dir)
    duration = time.monotonic() - clock_start
    ended_at = datetime.now(timezone.utc)

    decision = collector.outcome(rc=runner.rc, runner_status=runner.status)
    error = decision.error
    if collector.stats is None and decision.outcome == "failed":
        tail = read_output_tail(run_dir)
        if tail:
            error = f"{error}\n{tail}"

    result = RunResult(
        run_id=run_id,
        procedure=label,
        outcome=decision.outcome,
        started_at=format_utc(started_at),
        ended_at=format_utc(ended_at),
        duration_seconds=round(duration, 3),
        steps=collector.steps,
        stats=collector.summary_stats(),
        facts=collector.facts,
        failed_step=decision.failed_step,
        refused_reason=decision.refused_reason,
        artifacts_dir=str(run_dir),
        rc=runner.rc,
        runner_status=runner.status,
        error=error,
    )
    (run_dir / RESULT_FILENAME).write_text(result.to_json() + "\n", encoding="utf-8")
    write_report_quietly(result)
    logger.info("Finished %s run %s: %s in %.1fs", label, run_id, result.outcome, duration)
    return result


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
