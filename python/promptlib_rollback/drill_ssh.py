"""Reach a drill container over SSH, as Ansible reaches production hosts.

The drill image runs an OpenSSH server. A drill publishes the container's
port 22 on 127.0.0.1 only, generates a key pair for that one drill, installs
the public key for root in the container, and pins the container's host key
in a known_hosts file of its own, so host key checking stays on.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import DrillError

logger = logging.getLogger(__name__)

SSH_PORT = 22
SSH_USER = "root"
SSHD_PATH = "/usr/sbin/sshd"
HOST_KEY_PUB = "/etc/ssh/ssh_host_ed25519_key.pub"
SSHD_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.5

# Runs `podman ARGS` and returns the completed process, like drill._run_podman.
PodmanRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class SshAccess:
    """How Ansible reaches one drill container over SSH."""

    host: str
    port: int
    user: str
    key_file: str
    known_hosts: str

    def host_vars(self) -> dict[str, Any]:
        """Return the inventory variables of the ssh connection for this container."""
        return {
            "ansible_connection": "ansible.builtin.ssh",
            "ansible_host": self.host,
            "ansible_port": self.port,
            "ansible_user": self.user,
            "ansible_ssh_private_key_file": self.key_file,
            # A known_hosts file of this drill only, with checking on: the
            # drill's host key is pinned before Ansible first connects.
            "ansible_ssh_common_args": (
                f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
            ),
        }


def image_has_sshd(name: str, env: dict[str, str], run_podman: PodmanRunner) -> bool:
    """Return whether container ``name`` has an OpenSSH server installed."""
    return run_podman(["exec", name, "test", "-x", SSHD_PATH], env).returncode == 0


def published_ssh_port(name: str, env: dict[str, str], run_podman: PodmanRunner) -> tuple[str, int]:
    """Return the host address and port that container port 22 is published on."""
    completed = run_podman(["port", name, f"{SSH_PORT}/tcp"], env)
    line = completed.stdout.strip().splitlines()[0] if completed.stdout.strip() else ""
    host, _, port = line.rpartition(":")
    if completed.returncode != 0 or not port.isdigit():
        raise DrillError(
            f"Container {name} does not publish port {SSH_PORT} ({completed.stderr.strip() or line or 'no output'}). "
            "Start it with the SSH port published, or use the podman connection."
        )
    return host or "127.0.0.1", int(port)


def generate_key(directory: Path) -> Path:
    """Generate an ed25519 key pair without a passphrase in ``directory`` and return the private key path."""
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise DrillError("ssh-keygen was not found on PATH. Install openssh-client, or use the podman connection.")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = directory / "id_ed25519"
    if key.exists():
        return key
    completed = subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "promptlib-drill", "-f", str(key)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise DrillError(f"ssh-keygen failed to create {key}: {completed.stderr.strip()}")
    return key


def read_host_key(name: str, env: dict[str, str], run_podman: PodmanRunner, timeout: float) -> str:
    """Wait until sshd in the container is active and return its ed25519 host key (type and key)."""
    deadline = time.monotonic() + timeout
    while True:
        active = run_podman(["exec", name, "systemctl", "is-active", "ssh"], env)
        if active.stdout.strip() == "active":
            key = run_podman(["exec", name, "cat", HOST_KEY_PUB], env)
            fields = key.stdout.split()
            if key.returncode == 0 and len(fields) >= 2:
                return f"{fields[0]} {fields[1]}"
        if time.monotonic() >= deadline:
            raise DrillError(
                f"sshd in container {name} was not active with a host key {HOST_KEY_PUB} within {timeout:g}s "
                f"(ssh.service is {active.stdout.strip() or 'unknown'})."
            )
        time.sleep(POLL_INTERVAL_SECONDS)


def enable_ssh(
    name: str,
    directory: Path,
    env: dict[str, str],
    run_podman: PodmanRunner,
    *,
    timeout: float = SSHD_TIMEOUT_SECONDS,
) -> SshAccess:
    """Set up key-based SSH access as root to drill container ``name``.

    The key pair and known_hosts file go to ``directory``; an existing key
    there is reused, so several containers of one drill share it.
    """
    key = generate_key(directory)
    public_key = key.with_name(key.name + ".pub").read_text(encoding="utf-8")
    install = run_podman(
        ["exec", "-i", name, "sh", "-c", "umask 077 && mkdir -p /root/.ssh && cat >> /root/.ssh/authorized_keys"],
        env,
        input_text=public_key,
    )
    if install.returncode != 0:
        raise DrillError(f"Installing the drill's SSH key in container {name} failed: {install.stderr.strip()}")
    host, port = published_ssh_port(name, env, run_podman)
    host_key = read_host_key(name, env, run_podman, timeout)
    known_hosts = directory / f"known_hosts-{name}"
    known_hosts.write_text(f"[{host}]:{port} {host_key}\n", encoding="utf-8")
    logger.info("Container %s accepts SSH on %s:%d", name, host, port)
    return SshAccess(host=host, port=port, user=SSH_USER, key_file=str(key), known_hosts=str(known_hosts))
