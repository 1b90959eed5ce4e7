"""The Python API and the promptlib-rollback command against a drill container.

The tests run in file order on one container with a release that will not
start: two cancelled runs first, then the README's Python example, which
finishes the rollback, then the command line on the rolled-back host.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from drill_host import APP_ROOT, DrillHost, without_lock
from promptlib_rollback import api

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
DRILL_INVENTORY = ROOT / "inventories" / "drill" / "hosts.yml"
# The host name in inventories/drill/hosts.yml.
DRILL_INVENTORY_HOST = "promptlib-drill"
RUN_TIMEOUT_SECONDS = 600


def cli_env(host: DrillHost, artifacts: Path) -> dict[str, str]:
    return {
        **os.environ,
        **host.envvars,
        "PYTHONPATH": str(ROOT / "python"),
        "PROMPTLIB_ROLLBACK_ARTIFACTS": str(artifacts),
    }


def cli_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "promptlib-rollback"
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-m", "promptlib_rollback", *args]


def run_cli(host: DrillHost, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args),
        env=cli_env(host, host.artifacts / "cli"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def readme_python_example() -> str:
    """Return the first python code block of the README's Python API section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README's Python API section has no python block"
    return match.group(1)


def leftover_module_processes(host: DrillHost) -> str:
    """Return the Ansible module processes still running in the container."""
    # The brackets keep the pattern from matching this shell's own command line.
    return host.sh("pgrep -af '[A]nsiballZ' || true").stdout.strip()


def start_and_cancel(host: DrillHost, cancel_when) -> api.RunHandle:
    """Start the full rollback in the background and cancel it at the first event that ``cancel_when`` accepts."""
    reached = threading.Event()

    def on_event(event):
        if cancel_when(event):
            reached.set()

    handle = api.start(
        "full",
        host.inventory,
        artifacts_root=host.artifacts / "api",
        envvars=host.envvars,
        on_event=on_event,
    )
    assert reached.wait(RUN_TIMEOUT_SECONDS), "the run never reached the cancel point"
    assert handle.cancel() is True
    return handle


def settled_fingerprint(host: DrillHost, timeout: float = 180.0) -> str:
    """Return the fingerprint once two samples 5 seconds apart are equal."""
    deadline = time.monotonic() + timeout
    previous = host.fingerprint()
    while time.monotonic() < deadline:
        time.sleep(5)
        current = host.fingerprint()
        if current == previous:
            return current
        previous = current
    raise AssertionError(f"the fingerprint of {host.name} kept changing for {timeout:g}s")


def fingerprint_diff(before: str, after: str) -> str:
    return "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm=""))


def test_cancel_in_preflight_changes_nothing(drill_host):
    before = settled_fingerprint(drill_host)
    handle = start_and_cancel(drill_host, lambda event: event.kind == "step_finished" and event.role == "preflight")
    result = handle.wait(RUN_TIMEOUT_SECONDS)

    assert result.outcome == "cancelled", result.error or result.failed_step
    assert result.cancelled_step.role == "preflight"
    assert result.cancelled_step.host == drill_host.name
    assert [step for step in result.steps if step.changed] == []
    # A cancelled run leaves its lock, which the next run from this machine takes over.
    assert drill_host.lock_holder() == result.run_id
    after = drill_host.fingerprint()
    assert without_lock(after) == without_lock(before), fingerprint_diff(before, after)
    assert leftover_module_processes(drill_host) == ""


def test_cancel_mid_rollback_stops_cleanly(drill_host):
    handle = start_and_cancel(
        drill_host, lambda event: event.kind == "step_started" and event.role == "restore_code"
    )
    result = handle.wait(RUN_TIMEOUT_SECONDS)

    assert result.outcome == "cancelled", result.error or result.failed_step
    assert result.runner_status == "canceled"
    cancelled = [step for step in result.steps if step.status == "cancelled"]
    assert cancelled == [result.cancelled_step]
    assert result.cancelled_step.host == drill_host.name
    assert "before this task started" in result.cancelled_step.message
    assert any(step.role == "restore_code" and step.status in ("ok", "changed") for step in result.steps)
    stored = json.loads((Path(result.artifacts_dir) / "result.json").read_text())
    assert stored["outcome"] == "cancelled"
    assert stored["cancelled_step"]["task"] == result.cancelled_step.task
    assert leftover_module_processes(drill_host) == ""
    playbooks = subprocess.run(["pgrep", "-f", result.artifacts_dir], capture_output=True, text=True, check=False)
    assert playbooks.stdout == ""


