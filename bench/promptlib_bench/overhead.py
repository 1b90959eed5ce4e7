"""Controller overhead: what one task costs over each connection and with each setting."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .target import ROOT, Target, time_command

logger = logging.getLogger(__name__)

TASKS = 20
PLAYBOOK = """\
- name: Time {count} tasks
  hosts: all
  gather_facts: {gather}
  tasks:
    - name: Run a command on the host
      ansible.builtin.command: /bin/true
      changed_when: false
      loop: "{{{{ range({count}) | list }}}}"
"""


def write_playbooks(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    playbooks = {}
    for name, count, gather in (("tasks", TASKS, "false"), ("empty", 0, "false"), ("facts", 0, "true")):
        path = directory / f"overhead-{name}.yml"
        path.write_text(PLAYBOOK.format(count=count, gather=gather) if count else
                        PLAYBOOK.format(count=count, gather=gather).split("  tasks:")[0] + "  tasks: []\n",
                        encoding="utf-8")
        playbooks[name] = path
    return playbooks


# Connection settings, each on top of the collection's ansible.cfg.
SETTINGS = {
    "podman": ("podman", {}),
    "ssh, no ControlPersist, no pipelining": (
        "ssh", {"ANSIBLE_PIPELINING": "false", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}),
    "ssh, ControlPersist, no pipelining": ("ssh", {"ANSIBLE_PIPELINING": "false"}),
    "ssh, ControlPersist, pipelining, -C (Ansible's default ssh_args)": (
        "ssh", {"ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s"}),
    "ssh, ControlPersist, pipelining (ansible.cfg)": ("ssh", {}),
}


def time_playbook(target: Target, playbook: Path, connection: str, env: dict[str, str]) -> float:
    inventory = target.ssh_inventory if connection == "ssh" else target.podman_inventory
    seconds, returncode, output = time_command(
        ["ansible-playbook", "-i", str(inventory), str(playbook)],
        env={**target.envvars(), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **env}, cwd=ROOT)
    if returncode != 0:
        raise RuntimeError(f"{playbook.name} over {connection} failed:\n{output[-2000:]}")
    return seconds


def run(target: Target, runs: int, workdir: Path) -> dict[str, Any]:
    """Time 20 remote tasks and an empty play per setting, and fact gathering, interleaved per round."""
    playbooks = write_playbooks(workdir / "overhead")
    results: dict[str, Any] = {name: {"per_task": [], "empty": []} for name in SETTINGS}
    results["fact gathering"] = {"seconds": []}
    for _round in range(runs):
        for name, (connection, env) in SETTINGS.items():
            empty = time_playbook(target, playbooks["empty"], connection, env)
            tasks = time_playbook(target, playbooks["tasks"], connection, env)
            results[name]["empty"].append(round(empty, 3))
            results[name]["per_task"].append(round((tasks - empty) / TASKS, 3))
            logger.info("%s: %.3f s per task", name, (tasks - empty) / TASKS)
        empty = time_playbook(target, playbooks["empty"], "ssh", {})
        facts = time_playbook(target, playbooks["facts"], "ssh", {})
        results["fact gathering"]["seconds"].append(round(facts - empty, 3))
    return results
