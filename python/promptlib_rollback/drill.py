"""Drill a rollback procedure in a podman container built from the drill image.

A drill starts a container with systemd as PID 1, deploys a good release and
then a failing one into it (``playbooks/drill-setup.yml``), runs the rollback
procedure against it and measures the time to recover.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .errors import ConfigurationError, DrillError
from .events import StepCallback
from .paths import default_artifacts_root, find_collection_root
from .results import DrillResult, RunResult
from .runner import ADMIN_TOKEN_ENV, EventCallback, new_run_id, resolve_playbook, run_playbook

logger = logging.getLogger(__name__)

DRILL_IMAGE = "localhost/promptlib-drill:latest"
DRILL_HOSTNAME = "promptlib-drill"
CONTAINER_PREFIX = "promptlib-drill-"
INVENTORY_GROUP = "prompt_library"
SETUP_PLAYBOOK = "playbooks/drill-setup.yml"
BUILD_SCRIPT = "molecule/build-image.sh"
CONTAINERS_CONF = "molecule/containers.conf"

SYSTEMD_READY_STATES = frozenset({"running", "degraded"})
# `systemctl is-system-running` states from which boot never reaches running.
# "offline" is not one of them. systemctl reports it right after the container
# starts, before PID 1 accepts bus connections, for seconds on a loaded machine.
SYSTEMD_FAILED_STATES = frozenset({"maintenance", "stopping"})
SYSTEMD_TIMEOUT_SECONDS = 90.0
POLL_INTERVAL_SECONDS = 1.0
PODMAN_COMMAND_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10
OUTPUT_TAIL_LINES = 20
# podman's rule for container names.
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass(frozen=True)
class Scenario:
    """A drill: the fault the setup deploys and the procedure that must recover from it."""

    name: str
    fault: str
    procedure: str
    playbook: str
    description: str
    # Extra vars of the rollback run, such as the approval a procedure requires.
    extravars: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


# Drills approve their own rollback: the container is theirs alone.
def _drill_approval(role: str) -> Mapping[str, str]:
    return MappingProxyType({"rollback_approved_by": "promptlib-rollback drill", "rollback_approver_role": role})


SCENARIOS = MappingProxyType(
    {
        "app-failure": Scenario(
            name="app-failure",
            fault="wont-start",
            procedure="full",
            playbook="playbooks/rollback-full.yml",
            description="The new release does not start, so the full rollback restores the previous release.",
        ),
        "perf-degradation": Scenario(
            name="perf-degradation",
            fault="slow",
            procedure="gradual",
            playbook="playbooks/rollback-gradual.yml",
            description="The new release is slow, so the gradual rollback resets the templates and re-enables features"
            " stage by stage.",
            # Seconds rather than the 15 minutes of a real rollback between stages.
            extravars=MappingProxyType(
                {
                    **_drill_approval("product-manager"),
                    "promptlib_monitor_seconds": 5,
                    "promptlib_reenable_wait_seconds": 5,
                }
            ),
        ),
        "validation-failures": Scenario(
            name="validation-failures",
            fault="fails-validation",
            procedure="feature",
            playbook="playbooks/rollback-feature.yml",
            description="Template validation fails a third of its calls, so the feature rollback disables it and turns"
            " safe mode on.",
            extravars=_drill_approval("backend-lead"),
        ),
        "db-corruption": Scenario(
            name="db-corruption",
            fault="corrupts-data",
            procedure="database",
            playbook="playbooks/rollback-database.yml",
            description="The new release damages its data, so the database rollback restores the pre-deployment"
            " backup.",
            extravars=_drill_approval("database-administrator"),
        ),
    }
)


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ConfigurationError(f"Unknown drill scenario {name!r}: choose one of {known}.") from None


def container_name(scenario: str) -> str:
    """Return a new container name for a drill of ``scenario``.

    The random suffix keeps two drills on a shared machine apart: a fixed name would
    make the second drill replace the first one's container while it runs.
    """
    return f"{CONTAINER_PREFIX}{scenario}-{secrets.token_hex(3)}"


def check_container_name(name: str) -> str:
    """Return ``name`` when podman accepts it as a container name.

    Raises:
        ConfigurationError: the name has characters podman rejects.
    """
    if not CONTAINER_NAME.match(name):
        raise ConfigurationError(
            f"Container name {name!r} is invalid: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit."
        )
    return name


def podman_env(root: Path | None = None) -> dict[str, str]:
    """Return the environment for podman: the inherited one without ``ADMIN_TOKEN``, with ``CONTAINERS_CONF`` set.

    An inherited ``CONTAINERS_CONF`` wins. Otherwise it points at the
    collection's containers.conf, which selects runc and ulimits that work in
    containers without the host's defaults.
    """
    env = dict(os.environ)
    # podman never needs the admin token; leaving it out keeps it out of error reports.
    env.pop("ADMIN_TOKEN", None)
    if not env.get("CONTAINERS_CONF"):
        env["CONTAINERS_CONF"] = str((root or find_collection_root()) / CONTAINERS_CONF)
    return env


def _podman() -> str:
    executable = shutil.which("podman")
    if executable is None:
        raise DrillError("podman was not found on PATH. Install podman to run drills.")
    return executable


def _run_podman(
    args: list[str], env: dict[str, str], *, timeout: float = PODMAN_COMMAND_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    command = [_podman(), *args]
    logger.debug("Running %s", command)
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DrillError(f"`podman {' '.join(args)}` timed out after {timeout:.0f}s.") from exc


def _output_of(completed: subprocess.CompletedProcess[str]) -> str:
    return (completed.stdout.strip() + "\n" + completed.stderr.strip()).strip()


def build_image(root: Path, *, rebuild: bool = False, env: dict[str, str] | None = None) -> None:
    """Run the image build script, which returns at once when the image is current.

    Each output line goes to the log at INFO.
    """
    script = root / BUILD_SCRIPT
    if not script.is_file():
        raise DrillError(f"The drill image build script {script} is missing.")
    build_env = dict(env if env is not None else podman_env(root))
    if rebuild:
        build_env["PROMPTLIB_DRILL_REBUILD"] = "1"
    logger.info("Checking the drill image with %s", script)
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    with subprocess.Popen(
        ["bash", str(script)],
        env=build_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail.append(line)
            logger.info("build-image: %s", line)
        returncode = process.wait()
    if returncode != 0:
        output = "\n".join(tail)
        raise DrillError(f"Building the drill image failed with exit code {returncode}:\n{output}")


def container_exists(name: str, env: dict[str, str] | None = None) -> bool:
    completed = _run_podman(["container", "exists", name], env or podman_env())
    return completed.returncode == 0


def remove_container(name: str, env: dict[str, str] | None = None) -> bool:
    """Stop and remove container ``name``. Returns False when it did not exist.

    Raises:
        DrillError: podman failed to remove an existing container.
    """
    env = env or podman_env()
    if not container_exists(name, env):
        return False
    completed = _run_podman(["rm", "--force", "--time", str(STOP_TIMEOUT_SECONDS), name], env)
    if completed.returncode != 0:
        raise DrillError(f"Removing container {name} failed: {_output_of(completed)}")
    logger.info("Removed container %s", name)
    return True


def _raise_if_stopped(name: str, env: dict[str, str]) -> None:
    """Raise DrillError with the container's last output when it is no longer running."""
    inspect = _run_podman(["container", "inspect", "--format", "{{.State.Status}}", name], env)
    status = inspect.stdout.strip()
    if status and status not in ("running", "created", "configured"):
        logs = _run_podman(["logs", "--tail", str(OUTPUT_TAIL_LINES), name], env)
        raise DrillError(f"Container {name} is {status} instead of running. Its last output:\n{_output_of(logs)}")


