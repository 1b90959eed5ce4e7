"""run_playbook against localhost: real ansible-playbook runs and the outcomes they produce."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from promptlib_rollback import run_playbook
from promptlib_rollback.report import RUN_ID_PATTERN
from promptlib_rollback.runner import RESULT_FILENAME

LOCAL_INVENTORY = {
    "all": {
        "hosts": {
            "localhost": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
            }
        }
    }
}

COMPLETE_TASK = """
    - name: Report completion
      ansible.builtin.set_stats:
        data:
          promptlib_rollback_completed: "{{ {inventory_hostname: {'release': 'previous-stable'}} }}"
"""

SUCCEEDS = (
    """
- name: Roll back
  hosts: all
  gather_facts: false
  tasks:
    - name: Switch release
      ansible.builtin.command: /bin/true
"""
    + COMPLETE_TASK
)

FAILS = """
- name: Roll back
  hosts: all
  gather_facts: false
  tasks:
    - name: Start pm2
      ansible.builtin.shell: "echo 'pm2 exited: port 8000 in use' >&2; exit 3"
""" + COMPLETE_TASK

REFUSES = """
- name: Preflight
  hosts: all
  gather_facts: false
  tasks:
    - name: Record the refusal
      ansible.builtin.set_stats:
        data:
          promptlib_rollback_refused: "{{ {inventory_hostname: 'pre-deployment backup not found'} }}"

    - name: Stop before changing anything
      ansible.builtin.fail:
        msg: Preflight failed, nothing was changed.
"""

RESCUED_NOT_COMPLETED = """
- name: Roll back
  hosts: all
  gather_facts: false
  tasks:
    - name: Restore database
      block:
        - name: Run pg_restore
          ansible.builtin.fail:
            msg: pg_restore failed
      rescue:
        - name: Log the restore failure
          ansible.builtin.debug:
            msg: restore failed, leaving the database as it was
"""

NO_HOSTS = """
- name: Roll back
  hosts: no_such_group
  gather_facts: false
  tasks:
    - name: Switch release
      ansible.builtin.command: /bin/true
"""

CHECK_MODE = """
- name: Roll back
  hosts: all
  gather_facts: false
  tasks:
    - name: Write marker
      ansible.builtin.copy:
        content: switched
        dest: "{{ marker }}"
        mode: "0644"
""" + COMPLETE_TASK

TOKEN = """
- name: Validate
  hosts: all
  gather_facts: false
  tasks:
    - name: Measure the admin token
      ansible.builtin.debug:
        msg: "token length {{ lookup('ansible.builtin.env', 'ADMIN_TOKEN') | length }}"
