"""Drill a rollback procedure in a podman container built from the drill image.

A drill starts a container with systemd as PID 1, deploys a good release and
then a failing one into it (``playbooks/drill-setup.yml``), runs the rollback
procedure against it and measures the time to recover.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .drill_ssh import SshAccess, enable_ssh, image_has_sshd
from .errors import ConfigurationError, DrillError
from .events import StepCallback
from .paths import default_artifacts_root, find_collection_root
from .results import DrillResult, RunResult
from .runner import ADMIN_TOKEN_ENV, new_run_id, resolve_playbook, run_playbook

logger = logging.getLogger(__name__)

DRILL_IMAGE = "localhost/promptlib-drill:latest"
# Overrides DRILL_IMAGE, for example to try a changed build script under another tag.
DRILL_IMAGE_ENV = "PROMPTLIB_DRILL_IMAGE"
DRILL_HOSTNAME = "promptlib-drill"
CONTAINER_PREFIX = "promptlib-drill-"
INVENTORY_GROUP = "prompt_library"
SETUP_PLAYBOOK = "playbooks/drill-setup.yml"
BUILD_SCRIPT = "molecule/build-image.sh"
CONTAINERS_CONF = "molecule/containers.conf"

SYSTEMD_READY_STATES = frozenset({"running", "degraded"})
# `systemctl is-system-running` states from which boot never reaches running.
SYSTEMD_FAILED_STATES = frozenset({"maintenance", "stopping", "offline"})
SYSTEMD_TIMEOUT_SECONDS = 90.0
POLL_INTERVAL_SECONDS = 1.0
PODMAN_COMMAND_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10
OUTPUT_TAIL_LINES = 20
CONNECTIONS = ("auto", "ssh", "podman")
PODMAN_CONNECTION = "containers.podman.podman"


@dataclass(frozen=True)
class Scenario:
    """A drill: the fault the setup deploys and the procedure that must recover from it."""

    name: str
    fault: str
    procedure: str
    playbook: str
    description: str


SCENARIOS = MappingProxyType(
    {
        "app-failure": Scenario(
            name="app-failure",
            fault="wont-start",
            procedure="full",
            playbook="playbooks/rollback-full.yml",
            description="The new release does not start, so the full rollback restores the previous release.",
        ),
    }
)


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ConfigurationError(f"Unknown drill scenario {name!r}: choose one of {known}.") from None


def drill_image() -> str:
    """Return the drill image: $PROMPTLIB_DRILL_IMAGE when set, else DRILL_IMAGE."""
    return os.environ.get(DRILL_IMAGE_ENV) or DRILL_IMAGE


def container_name(scenario: str) -> str:
    return f"{CONTAINER_PREFIX}{scenario}"


def podman_env(root: Path | None = None) -> dict[str, str]:
    """Return the environment for podman: the inherited one with ``CONTAINERS_CONF`` set.

    An inherited ``CONTAINERS_CONF`` wins. Otherwise it points at the
    collection's containers.conf, which selects runc and ulimits that work in
    containers without the host's defaults.
    """
    env = dict(os.environ)
    if not env.get("CONTAINERS_CONF"):
        env["CONTAINERS_CONF"] = str((root or find_collection_root()) / CONTAINERS_CONF)
    return env


def _podman() -> str:
    executable = shutil.which("podman")
    if executable is None:
        raise DrillError("podman was not found on PATH. Install podman to run drills.")
    return executable


def _run_podman(
    args: list[str],
    env: dict[str, str],
    *,
    timeout: float = PODMAN_COMMAND_TIMEOUT_SECONDS,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    command = [_podman(), *args]
    logger.debug("Running %s", command)
    try:
        return subprocess.run(
            command, env=env, input=input_text, capture_output=True, text=True, timeout=timeout, check=False
        )
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
    image: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = SYSTEMD_TIMEOUT_SECONDS,
    publish_ssh: bool = False,
) -> str:
    """Start a drill container with systemd as PID 1 and wait until it has booted.

    ``image`` defaults to :func:`drill_image`. With ``publish_ssh``, the
    container's port 22 is published on a free port of 127.0.0.1 only. An
    existing container with the same name is removed first. On a failed boot
    the new container is removed again. Returns the systemd state.
    """
    env = env or podman_env()
    image = image or drill_image()
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
    ]
    if publish_ssh:
        args += ["--publish", "127.0.0.1::22"]
    args += [image, "/sbin/init"]
    completed = _run_podman(args, env)
    if completed.returncode != 0:
        raise DrillError(f"Starting container {name} from {image} failed: {_output_of(completed)}")
    logger.info("Started container %s from %s, waiting for systemd", name, image)
    try:
        state = wait_for_systemd(name, env, timeout)
    except DrillError:
        remove_container(name, env)
        raise
    logger.info("Container %s is up (systemd %s)", name, state)
    return state


def host_vars(ssh: SshAccess | None) -> dict[str, Any]:
    """Return the inventory variables of a drill container: over ``ssh``, or the podman connection."""
    variables: dict[str, Any] = ssh.host_vars() if ssh else {"ansible_connection": PODMAN_CONNECTION}
    variables["ansible_python_interpreter"] = "/usr/bin/python3"
    return variables


def write_inventory(path: Path, name: str, ssh: SshAccess | None = None) -> Path:
    """Write an inventory with the container as the only ``prompt_library`` host.

    Ansible reaches it over ``ssh`` when given, else through podman.
    """
    return write_fleet_inventory(path, {name: ssh})


def write_fleet_inventory(path: Path, hosts: Mapping[str, SshAccess | None]) -> Path:
    """Write an inventory whose ``prompt_library`` group is the containers in ``hosts``.

    ``hosts`` maps each container name to its SSH access, or to None for the
    podman connection.
    """
    inventory = {
        "all": {"children": {INVENTORY_GROUP: {"hosts": {name: host_vars(ssh) for name, ssh in hosts.items()}}}}
    }
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    return path


def connect(name: str, connection: str, directory: Path, env: dict[str, str]) -> SshAccess | None:
    """Decide how Ansible reaches container ``name`` and set up SSH when it is used.

    ``connection`` is ``ssh``, ``podman``, or ``auto`` (SSH when the image has
    an OpenSSH server, which needs the container started with ``publish_ssh``).
    Returns the SSH access, or None for the podman connection.
    """
    if connection not in CONNECTIONS:
        raise ConfigurationError(f"Unknown drill connection {connection!r}: choose one of {', '.join(CONNECTIONS)}.")
    if connection == "podman":
        return None
    if connection == "auto" and not image_has_sshd(name, env, _run_podman):
        logger.info("The drill image has no OpenSSH server, so Ansible reaches %s through podman", name)
        return None
    return enable_ssh(name, directory, env, _run_podman)


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
    connection: str = "auto",
) -> DrillResult:
    """Run drill ``scenario`` (a key of SCENARIOS) in a fresh container.

    Ansible reaches the container as ``connection`` says: ``ssh`` (a key and
    known_hosts file made for this drill, port 22 published on 127.0.0.1),
    ``podman``, or ``auto``, which uses SSH when the image has an OpenSSH
    server. The container is removed at the end, whatever the outcome, unless
    ``keep`` is set. ``ttr_seconds`` is the rollback run's duration when it
    succeeded and None otherwise. ``event_callback`` receives the steps of
    both the setup and the rollback run.

    Raises:
        ConfigurationError: the scenario is unknown or the collection is not found.
        DrillError: the image, the container or the setup run failed, so the
            rollback was never tried. ``DrillError.run`` contains the setup
            result when there is one.
    """
    spec = get_scenario(scenario)
    if connection not in CONNECTIONS:
        raise ConfigurationError(f"Unknown drill connection {connection!r}: choose one of {', '.join(CONNECTIONS)}.")
    root = find_collection_root()
    # Check both playbooks before spending time on the image and the container.
    setup_playbook = resolve_playbook(SETUP_PLAYBOOK, root)
    rollback_playbook = resolve_playbook(spec.playbook, root)
    base = Path(artifacts_root).expanduser().resolve() if artifacts_root else default_artifacts_root(root)
    drill_dir = base / f"drill-{spec.name}-{new_run_id()}"
    drill_dir.mkdir(parents=True, mode=0o700)
    env = podman_env(root)
    # The podman connection plugin calls podman too, so it needs the same settings.
    ansible_env = {"CONTAINERS_CONF": env["CONTAINERS_CONF"]}
    # The drill container is new and only this run talks to it, so a random
    # admin token serves when the caller has not set ADMIN_TOKEN.
    if not os.environ.get(ADMIN_TOKEN_ENV):
        ansible_env[ADMIN_TOKEN_ENV] = secrets.token_urlsafe(24)

    name = container_name(spec.name)
    try:
        build_image(root, rebuild=rebuild_image, env=env)
        start_container(name, env=env, publish_ssh=connection != "podman")
    except DrillError as exc:
        exc.artifacts_dir = exc.artifacts_dir or str(drill_dir)
        raise
    try:
        ssh = connect(name, connection, drill_dir / "ssh", env)
        inventory = write_inventory(drill_dir / "inventory.yml", name, ssh)
        setup = run_playbook(
            setup_playbook,
            inventory,
            {"drill_target_fault": spec.fault},
            procedure="drill-setup",
            artifacts_root=drill_dir,
            envvars=ansible_env,
            event_callback=event_callback,
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
            procedure=spec.procedure,
            artifacts_root=drill_dir,
            envvars=ansible_env,
            event_callback=event_callback,
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
