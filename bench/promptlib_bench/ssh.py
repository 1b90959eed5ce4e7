"""SSH access to a bench container, so Ansible reaches it as it reaches production hosts.

The drill image has no SSH server, and drills use the podman connection, which
cannot pipeline. Production rollbacks run over SSH with pipelining and a
persistent connection. So the bench installs Debian's openssh-server in its own
containers, never in the drill image, and publishes port 22 on 127.0.0.1 only.
It installs a key made for this bench run and pins the container's host key in
a known_hosts file of its own, so host key checking stays on.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .target import Target

logger = logging.getLogger(__name__)

SSH_PORT = 22
PUBLISH = f"127.0.0.1::{SSH_PORT}"
SSHD_PATH = "/usr/sbin/sshd"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
INSTALL_TIMEOUT_SECONDS = 600
INSTALL_SCRIPT = f"""
set -e
if [ ! -x {SSHD_PATH} ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi
systemctl enable --now ssh >/dev/null 2>&1
systemctl is-active --quiet ssh
"""


def key_pair(directory: Path) -> Path:
    """Return the bench run's private key in ``directory``, made on first use."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = directory / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "promptlib-bench", "-f", str(key)],
                       check=True, capture_output=True, text=True)
    return key


def enable(target: Target, directory: Path) -> dict[str, Any]:
    """Install and start sshd in ``target``, let the bench's key in, and return its inventory variables."""
    target.sh(INSTALL_SCRIPT, timeout=INSTALL_TIMEOUT_SECONDS)
    key = key_pair(directory)
    target.podman("exec", "-i", target.name, "sh", "-c",
                  "umask 077 && mkdir -p /root/.ssh && cat >> /root/.ssh/authorized_keys",
                  input_text=key.with_name(key.name + ".pub").read_text(encoding="utf-8"))
    published = target.podman("port", target.name, f"{SSH_PORT}/tcp").stdout.split()
    host, _, port = (published[0] if published else "").rpartition(":")
    if host != "127.0.0.1" or not port.isdigit():
        raise RuntimeError(f"{target.name} publishes port {SSH_PORT} as {published!r}, not on 127.0.0.1. "
                           f"Start it with --publish {PUBLISH}.")
    host_key = " ".join(target.sh(f"cat {HOST_KEY}").stdout.split()[:2])
    known_hosts = directory / f"known_hosts-{target.name}"
    known_hosts.write_text(f"[{host}]:{port} {host_key}\n", encoding="utf-8")
    logger.info("%s accepts SSH on %s:%s", target.name, host, port)
    return {
        "ansible_connection": "ansible.builtin.ssh",
        "ansible_host": host,
        "ansible_port": int(port),
        "ansible_user": "root",
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": (f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes "
                                    "-o IdentitiesOnly=yes"),
    }