def wait_for_systemd(name: str, env: dict[str, str], timeout: float = SYSTEMD_TIMEOUT_SECONDS) -> str:
    """Poll ``systemctl is-system-running`` in the container until boot finishes.

    Returns the final state, ``running`` or ``degraded`` (some unit failed
    but the system is up).

    Raises:
        DrillError: the container stopped, boot failed, or ``timeout`` seconds
            passed; the message contains the last output.
    """
    deadline = time.monotonic() + timeout
    last_output = ""
    while True:
        completed = _run_podman(["exec", name, "systemctl", "is-system-running"], env)
        last_output = _output_of(completed)
        state = completed.stdout.strip()
        if state in SYSTEMD_READY_STATES:
            return state
        if state in SYSTEMD_FAILED_STATES:
            raise DrillError(
                f"systemd in container {name} reports {state!r} instead of booting. Output: {last_output}"
            )
        if completed.returncode != 0 and not state:
            _raise_if_stopped(name, env)
        if time.monotonic() >= deadline:
            raise DrillError(
                f"systemd in container {name} did not reach running or degraded within {timeout:g}s. "
                f"Last output of `systemctl is-system-running`: {last_output or '(none)'}"
            )
        time.sleep(POLL_INTERVAL_SECONDS)


def start_container(
    name: str,
    *,
    image: str = DRILL_IMAGE,
    env: dict[str, str] | None = None,
    timeout: float = SYSTEMD_TIMEOUT_SECONDS,
    publish: Sequence[str] = (),
) -> str:
    """Start a drill container with systemd as PID 1 and wait until it has booted.

    An existing container with the same name is removed first. On a failed
    boot the new container is removed again. Returns the systemd state.
    ``publish`` takes podman's ``--publish`` values, such as ``127.0.0.1::22``.
    """
    env = env or podman_env()
    if remove_container(name, env):
        logger.info("Removed the leftover container %s before starting a new one", name)
    args = [
        "run",
        "--detach",
        "--name",
        name,
        "--hostname",
        DRILL_HOSTNAME,
        "--systemd=always",
        # The drill image is built locally, so never try a registry.
        "--pull=never",
        "--label",
        "promptlib.drill=1",
        *(arg for value in publish for arg in ("--publish", value)),
        image,
        "/sbin/init",
    ]
    completed = _run_podman(args, env)
    if completed.returncode != 0:
        raise DrillError(f"Starting container {name} from {image} failed: {_output_of(completed)}")
    logger.info("Started container %s from %s, waiting for systemd", name, image)
    try:
        state = wait_for_systemd(name, env, timeout)
    except (DrillError, KeyboardInterrupt):
        remove_container(name, env)
        raise
    logger.info("Container %s is up (systemd %s)", name, state)
    return state


