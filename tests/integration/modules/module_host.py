"""Run single tasks of the collection's modules against a drill container."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# A real run of a module over the podman connection takes a few seconds; pm2 waits
# and database restores take longer, so this leaves a wide margin.
PLAYBOOK_TIMEOUT_SECONDS = 300


def find_ansible_playbook() -> str:
    """Return the ansible-playbook next to the running Python, which has the same ansible-core."""
    candidate = Path(sys.executable).with_name("ansible-playbook")
    return str(candidate) if candidate.exists() else "ansible-playbook"


@dataclass
class ModuleHost:
    """A running drill container and what it takes to run module tasks on it."""

    name: str
    root: Path
    inventory: Path
    workdir: Path
    podman_env: dict[str, str] = field(repr=False)

    def sh(self, command: str, check: bool = True, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a bash command in the container, as root or as ``user``."""
        argv = ["podman", "exec"]
        if user:
            argv += ["--user", user]
        argv += [self.name, "bash", "-c", command]
        completed = subprocess.run(argv, env=self.podman_env, capture_output=True, text=True, check=False)
        if check and completed.returncode != 0:
            raise AssertionError(
                f"Command {command!r} in container {self.name} exited with {completed.returncode}:\n"
                f"{completed.stdout}\n{completed.stderr}"
            )
        return completed

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run one SQL statement as the postgres user and return its unaligned output."""
        return self.sh(f"psql -XtA -v ON_ERROR_STOP=1 -d {shlex.quote(db)} -c {shlex.quote(sql)}",
                       user="postgres").stdout.strip()

    def run_module(self, module: str, args: dict, *, check: bool = False, diff: bool = False,
                   become_user: str | None = None) -> dict:
        """Run ``promptlib.rollback.<module>`` with ``args`` in a one-task play and return its result."""
        task: dict = {"name": f"Run {module}", f"promptlib.rollback.{module}": args}
        if become_user:
            task.update(become=True, become_user=become_user)
        play = [{"hosts": "all", "gather_facts": False, "tasks": [task]}]
        playbook = self.workdir / f"{module}-task.json"
        playbook.write_text(json.dumps(play), encoding="utf-8")  # JSON is valid YAML.
        argv = [find_ansible_playbook(), "-i", str(self.inventory), str(playbook)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        env = dict(
            self.podman_env,
            ANSIBLE_CONFIG=str(self.root / "ansible.cfg"),
            ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
            ANSIBLE_NOCOLOR="1",
        )
        completed = subprocess.run(argv, cwd=self.root, env=env, capture_output=True, text=True,
                                   timeout=PLAYBOOK_TIMEOUT_SECONDS, check=False)
        try:
            report = json.loads(completed.stdout)
            return report["plays"][0]["tasks"][0]["hosts"][self.name]
        except (ValueError, KeyError, IndexError):
            raise AssertionError(
                f"ansible-playbook printed no task result (exit status {completed.returncode}):\n"
                f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
            ) from None


def parse_environ(environ: str) -> dict[str, str]:
    """Parse the NUL-separated content of /proc/<pid>/environ into a dict."""
    return dict(item.split("=", 1) for item in environ.split("\0") if "=" in item)
