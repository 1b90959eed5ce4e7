"""Controller overhead: what one task costs over each connection and setting, and what facts cost."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from .target import ROOT, Target, time_command

logger = logging.getLogger(__name__)

TASKS = 20
PLAYBOOK = """\
- name: Time {count} tasks
  hosts: all
  gather_facts: {gather}
{extra}  tasks:
    - name: Run a command on the host
      ansible.builtin.command: /bin/true
      changed_when: false
      loop: "{{{{ range({count}) | list }}}}"
"""
EMPTY = """\
- name: An empty play
  hosts: all
  gather_facts: {gather}
{extra}  tasks: []
"""


def write_playbooks(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        # A loop of 20 items is 20 module runs on the host, each with its own round trip.
        "tasks": PLAYBOOK.format(count=TASKS, gather="false", extra=""),
        "empty": EMPTY.format(gather="false", extra=""),
        "facts": EMPTY.format(gather="true", extra=""),
        "facts-min": EMPTY.format(gather="true", extra="  gather_subset: ['!all', 'min']\n"),
    }
    playbooks = {}
    for name, text in texts.items():
        path = directory / f"overhead-{name}.yml"
        path.write_text(text, encoding="utf-8")
        playbooks[name] = path
    return playbooks


def local_inventory(directory: Path) -> Path:
    """The controller itself: what a task costs Ansible without any transport."""
    path = directory / "local.yml"
    path.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                    "      ansible_python_interpreter: /usr/bin/python3\n", encoding="utf-8")
    return path


# Settings on top of the collection's ansible.cfg (pipelining on, gathering explicit).
# The podman connection cannot pipeline, which its second row shows. SSH, the
# connection production hosts use, can.
SETTINGS = {
    "podman (ansible.cfg: pipelining = true)": ("podman", {}),
    "podman, ANSIBLE_PIPELINING=false": ("podman", {"ANSIBLE_PIPELINING": "false"}),
    "ssh (ansible.cfg: pipelining = true)": ("ssh", {}),
    "ssh, ANSIBLE_PIPELINING=false": ("ssh", {"ANSIBLE_PIPELINING": "false"}),
    "local connection (controller only, pipelining = true)": ("local", {}),
    "local connection, ANSIBLE_PIPELINING=false": ("local", {"ANSIBLE_PIPELINING": "false"}),
}


def ansible_playbook() -> str:
    """Return the ansible-playbook beside this Python (the project's .venv), or the one on PATH."""
    beside = Path(sys.executable).with_name("ansible-playbook")
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if found is None:
        raise RuntimeError("ansible-playbook was not found beside Python or on PATH. Run `make bench`, "
                           "which installs it in .venv, or run bench/run.py with .venv/bin/python.")
    return found


def time_playbook(inventory: Path, playbook: Path, target: Target, env: dict[str, str]) -> float:
    seconds, returncode, output = time_command(
        [ansible_playbook(), "-i", str(inventory), str(playbook)],
        env={**target.envvars(), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **env}, cwd=ROOT)
    if returncode != 0:
        raise RuntimeError(f"{playbook.name} against {inventory.name} failed:\n{output[-2000:]}")
    return seconds


def run(target: Target, runs: int, workdir: Path) -> dict[str, Any]:
    """Time 20 remote tasks and an empty play per setting, and fact gathering, interleaved per round."""
    playbooks = write_playbooks(workdir / "overhead")
    inventories = {"podman": target.inventory, "ssh": target.ssh_inventory,
                   "local": local_inventory(workdir / "overhead")}
    results: dict[str, Any] = {name: {"per_task": [], "empty": []} for name in SETTINGS}
    results["fact gathering"] = {"seconds": [], "min_seconds": []}
    for _round in range(runs):
        for name, (connection, env) in SETTINGS.items():
            empty = time_playbook(inventories[connection], playbooks["empty"], target, env)
            tasks = time_playbook(inventories[connection], playbooks["tasks"], target, env)
            results[name]["empty"].append(round(empty, 3))
            results[name]["per_task"].append(round((tasks - empty) / TASKS, 3))
            logger.info("%s: %.3f s per task", name, (tasks - empty) / TASKS)
        empty = time_playbook(target.inventory, playbooks["empty"], target, {})
        facts = time_playbook(target.inventory, playbooks["facts"], target, {})
        facts_min = time_playbook(target.inventory, playbooks["facts-min"], target, {})
        results["fact gathering"]["seconds"].append(round(facts - empty, 3))
        results["fact gathering"]["min_seconds"].append(round(facts_min - empty, 3))
    return results