def write_inventory(path: Path, name: str) -> Path:
    """Write an inventory with the container as the only ``prompt_library`` host."""
    inventory = {
        "all": {
            "children": {
                INVENTORY_GROUP: {
                    "hosts": {
                        name: {
                            "ansible_connection": "containers.podman.podman",
                            "ansible_python_interpreter": "/usr/bin/python3",
                        }
                    }
                }
            }
        }
    }
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    return path


def _explain(result: RunResult) -> str:
    """Return one sentence on why a run did not succeed."""
    step = result.failed_step
    if step is not None:
        detail = f"{step.describe()} ({step.status})"
        return f"{detail}: {step.message}." if step.message else f"{detail}."
    return result.refused_reason or result.error or ""


def _clean_up_container(name: str, env: dict[str, str], *, keep: bool) -> None:
    """Remove the drill container, or log how to remove it when it is kept.

    Logs a removal failure instead of raising it, so that it never hides the
    drill's own error.
    """
    removal_hint = f"CONTAINERS_CONF={env['CONTAINERS_CONF']} podman rm --force {name}"
    if keep:
        logger.warning("Kept container %s. Remove it with: %s", name, removal_hint)
        return
    try:
        remove_container(name, env)
    except DrillError as exc:
        logger.error("%s Remove it by hand with: %s", exc, removal_hint)


