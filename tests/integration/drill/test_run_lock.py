"""One rollback at a time per host: the lock, its refusals and its takeover, on a drill container.

The tests run in file order on one container: refusals by a lock someone else
holds, a takeover that then rolls back, and two runs started together.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from drill_host import DrillHost

pytestmark = pytest.mark.integration

PLAYBOOK = "playbooks/rollback-full.yml"
LOCK = "/var/lib/promptlib-rollback/rollback.lock"
HOLDER_RUN_ID = "20261204T100000Z-0badc0de"
LOCK_WAIT_SECONDS = 300


def place_lock(host: DrillHost, controller: str, pid: int) -> dict:
    holder = {"run_id": HOLDER_RUN_ID, "user": "alice", "controller": controller, "controller_pid": pid,
              "procedure": "full", "started_at": "2026-12-04T10:00:00Z"}
    host.sh(f"mkdir -p /var/lib/promptlib-rollback && echo '{json.dumps(holder)}' > {LOCK}")
    return holder


def ended_pid() -> int:
    process = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(process.stdout)


def refused_reason(host: DrillHost, extravars: dict | None = None) -> str:
    before = host.fingerprint()
    lock_before = host.sh(f"cat {LOCK}").stdout
    result = host.run(PLAYBOOK, extravars)
    assert result.outcome == "refused", result.error or result.failed_step
    assert host.fingerprint() == before
    assert host.sh(f"cat {LOCK}").stdout == lock_before
    return result.refused_reason or ""


def test_other_controller_holder_named(drill_host):
    place_lock(drill_host, "other-bastion", 4242)
    reason = refused_reason(drill_host)
    assert HOLDER_RUN_ID in reason
    assert "by alice on other-bastion" in reason
    assert "started 2026-12-04T10:00:00Z" in reason
    assert f"-e promptlib_lock_takeover={HOLDER_RUN_ID}" in reason
    assert "can only be checked on other-bastion" in reason


def test_live_holder_on_this_controller(drill_host):
    place_lock(drill_host, socket.gethostname(), os.getpid())
    reason = refused_reason(drill_host)
    assert f"Its controller process {os.getpid()} on this machine is still running" in reason


def test_wrong_takeover_id_refused(drill_host):
    place_lock(drill_host, "other-bastion", 4242)
    reason = refused_reason(drill_host, {"promptlib_lock_takeover": "20261204T000000Z-00000000"})
    assert HOLDER_RUN_ID in reason


def test_takeover_by_run_id_in_check_mode(drill_host):
    place_lock(drill_host, "other-bastion", 4242)
    lock_before = drill_host.sh(f"cat {LOCK}").stdout
    result = drill_host.run(PLAYBOOK, {"promptlib_lock_takeover": HOLDER_RUN_ID}, check=True)
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert drill_host.sh(f"cat {LOCK}").stdout == lock_before


def test_dead_holder_taken_over_at_once(drill_host):
    place_lock(drill_host, socket.gethostname(), ended_pid())
    result = drill_host.run(PLAYBOOK)
    assert result.outcome == "succeeded", result.error or result.failed_step
    messages = [step.message or "" for step in result.steps]
    assert any(f"Took the rollback lock over from run {HOLDER_RUN_ID}" in message for message in messages)
    assert drill_host.health().get("version") == "1.4.0"
    assert drill_host.sh(f"test -e {LOCK}", check=False).returncode == 1


def test_second_run_refused_while_first_runs(drill_host):
    first: dict = {}
    thread = threading.Thread(target=lambda: first.update(result=drill_host.run(PLAYBOOK)))
    thread.start()
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        holder_text = ""
        while not holder_text and time.monotonic() < deadline and thread.is_alive():
            holder_text = drill_host.sh(f"cat {LOCK}", check=False).stdout
            time.sleep(0.5)
        assert holder_text, "the first run never took the lock"
        holder = json.loads(holder_text)
        second = drill_host.run(PLAYBOOK)
    finally:
        thread.join()
    assert second.outcome == "refused"
    assert holder["run_id"] in second.refused_reason
    assert holder["run_id"] == first["result"].run_id
    assert first["result"].outcome == "succeeded", first["result"].error or first["result"].failed_step
    assert drill_host.sh(f"test -e {LOCK}", check=False).returncode == 1
