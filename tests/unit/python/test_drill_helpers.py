"""Drill helpers that run without podman: scenarios, inventory and the systemd wait."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from promptlib_rollback import drill
from promptlib_rollback.errors import ConfigurationError, DrillError


def completed(args, stdout="", stderr="", returncode=0):
    return subprocess.CompletedProcess(args, returncode, stdout=stdout, stderr=stderr)


class FakePodman:
    """Stand-in for drill._run_podman that replays `systemctl is-system-running` outputs."""

    def __init__(self, states, container_status="running"):
        self.states = list(states)
        self.container_status = container_status
        self.calls = []

    def __call__(self, args, env, timeout=None):
        self.calls.append(args)
        if args[0] == "exec":
            # The last state repeats for every later poll.
            state, returncode = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            if not state:
                return completed(args, stderr="Error: container is not running", returncode=returncode)
            return completed(args, stdout=state + "\n", returncode=returncode)
        if args[:2] == ["container", "inspect"]:
            return completed(args, stdout=self.container_status + "\n")
        if args[0] == "logs":
            return completed(args, stdout="Freezing execution.\n")
        raise AssertionError(f"unexpected podman call {args}")


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(drill.time, "sleep", lambda seconds: None)


def test_scenario_table():
    scenario = drill.get_scenario("app-failure")
    assert scenario.fault == "wont-start"
    assert scenario.procedure == "full"
    assert scenario.playbook == "playbooks/rollback-full.yml"


def test_unknown_scenario_rejected():
    with pytest.raises(ConfigurationError) as raised:
        drill.get_scenario("no-such-scenario")
    assert "app-failure" in str(raised.value)


def test_container_name_unique_per_drill():
    first, second = drill.container_name("app-failure"), drill.container_name("app-failure")
    assert re.fullmatch(r"promptlib-drill-app-failure-[0-9a-f]{6}", first)
    assert first != second


def test_inventory_targets_container(tmp_path):
    path = drill.write_inventory(tmp_path / "inventory.yml", "promptlib-drill-app-failure")
    data = yaml.safe_load(path.read_text())
    host = data["all"]["children"]["prompt_library"]["hosts"]["promptlib-drill-app-failure"]
    assert host["ansible_connection"] == "containers.podman.podman"
    assert host["ansible_python_interpreter"] == "/usr/bin/python3"


def test_podman_env_keeps_containers_conf(monkeypatch):
    monkeypatch.setenv("CONTAINERS_CONF", "/etc/custom/containers.conf")
    assert drill.podman_env()["CONTAINERS_CONF"] == "/etc/custom/containers.conf"


def test_podman_env_defaults_to_collection(monkeypatch):
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    assert drill.podman_env()["CONTAINERS_CONF"].endswith("molecule/containers.conf")


def test_wait_until_running(monkeypatch, no_sleep):
    fake = FakePodman([("", 1), ("starting", 1), ("running", 0)])
    monkeypatch.setattr(drill, "_run_podman", fake)
    assert drill.wait_for_systemd("c1", {}, timeout=30) == "running"


def test_wait_retries_while_offline(monkeypatch, no_sleep):
    fake = FakePodman([("offline", 1), ("offline", 1), ("starting", 1), ("running", 0)])
    monkeypatch.setattr(drill, "_run_podman", fake)
    assert drill.wait_for_systemd("c1", {}, timeout=30) == "running"


def test_podman_env_leaves_out_admin_token(monkeypatch):
    monkeypatch.setenv("ADMIN_TOKEN", "token-that-podman-never-needs")
    assert "ADMIN_TOKEN" not in drill.podman_env()


def test_wait_accepts_degraded(monkeypatch, no_sleep):
    monkeypatch.setattr(drill, "_run_podman", FakePodman([("degraded", 1)]))
    assert drill.wait_for_systemd("c1", {}, timeout=30) == "degraded"


def test_wait_rejects_maintenance(monkeypatch, no_sleep):
    monkeypatch.setattr(drill, "_run_podman", FakePodman([("maintenance", 1)]))
    with pytest.raises(DrillError) as raised:
        drill.wait_for_systemd("c1", {}, timeout=30)
    assert "maintenance" in str(raised.value)


def test_wait_times_out_with_last_output(monkeypatch, no_sleep):
    monkeypatch.setattr(drill, "_run_podman", FakePodman([("starting", 1)]))
    with pytest.raises(DrillError) as raised:
        drill.wait_for_systemd("c1", {}, timeout=0)
    assert "within 0s" in str(raised.value)
    assert "starting" in str(raised.value)


def test_wait_stops_when_container_exits(monkeypatch, no_sleep):
    monkeypatch.setattr(drill, "_run_podman", FakePodman([("", 125)], container_status="exited"))
    with pytest.raises(DrillError) as raised:
        drill.wait_for_systemd("c1", {}, timeout=30)
    assert "is exited" in str(raised.value)
    assert "Freezing execution." in str(raised.value)
