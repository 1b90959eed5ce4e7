"""Build the collection tarball, install it into an empty collections path and use it by FQCN.

Every command runs outside the checkout, without its ansible.cfg, and with
ANSIBLE_COLLECTIONS_PATH set to the temporary path only, so the link in
.collections and any copy in ~/.ansible/collections cannot stand in for the
installed tarball.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TIMESTAMP = "20240501_101500"


def tool(name: str) -> str:
    """Return the Ansible command next to the running Python, which has the same ansible-core."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def plugin_names(kind: str) -> list[str]:
    """Return the names of the plugins of ``kind`` in the checkout, so new ones are covered without edits here."""
    folder = REPO / "plugins" / kind
    return sorted(path.stem for path in folder.glob("*.py") if not path.name.startswith("_"))


@dataclass
class Installed:
    collections_path: Path
    workdir: Path

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
        env.update(ANSIBLE_COLLECTIONS_PATH=str(self.collections_path), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
        return env

    def run(self, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(list(argv), cwd=self.workdir, env=env or self.env(), capture_output=True,
                                   text=True, timeout=300, check=False)
        output = f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        assert completed.returncode == 0, f"{' '.join(argv)} exited with {completed.returncode}:\n{output}"
        return completed


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed-collection")
    workdir = root / "work"
    workdir.mkdir()
    result = Installed(collections_path=root / "collections", workdir=workdir)
    result.run(tool("ansible-galaxy"), "collection", "build", "--output-path", str(root / "dist"), str(REPO))
    tarballs = list((root / "dist").glob("promptlib-rollback-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    result.run(tool("ansible-galaxy"), "collection", "install", "-p", str(result.collections_path), str(tarballs[0]))
    return result


def test_installed_copy_is_the_only_one(installed):
    listing = installed.run(tool("ansible-galaxy"), "collection", "list", "promptlib.rollback", "--format", "json")
    paths = list(json.loads(listing.stdout))
    assert paths == [str(installed.collections_path / "ansible_collections")]


def test_build_leaves_out_local_folders(installed):
    files = json.loads((installed.collections_path / "ansible_collections/promptlib/rollback/FILES.json").read_text())
    names = [entry["name"] for entry in files["files"]]
    for local in (".venv", ".collections", ".cache", ".git", "artifacts", "playbooks/collections"):
        assert not [name for name in names if name == local or name.startswith(local + "/")], local


def test_doc_lists_every_module(installed):
    listing = installed.run(tool("ansible-doc"), "-l", "promptlib.rollback", "--json")
    modules = json.loads(listing.stdout)
    for name in plugin_names("modules"):
        fqcn = f"promptlib.rollback.{name}"
        assert fqcn in modules, f"{fqcn} missing from ansible-doc -l"
        assert modules[fqcn].strip(), f"{fqcn} has no short description"


@pytest.mark.parametrize("plugin_type, name", [("module", name) for name in plugin_names("modules")]
                         + [("filter", "format_check")])
def test_doc_renders_with_examples(installed, plugin_type, name):
    rendered = installed.run(tool("ansible-doc"), "-t", plugin_type, "--json", f"promptlib.rollback.{name}")
    doc = json.loads(rendered.stdout)[f"promptlib.rollback.{name}"]
    assert doc["doc"]["filename"].startswith(str(installed.collections_path))
    assert doc["doc"]["short_description"]
    assert doc["examples"].strip()
    text = installed.run(tool("ansible-doc"), "-t", plugin_type, f"promptlib.rollback.{name}")
    assert "EXAMPLES" in text.stdout


def test_full_rollback_syntax_by_fqcn(installed):
    installed.run(tool("ansible-playbook"), "-i", "localhost,", "--syntax-check", "promptlib.rollback.rollback_full")


PLAYBOOK = """\
- name: Use the installed collection by FQCN
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    promptlib_rollback_plan:
      timestamp: "{timestamp}"
    restore_code_app_root: "{app_root}"
  tasks:
    - name: Switch the release with the restore_code role
      ansible.builtin.import_role:
        name: promptlib.rollback.restore_code

    - name: Format a check with the filter
      ansible.builtin.set_fact:
        formatted: >-
          {{{{ {{'name': 'response time', 'value': '0.012 s', 'threshold': '< 1.0 s',
                'passed': true, 'critical': false}} | promptlib.rollback.format_check }}}}

    - name: Show the formatted check
      ansible.builtin.debug:
        var: formatted
"""


def run_json(installed: Installed, playbook: Path, *extra: str) -> dict:
    env = dict(installed.env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    completed = installed.run(tool("ansible-playbook"), "-i", "localhost,", "-e",
                              f"ansible_python_interpreter={sys.executable}", str(playbook), *extra, env=env)
    return json.loads(completed.stdout)


def task_results(report: dict) -> dict[str, dict]:
    """Map each task name, without the "role : " prefix of role tasks, to its localhost result."""
    return {task["task"]["name"].split(" : ")[-1]: task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]}


def test_installed_role_module_and_filter_run(installed, tmp_path):
    app_root = tmp_path / "app"
    (app_root / "previous-stable").mkdir(parents=True)
    (app_root / "previous-stable/package.json").write_text('{"name": "prompt-library"}\n')
    (app_root / "previous-stable/release.json").write_text('{"version": "1.4.0"}\n')
    (app_root / "current").mkdir()
    (app_root / "current/package.json").write_text('{"name": "prompt-library", "broken": true}\n')
    playbook = tmp_path / "use-installed.yml"
    playbook.write_text(PLAYBOOK.format(timestamp=TIMESTAMP, app_root=app_root))

    checked = task_results(run_json(installed, playbook, "--check"))
    assert checked["Put the previous stable release in place of current"]["changed"] is True
    assert not (app_root / f"current-failed-{TIMESTAMP}").exists()

    applied = task_results(run_json(installed, playbook))
    assert applied["Put the previous stable release in place of current"]["changed"] is True
    assert json.loads((app_root / "current/release.json").read_text())["version"] == "1.4.0"
    assert (app_root / f"current-failed-{TIMESTAMP}/package.json").exists()
    assert applied["Show the formatted check"]["formatted"] == "response time: 0.012 s (< 1.0 s) passed"

    again = task_results(run_json(installed, playbook))
    assert again["Put the previous stable release in place of current"]["changed"] is False