def test_readme_example_runs_as_written(drill_host, tmp_path):
    # The example's inventory is inventories/drill/hosts.yml, copied unchanged.
    # A host_vars file beside it points its host at this test's container.
    inventory_dir = tmp_path / "inventories" / "drill"
    (inventory_dir / "host_vars").mkdir(parents=True)
    shutil.copy(DRILL_INVENTORY, inventory_dir / "hosts.yml")
    (inventory_dir / "host_vars" / f"{DRILL_INVENTORY_HOST}.yml").write_text(f"ansible_host: {drill_host.name}\n")

    completed = subprocess.run(
        [sys.executable, "-c", readme_python_example()],
        cwd=tmp_path,
        env=cli_env(drill_host, tmp_path / "artifacts"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split()[0] == "succeeded", completed.stdout
    assert "failed at" not in completed.stdout
    assert drill_host.health(port=80)["version"] == "1.4.0"
    assert drill_host.health(port=8000)["version"] == "1.4.0"


def test_cli_run_json_is_one_object(drill_host):
    completed = run_cli(drill_host, "run", "full", "-i", str(drill_host.inventory), "--json")

    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["outcome"] == "succeeded"
    assert data["format_version"] == 1
    assert [step["task"] for step in data["steps"] if step["changed"]] == []
    assert Path(data["artifacts_dir"]).parent == drill_host.artifacts / "cli"

    report = run_cli(drill_host, "report", data["run_id"], "--json")
    assert report.returncode == 0, report.stderr
    incident = json.loads(report.stdout)
    assert incident["run_id"] == data["run_id"]
    assert incident["outcome"] == "succeeded"
    assert api.load_result(data["run_id"], artifacts_root=drill_host.artifacts / "cli").to_dict() == data


def run_on_terminal(host: DrillHost, *args: str) -> tuple[int, str]:
    """Run the command with stdout on a pseudo-terminal; return its exit code and terminal output."""
    controller, terminal = pty.openpty()
    env = {**cli_env(host, host.artifacts / "cli"), "COLUMNS": "160"}
    process = subprocess.Popen(
        cli_command(*args), stdout=terminal, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        ready, unused_write, unused_error = select.select([controller], [], [], 1.0)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:  # the terminal closed when the command exited
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(controller)
    return process.wait(timeout=30), b"".join(chunks).decode("utf-8", errors="replace")


def test_cli_check_redraws_status_line(drill_host):
    code, output = run_on_terminal(drill_host, "run", "full", "-i", str(drill_host.inventory), "--check")

    assert code == 0, output
    redraws = output.count("\r\x1b[K")
    assert redraws > 10
    status_lines = [part for part in output.split("\r\x1b[K") if part.startswith("[")]
    assert any(f"full  step 1  {drill_host.name}  run_lock : " in line for line in status_lines)
    assert any(re.match(r"\[\s*\d+\.\ds\] full  step \d+ ", line) for line in status_lines)
    assert "Mode:" in output
    assert "check mode: nothing was changed" in output


def test_cli_plain_lines_and_interrupt(drill_host):
    process = subprocess.Popen(
        cli_command("run", "full", "-i", str(drill_host.inventory)),
        env=cli_env(drill_host, drill_host.artifacts / "cli"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    first = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=RUN_TIMEOUT_SECONDS)

    assert re.match(rf"\[\s*\d+\.\ds\] {re.escape(drill_host.name)}  run_lock : .+  (ok|changed|skipped)$", first)
    assert process.returncode == 5, rest + errors
    assert "\r" not in first + rest
    assert re.search(r"^Outcome: +cancelled$", rest, re.MULTILINE)
    assert "Cancelled at:" in rest
    assert "Cancel requested" in rest
    assert "SIGINT received" in errors


def test_cli_refused_exit_3(drill_host):
    drill_host.sh(f"mv {APP_ROOT}/previous-stable {APP_ROOT}/previous-stable.aside")
    try:
        completed = run_cli(drill_host, "run", "full", "-i", str(drill_host.inventory), "--json")
    finally:
        drill_host.sh(f"mv {APP_ROOT}/previous-stable.aside {APP_ROOT}/previous-stable")

    assert completed.returncode == 3, completed.stderr
    data = json.loads(completed.stdout)
    assert data["outcome"] == "refused"
    assert "previous-stable" in data["refused_reason"]


def test_cli_no_hosts_exit_4(drill_host):
    # A host list puts the host in no group, and the play targets prompt_library.
    completed = run_cli(drill_host, "run", "full", "-i", f"{drill_host.name},", "--json")

    assert completed.returncode == 4, completed.stderr
    assert json.loads(completed.stdout)["outcome"] == "no_hosts"


def test_cli_usage_error_exit_2(drill_host, tmp_path):
    missing = tmp_path / "hosts.yml"
    completed = run_cli(drill_host, "run", "full", "-i", str(missing), "--json")

    assert completed.returncode == 2
    data = json.loads(completed.stdout)
    assert data["outcome"] == "error"
    assert str(missing) in data["error"]


def test_cli_decide(drill_host):
    completed = run_cli(drill_host, "decide", "application-wont-start", "--json")

    if importlib.util.find_spec("promptlib_rollback.decision") is None:
        assert completed.returncode == 1
        assert "promptlib_rollback.decision" in json.loads(completed.stdout)["error"]
    else:
        assert completed.returncode == 0, completed.stderr
        assert json.loads(completed.stdout)["issue_type"] == "application-wont-start"