""" + COMPLETE_TASK


def run(tmp_path: Path, text: str, **options):
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(text)
    return run_playbook(playbook, LOCAL_INVENTORY, procedure="test", artifacts_root=tmp_path / "artifacts", **options)


def test_success_sets_completed(tmp_path):
    received = []
    result = run(tmp_path, SUCCEEDS, event_callback=received.append)
    assert result.outcome == "succeeded"
    assert result.failed_step is None
    assert result.facts["promptlib_rollback_completed"] == {"localhost": {"release": "previous-stable"}}
    assert [step.task for step in result.steps] == ["Switch release", "Report completion"]
    assert [step.task for step in received] == ["Switch release", "Report completion"]
    assert result.steps[0].status == "changed"
    assert result.rc == 0
    assert RUN_ID_PATTERN.match(result.run_id)


def test_result_json_written(tmp_path):
    result = run(tmp_path, SUCCEEDS, extravars={"release_note": "do-not-store"})
    run_dir = tmp_path / "artifacts" / result.run_id
    assert Path(result.artifacts_dir) == run_dir
    stored = json.loads((run_dir / RESULT_FILENAME).read_text())
    assert stored == result.to_dict()
    assert "do-not-store" not in (run_dir / RESULT_FILENAME).read_text()


def test_failure_names_step(tmp_path):
    result = run(tmp_path, FAILS)
    assert result.outcome == "failed"
    assert result.failed_step is not None
    assert result.failed_step.task == "Start pm2"
    assert result.failed_step.status == "failed"
    assert "port 8000 in use" in result.failed_step.message
    assert result.stats["failures"] == {"localhost": 1}


def test_refusal_reported(tmp_path):
    result = run(tmp_path, REFUSES)
    assert result.outcome == "refused"
    assert result.refused_reason == "localhost: pre-deployment backup not found"
    assert result.rc != 0


def test_rescued_without_completion_fails(tmp_path):
    result = run(tmp_path, RESCUED_NOT_COMPLETED)
    assert result.outcome == "failed"
    assert result.rc == 0
    assert result.stats["rescued"] == {"localhost": 1}
    assert result.failed_step is not None
    assert result.failed_step.status == "rescued"
    assert result.failed_step.message == "pg_restore failed"


def test_unmatched_pattern_no_hosts(tmp_path):
    result = run(tmp_path, NO_HOSTS)
    assert result.outcome == "no_hosts"
    assert result.steps == []
    assert "matched the host pattern 'no_such_group'" in result.error
    assert "rollback_target=PATTERN" in result.error


def test_syntax_error_fails(tmp_path):
    result = run(tmp_path, "- name: Broken\n  hosts: all\n  tasks: [\n")
    assert result.outcome == "failed"
    assert result.rc != 0
    assert "without a recap" in result.error


def test_check_mode_changes_nothing(tmp_path):
    marker = tmp_path / "marker"
    result = run(tmp_path, CHECK_MODE, check=True, extravars={"marker": str(marker)})
    assert result.outcome == "succeeded"
    assert result.steps[0].status == "changed"
    assert not marker.exists()


def test_admin_token_stays_off_disk(tmp_path, monkeypatch):
    token = "drill-token-5f1c9a"
    monkeypatch.setenv("ADMIN_TOKEN", token)
    result = run(tmp_path, TOKEN)
    assert result.outcome == "succeeded"
    assert result.steps[0].message == f"token length {len(token)}"
    files = [path for path in (tmp_path / "artifacts").rglob("*") if path.is_file()]
    leaked = [path for path in files if token in path.read_text(errors="replace")]
    assert files
    assert leaked == []


SECRET_EXTRAVAR = """
- name: Validate
  hosts: all
  gather_facts: false
  tasks:
    - name: Measure the admin token
      ansible.builtin.debug:
        msg: "token length {{ promptlib_admin_token | length }}, issue {{ rollback_issue }}"
""" + COMPLETE_TASK


def test_secret_extravar_stays_off_disk(tmp_path, monkeypatch):
    token = "extravar-token-8e2d4b"
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    result = run(tmp_path, SECRET_EXTRAVAR, verbosity=5,
                 extravars={"promptlib_admin_token": token, "rollback_issue": "cache-failures"})
    assert result.outcome == "succeeded", result.error
    assert result.steps[0].message == f"token length {len(token)}, issue cache-failures"
    command = json.loads((Path(result.artifacts_dir) / "command").read_text())
    assert "cache-failures" in " ".join(command["command"])
    files = [path for path in (tmp_path / "artifacts").rglob("*") if path.is_file()]
    leaked = [path for path in files if token in path.read_text(errors="replace")]
    assert leaked == []
    # The private vars file is gone once the run ends.
    assert list((tmp_path / "tmp").iterdir()) == []


def test_missing_playbook_rejected(tmp_path):
    from promptlib_rollback.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        run_playbook(tmp_path / "none.yml", LOCAL_INVENTORY, artifacts_root=tmp_path)


def test_signal_handlers_restored(tmp_path):
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    run(tmp_path, SUCCEEDS)
    assert signal.getsignal(signal.SIGINT) is before[0]
    assert signal.getsignal(signal.SIGTERM) is before[1]
