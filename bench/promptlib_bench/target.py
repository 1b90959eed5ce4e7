"""Drill containers that the benchmarks run against, and the probes inside them."""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from promptlib_rollback.drill import INVENTORY_GROUP, podman_env, remove_container, start_container, write_inventory
from promptlib_rollback.errors import DrillError
from promptlib_rollback.results import RunResult
from promptlib_rollback.runner import run_playbook

from . import ssh

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent.parent
ROOT = BENCH_DIR.parent
# Folder of the benchmark's scripts inside a container.
REMOTE_DIR = "/var/lib/promptlib-bench-tools"
REMOTE_FILES = {
    "rearm.sh": BENCH_DIR / "target" / "rearm.sh",
    "runbook-full-rollback.sh": BENCH_DIR / "baseline" / "runbook-full-rollback.sh",
    "http_probe.py": BENCH_DIR / "probes" / "http_probe.py",
    "db_probe.js": BENCH_DIR / "probes" / "db_probe.js",
    "database.sh": BENCH_DIR / "target" / "database.sh",
}
NODE_PATH = "/usr/local/lib/promptlib-drill/node_modules"
PROBE_STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class Target:
    """One drill container, reached by Ansible over the podman connection, as drills are, or over SSH."""

    name: str
    workdir: Path
    admin_token: str = field(repr=False)
    env: dict[str, str] = field(default_factory=podman_env, repr=False)
    # Inventory variables of the SSH connection, once enable_ssh() has run.
    ssh_vars: dict[str, Any] | None = field(default=None, repr=False)

    # --- life cycle --------------------------------------------------------

    def start(self) -> None:
        # start_container replaces a container of the same name, so make sure it is a drill's leftover.
        existing = self.podman("container", "inspect", "--format", '{{ index .Config.Labels "promptlib.drill" }}',
                               self.name, check=False)
        if existing.returncode == 0 and existing.stdout.strip() != "1":
            raise RuntimeError(f"Container {self.name} exists and is not a drill container (it has no "
                               "promptlib.drill label), so the bench will not replace it. Choose another --prefix.")
        try:
            start_container(self.name, env=self.env, publish=[ssh.PUBLISH])
        except DrillError as error:
            # NOTE: on a heavily loaded host, `systemctl is-system-running` in a
            # new container once reported "offline" during boot, which
            # start_container takes for a failed boot, so the bench tries again.
            logger.warning("Starting %s failed (%s), trying once more", self.name, error)
            start_container(self.name, env=self.env, publish=[ssh.PUBLISH])
        self.sh(f"mkdir -p {REMOTE_DIR}")
        for remote_name, local in REMOTE_FILES.items():
            self.podman("cp", str(local), f"{self.name}:{REMOTE_DIR}/{remote_name}")

    def remove(self) -> None:
        remove_container(self.name, self.env)

    def enable_ssh(self) -> None:
        """Let Ansible reach this container over SSH too. Call it before setup(), so rearm() keeps sshd."""
        self.ssh_vars = ssh.enable(self, self.workdir / "ssh")

    @property
    def inventory(self) -> Path:
        return write_inventory(self.workdir / f"{self.name}.yml", self.name)

    @property
    def ssh_inventory(self) -> Path:
        return fleet_inventory(self.workdir / f"{self.name}-ssh.yml", [self], connection="ssh")

    # --- commands ----------------------------------------------------------

    def podman(self, *args: str, check: bool = True, timeout: float | None = None,
               input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                                   timeout=timeout, input=input_text, check=False)
        if check and completed.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args[:3])} on {self.name} failed ({completed.returncode}): "
                               f"{completed.stderr.strip() or completed.stdout.strip()}")
        return completed

    def sh(self, script: str, check: bool = True, timeout: float | None = 1800,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a bash script in the container as root."""
        env_args = [arg for key, value in (env or {}).items() for arg in ("--env", f"{key}={value}")]
        return self.podman("exec", *env_args, self.name, "bash", "-c", script, check=check, timeout=timeout)

    def tool(self, name: str) -> str:
        return f"{REMOTE_DIR}/{name}"

    def envvars(self) -> dict[str, str]:
        """Return the environment for Ansible runs against this target."""
        # SSH's persistent connections live in the run's own folder, so a run never reuses
        # another run's connection to a container that once had the same port.
        return {"CONTAINERS_CONF": self.env["CONTAINERS_CONF"], "ADMIN_TOKEN": self.admin_token,
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.workdir / "ssh" / "cp")}

    def run(self, playbook: str, extravars: dict[str, Any] | None = None, *,
            inventory: Path | None = None) -> RunResult:
        """Run a playbook of the collection through the Python wrapper."""
        return run_playbook(ROOT / playbook, inventory or self.inventory, extravars,
                            artifacts_root=self.workdir / "artifacts", envvars=self.envvars())

    # --- drill state -------------------------------------------------------

    def setup(self, fault: str, extravars: dict[str, Any] | None = None) -> None:
        """Deploy a failing release with playbooks/drill-setup.yml and save that state for rearm()."""
        variables = {"drill_target_fault": fault, **(extravars or {})}
        result = self.run("playbooks/drill-setup.yml", variables)
        if not result.succeeded:
            raise RuntimeError(f"Drill setup of {self.name} ended {result.outcome}: "
                               f"{result.error or result.failed_step}")
        self.sh(f"bash {self.tool('rearm.sh')} save")
        self.saved_fingerprint = self.fingerprint()

    def rearm(self) -> None:
        """Put the saved failing deployment back and check that it matches the saved state."""
        self.sh(f"bash {self.tool('rearm.sh')} restore")
        fingerprint = self.fingerprint()
        if fingerprint != self.saved_fingerprint:
            raise RuntimeError(f"Rearming {self.name} did not restore the saved state.\nsaved:\n"
                               f"{self.saved_fingerprint}\nnow:\n{fingerprint}")

    def fingerprint(self) -> str:
        return self.sh(f"bash {self.tool('rearm.sh')} fingerprint").stdout

    # --- probes ------------------------------------------------------------

    def start_probe(self, kind: str, label: str, args: str = "") -> str:
        """Start the HTTP or database probe in the background and return its output file."""
        out = f"/tmp/probe-{kind}-{label}.jsonl"
        pid_file = f"/run/probe-{kind}-{label}.pid"
        if kind == "http":
            command = f"python3 {self.tool('http_probe.py')} --out {out} {args}"
        else:
            command = f"NODE_PATH={NODE_PATH} node {self.tool('db_probe.js')} --out {out} {args}"
        self.podman("exec", "--detach", self.name, "bash", "-c",
                    f"{command} & echo $! > {pid_file}; wait")
        deadline = time.monotonic() + 10
        # The probe is running once its output file has a first line.
        while self.sh(f"test -s {out}", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"The {kind} probe in {self.name} wrote nothing within 10 s.")
            time.sleep(0.1)
        return out

    def cpu_seconds(self, probe_out: str | None = None) -> tuple[float, float]:
        """Return the CPU seconds the container has used, and those of the probe writing ``probe_out``.

        The container's figure comes from its cgroup (v1 cpuacct), so it counts every process in it.
        """
        pid_file = (probe_out or "").replace("/tmp/probe-", "/run/probe-").replace(".jsonl", ".pid")
        output = self.sh(f"""
            cat /sys/fs/cgroup/cpuacct/cpuacct.usage
            if [ -n "{pid_file}" ] && [ -f "{pid_file}" ]; then
              awk -v hz="$(getconf CLK_TCK)" '{{ print ($14 + $15) / hz }}' /proc/$(cat {pid_file})/stat
            else
              echo 0
            fi
        """).stdout.split()
        return int(output[0]) / 1e9, float(output[1])

    def stop_probe(self, out: str) -> list[dict[str, Any]]:
        """Stop the probe that writes ``out`` (by the pid it recorded) and return its records."""
        pid_file = out.replace("/tmp/probe-", "/run/probe-").replace(".jsonl", ".pid")
        self.sh(f"""
            pid=$(cat {pid_file})
            kill -TERM "$pid"
            for _ in $(seq 1 {int(PROBE_STOP_TIMEOUT_SECONDS * 10)}); do
              kill -0 "$pid" 2>/dev/null || break
              sleep 0.1
            done
            rm -f {pid_file}
        """)
        text = self.sh(f"cat {out} && rm -f {out}").stdout
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def fleet_inventory(path: Path, targets: list[Target], connection: str = "podman") -> Path:
    """Write an inventory with every target as a ``prompt_library`` host over ``connection`` (podman or ssh)."""
    hosts = {}
    for target in targets:
        if connection == "ssh":
            if target.ssh_vars is None:
                raise RuntimeError(f"{target.name} has no SSH access. Call enable_ssh() before setup().")
            hosts[target.name] = target.ssh_vars
        else:
            hosts[target.name] = {"ansible_connection": "containers.podman.podman",
                                  "ansible_python_interpreter": "/usr/bin/python3"}
    inventory = {"all": {"children": {INVENTORY_GROUP: {"hosts": hosts}}}}
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    return path


def quote(value: str) -> str:
    return shlex.quote(value)


def time_command(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, int, str]:
    """Run ``argv`` and return (wall seconds, exit code, combined output)."""
    started = time.monotonic()
    completed = subprocess.run(argv, env={**os.environ, **(env or {})}, cwd=cwd, capture_output=True, text=True,
                               check=False)
    return time.monotonic() - started, completed.returncode, completed.stdout + completed.stderr
