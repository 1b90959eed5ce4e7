"""The public API against localhost: background runs, cancelling, step events and rotation.

Each test runs real ansible-playbook processes through ansible-runner with the
local connection.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from promptlib_rollback import api
from promptlib_rollback.artifacts import run_folders
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

# "Wait for the signal file" blocks until the test creates the file, so a
# test can cancel while a task is certainly in progress.
LONG_TASK = """
- name: Roll back
  hosts: all
  gather_facts: false
  tasks:
    - name: Switch release
      ansible.builtin.command: /bin/true

    - name: Wait for the signal file
      ansible.builtin.shell: "touch {{ workdir }}/started; while [ ! -e {{ workdir }}/go ]; do sleep 0.1; done; sleep 1"

    - name: Write the marker
      ansible.builtin.copy:
        content: written
        dest: "{{ workdir }}/marker"
        mode: "0644"
""" + COMPLETE_TASK

# A task that runs for minutes unless something stops it.
ENDLESS_TASK = """
- name: Roll back
  hosts: all
  gather_facts: false
  tasks:
    - name: Run a long restore
      ansible.builtin.shell: "echo $$ > {{ workdir }}/pid; exec sleep 300"
""" + COMPLETE_TASK

QUICK = """
- name: Roll back
  hosts: all
  gather_facts: false
  tasks:
    - name: Switch release
      ansible.builtin.command: /bin/true
""" + COMPLETE_TASK


def write_playbook(tmp_path: Path, text: str) -> str:
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(text)
    return str(playbook)


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.1)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" not in status


def test_background_run_succeeds(tmp_path):
    events = []
    handle = api.start(write_playbook(tmp_path, QUICK), LOCAL_INVENTORY, artifacts_root=tmp_path / "out",
                       on_event=events.append)
    result = handle.wait(120)
    assert handle.done()
    assert handle.result is result
    assert result.outcome == "succeeded"
    assert result.run_id == handle.run_id
    assert result.artifacts_dir == handle.artifacts_dir
    assert [(event.kind, event.task) for event in events] == [
        ("step_started", "Switch release"),
        ("step_finished", "Switch release"),
        ("step_started", "Report completion"),
        ("step_finished", "Report completion"),
    ]
    assert all(event.run_id == handle.run_id for event in events)
    assert events[1].step.status == "changed"
    assert handle.cancel() is False


def test_wait_timeout_while_running(tmp_path):
    handle = api.start(write_playbook(tmp_path, LONG_TASK), LOCAL_INVENTORY, {"workdir": str(tmp_path)},
                       artifacts_root=tmp_path / "out")
    wait_for((tmp_path / "started").exists)
    with pytest.raises(TimeoutError) as raised:
        handle.wait(0.5)
    assert handle.run_id in str(raised.value)
    assert handle.result is None
    (tmp_path / "go").touch()
    assert handle.wait(120).outcome == "succeeded"


def test_cancel_lets_task_finish(tmp_path):
    handle = api.start(write_playbook(tmp_path, LONG_TASK), LOCAL_INVENTORY, {"workdir": str(tmp_path)},
                       artifacts_root=tmp_path / "out")
    wait_for((tmp_path / "started").exists)
    assert handle.cancel() is True
    assert handle.cancel_requested
    # The task ends about a second after this, which is less than
    # ansible-runner's polling interval: the cancel must still hold the next task.
    (tmp_path / "go").touch()
    result = handle.wait(60)

    assert result.outcome == "cancelled"
    assert result.runner_status == "canceled"
    statuses = [(step.task, step.status) for step in result.steps]
    assert ("Wait for the signal file", "changed") in statuses
    assert result.cancelled_step.task == "Write the marker"
    assert result.cancelled_step.host == "localhost"
    assert result.cancelled_step.status == "cancelled"
    assert not (tmp_path / "marker").exists()
    stored = json.loads((Path(result.artifacts_dir) / RESULT_FILENAME).read_text())
    assert stored["outcome"] == "cancelled"
    assert stored["cancelled_step"]["task"] == "Write the marker"


def test_forced_cancel_stops_task(tmp_path):
    handle = api.start(write_playbook(tmp_path, ENDLESS_TASK), LOCAL_INVENTORY, {"workdir": str(tmp_path)},
                       artifacts_root=tmp_path / "out")
    wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text().strip())
    task_pid = int((tmp_path / "pid").read_text())
    assert process_alive(task_pid)
    started = time.monotonic()
    handle.cancel(force=True)
    result = handle.wait(60)

    assert time.monotonic() - started < 15
    assert result.outcome == "cancelled"
    assert result.cancelled_step.task == "Run a long restore"
    assert "may still be running" in result.cancelled_step.message
    assert not process_alive(task_pid)


def test_cancel_before_start(tmp_path):
    cancel = threading.Event()
    cancel.set()
    result = api.run(write_playbook(tmp_path, QUICK), LOCAL_INVENTORY, artifacts_root=tmp_path / "out",
                     cancel_event=cancel)
    assert result.outcome == "cancelled"
    assert result.steps == []
    assert result.cancelled_step is None
    assert (Path(result.artifacts_dir) / RESULT_FILENAME).is_file()


def test_sigint_cancels_blocking_run(tmp_path):
    # pytest runs tests in the main thread, where run() turns SIGINT into a cancel.
    previous = signal.getsignal(signal.SIGINT)

    def interrupt_when_started():
        wait_for((tmp_path / "started").exists)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.5)
        (tmp_path / "go").touch()

    helper = threading.Thread(target=interrupt_when_started)
    helper.start()
    result = api.run(write_playbook(tmp_path, LONG_TASK), LOCAL_INVENTORY, {"workdir": str(tmp_path)},
                     artifacts_root=tmp_path / "out")
    helper.join()
    assert result.outcome == "cancelled"
    assert result.cancelled_step.task == "Write the marker"
    assert signal.getsignal(signal.SIGINT) is previous


def test_no_playbook_left_after_cancel(tmp_path):
    handle = api.start(write_playbook(tmp_path, LONG_TASK), LOCAL_INVENTORY, {"workdir": str(tmp_path)},
                       artifacts_root=tmp_path / "out")
    wait_for((tmp_path / "started").exists)
    handle.cancel()
    (tmp_path / "go").touch()
    handle.wait(60)
    leftover = subprocess.run(["pgrep", "-f", handle.artifacts_dir], capture_output=True, text=True, check=False)
    assert leftover.stdout == ""


def test_rotation_keeps_count(tmp_path):
    playbook = write_playbook(tmp_path, QUICK)
    out = tmp_path / "out"
    results = [api.run(playbook, LOCAL_INVENTORY, artifacts_root=out, keep_runs=2) for unused in range(3)]
    kept = [folder.name for folder in run_folders(out)]
    assert kept == [results[1].run_id, results[2].run_id]
    loaded = api.load_result(results[2].run_id, artifacts_root=out)
    assert loaded == results[2]