def run_drill(
    scenario: str,
    *,
    keep: bool = False,
    artifacts_root: str | os.PathLike[str] | None = None,
    rebuild_image: bool = False,
    event_callback: StepCallback | None = None,
    on_event: EventCallback | None = None,
    container: str | None = None,
    cancel_event: threading.Event | None = None,
    force_event: threading.Event | None = None,
) -> DrillResult:
    """Run drill ``scenario`` (a key of SCENARIOS) in a fresh container.

    The container is named ``container`` (default ``promptlib-drill-<scenario>-``
    and 6 random hex digits), which must not exist yet, and is removed at the
    end, whatever the outcome, unless ``keep`` is set.
    ``ttr_seconds`` is the rollback run's duration when it succeeded and None
    otherwise. ``event_callback`` receives the steps, and ``on_event`` the
    step events, of both the setup and the rollback run. Setting
    ``cancel_event`` or ``force_event`` cancels the run in progress (see
    :func:`promptlib_rollback.runner.execute_run`), and during setup also
    skips the rollback run.

    Raises:
        ConfigurationError: the scenario is unknown, the collection is not
            found or the named container exists.
        DrillError: the image, the container or the setup run failed, so the
            rollback was never tried. ``DrillError.run`` contains the setup
            result when there is one.
    """
    spec = get_scenario(scenario)
    name = check_container_name(container) if container else container_name(spec.name)
    root = find_collection_root()
    # Check both playbooks before spending time on the image and the container.
    setup_playbook = resolve_playbook(SETUP_PLAYBOOK, root)
    rollback_playbook = resolve_playbook(spec.playbook, root)
    base = Path(artifacts_root).expanduser().resolve() if artifacts_root else default_artifacts_root(root)
    env = podman_env(root)
    # A named container may hold someone's kept drill, so it is never replaced.
    if container and container_exists(name, env):
        raise ConfigurationError(
            f"Container {name} already exists, and a drill never replaces one. Remove it with "
            f"`podman rm -f {name}` if it is no longer needed, or choose another --container name."
        )
    drill_dir = base / f"drill-{spec.name}-{new_run_id()}"
    drill_dir.mkdir(parents=True, mode=0o700)
    # The podman connection plugin calls podman too, so it needs the same settings.
    ansible_env = {"CONTAINERS_CONF": env["CONTAINERS_CONF"]}
    # The drill container is new and only this run talks to it, so a random
    # admin token serves when the caller has not set ADMIN_TOKEN.
    if not os.environ.get(ADMIN_TOKEN_ENV):
        ansible_env[ADMIN_TOKEN_ENV] = secrets.token_urlsafe(24)

    try:
        build_image(root, rebuild=rebuild_image, env=env)
        start_container(name, env=env)
    except DrillError as exc:
        exc.artifacts_dir = exc.artifacts_dir or str(drill_dir)
        raise
    try:
        inventory = write_inventory(drill_dir / "inventory.yml", name)
        setup = run_playbook(
            setup_playbook,
            inventory,
            {"drill_target_fault": spec.fault},
            procedure="drill-setup",
            artifacts_root=drill_dir,
            envvars=ansible_env,
            event_callback=event_callback,
            on_event=on_event,
            cancel_event=cancel_event,
            force_event=force_event,
        )
        if not setup.succeeded:
            raise DrillError(
                f"Drill setup for {spec.name} ended with outcome {setup.outcome}, so the rollback was not run. "
                f"{_explain(setup)} Artifacts: {setup.artifacts_dir}",
                run=setup,
                artifacts_dir=str(drill_dir),
            )
        rollback = run_playbook(
            rollback_playbook,
            inventory,
            {**spec.extravars, "promptlib_export_dir": str(drill_dir / "exports")},
            procedure=spec.procedure,
            artifacts_root=drill_dir,
            envvars=ansible_env,
            event_callback=event_callback,
            on_event=on_event,
            cancel_event=cancel_event,
            force_event=force_event,
        )
    finally:
        _clean_up_container(name, env, keep=keep)

    result = DrillResult(
        scenario=spec.name,
        outcome=rollback.outcome,
        ttr_seconds=rollback.duration_seconds if rollback.succeeded else None,
        rollback=rollback,
        setup=setup,
        container=name,
        artifacts_dir=str(drill_dir),
        container_kept=keep,
    )
    (drill_dir / "drill.json").write_text(result.to_json() + "\n", encoding="utf-8")
    return result
