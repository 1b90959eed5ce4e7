"""SSH access to drill containers, with podman replaced by recorded outputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from promptlib_rollback import drill, drill_ssh
from promptlib_rollback.errors import ConfigurationError, DrillError


def completed(args, stdout="", stderr="", returncode=0):
    return subprocess.CompletedProcess(args, returncode, stdout=stdout, stderr=stderr)


class FakePodman:
    """Stand-in for drill._run_podman: a container whose sshd is active."""

    def __init__(self, port_output="127.0.0.1:40929\n", sshd=True):
        self.port_output = port_output
        self.sshd = sshd
        self.calls = []
        self.inputs = []

    def __call__(self, args, env, timeout=None, input_text=None):
        self.calls.append(args)
        if input_text is not None:
            self.inputs.append(input_text)
        if args[:2] == ["exec", "-i"]:
            return completed(args)
        if args[0] == "port":
            return completed(args, stdout=self.port_output, returncode=0 if self.port_output else 125)
        if args[-2:] == ["is-active", "ssh"]:
            return completed(args, stdout="active\n")
        if args[-1] == drill_ssh.HOST_KEY_PUB:
            return completed(args, stdout="ssh-ed25519 AAAAC3Nza-key root@promptlib-drill\n")
        if args[-2:] == ["-x", drill_ssh.SSHD_PATH]:
            return completed(args, returncode=0 if self.sshd else 1)
        raise AssertionError(f"unexpected podman call {args}")


def test_enable_ssh_pins_host_key(tmp_path):
    podman = FakePodman()
    access = drill_ssh.enable_ssh("pl-test", tmp_path, {}, podman)
    assert (access.host, access.port, access.user) == ("127.0.0.1", 40929, "root")
    assert Path(access.known_hosts).read_text() == "[127.0.0.1]:40929 ssh-ed25519 AAAAC3Nza-key\n"
    assert podman.inputs == [Path(access.key_file + ".pub").read_text()]
    assert (Path(access.key_file).stat().st_mode & 0o777) == 0o600


def test_host_vars_keep_host_key_checking(tmp_path):
    access = drill_ssh.SshAccess("127.0.0.1", 2222, "root", "/k/id", "/k/known")
    variables = access.host_vars()
    assert variables["ansible_connection"] == "ansible.builtin.ssh"
    assert variables["ansible_port"] == 2222
    assert "-o StrictHostKeyChecking=yes" in variables["ansible_ssh_common_args"]
    assert "-o UserKnownHostsFile=/k/known" in variables["ansible_ssh_common_args"]


def test_unpublished_port_rejected(tmp_path):
    with pytest.raises(DrillError) as raised:
        drill_ssh.published_ssh_port("pl-test", {}, FakePodman(port_output=""))
    assert "does not publish port 22" in str(raised.value)


def test_auto_falls_back_to_podman_without_sshd(tmp_path, monkeypatch):
    monkeypatch.setattr(drill, "_run_podman", FakePodman(sshd=False))
    assert drill.connect("pl-test", "auto", tmp_path, {}) is None


def test_podman_connection_skips_ssh(tmp_path, monkeypatch):
    podman = FakePodman()
    monkeypatch.setattr(drill, "_run_podman", podman)
    assert drill.connect("pl-test", "podman", tmp_path, {}) is None
    assert podman.calls == []


def test_unknown_connection_rejected(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        drill.connect("pl-test", "telnet", tmp_path, {})
    assert "'telnet'" in str(raised.value)


def test_fleet_inventory_mixes_connections(tmp_path):
    access = drill_ssh.SshAccess("127.0.0.1", 2222, "root", "/k/id", "/k/known")
    path = drill.write_fleet_inventory(tmp_path / "inventory.yml", {"one": access, "two": None})
    hosts = yaml.safe_load(path.read_text())["all"]["children"]["prompt_library"]["hosts"]
    assert hosts["one"]["ansible_port"] == 2222
    assert hosts["two"]["ansible_connection"] == "containers.podman.podman"
    assert hosts["two"]["ansible_python_interpreter"] == "/usr/bin/python3"


def test_drill_image_from_environment(monkeypatch):
    monkeypatch.setenv("PROMPTLIB_DRILL_IMAGE", "localhost/promptlib-drill:other")
    assert drill.drill_image() == "localhost/promptlib-drill:other"
    monkeypatch.delenv("PROMPTLIB_DRILL_IMAGE")
    assert drill.drill_image() == drill.DRILL_IMAGE
