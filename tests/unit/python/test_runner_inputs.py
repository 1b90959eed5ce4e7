"""Playbook, inventory and environment handling before ansible-runner starts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from promptlib_rollback.errors import ConfigurationError
from promptlib_rollback.paths import find_collection_root
from promptlib_rollback.procedures import PROCEDURES, procedure_playbook
from promptlib_rollback.runner import (
    ADMIN_TOKEN_ENV,
    CANCEL_PLUGIN_DIR,
    REDACTED,
    Cancellation,
    build_envvars,
    redact_command_artifact,
    resolve_inventory,
    resolve_playbook,
)


def test_inventory_relative_path_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_inventory("hosts.yml") == str(tmp_path / "hosts.yml")


def test_inventory_host_list():
    assert resolve_inventory("web1,web2") == {"all": {"hosts": {"web1": {}, "web2": {}}}}
    assert resolve_inventory("web1,") == {"all": {"hosts": {"web1": {}}}}


def test_inventory_content_passed_through():
    content = "[prompt_library]\nweb1\n"
    assert resolve_inventory(content) == content


def test_inventory_dict_passed_through():
    inventory = {"all": {"hosts": {"web1": {"ansible_connection": "local"}}}}
    assert resolve_inventory(inventory) == inventory


def test_inventory_list_of_paths(tmp_path):
    first = tmp_path / "a.yml"
    second = tmp_path / "b.yml"
    first.write_text("all: {}\n")
    second.write_text("all: {}\n")
    assert resolve_inventory([first, str(second)]) == [str(first), str(second)]


def test_inventory_missing_path_rejected(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        resolve_inventory(str(tmp_path / "missing.yml"))
    assert "missing.yml" in str(raised.value)


def test_inventory_list_missing_rejected(tmp_path):
    with pytest.raises(ConfigurationError):
        resolve_inventory([tmp_path / "missing.yml"])
    with pytest.raises(ConfigurationError):
        resolve_inventory([])


def test_playbook_relative_to_root(tmp_path, monkeypatch):
    root = tmp_path / "collection"
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "x.yml").write_text("[]\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_playbook("playbooks/x.yml", root) == root / "playbooks" / "x.yml"


def test_playbook_missing_rejected(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        resolve_playbook("playbooks/none.yml", tmp_path)
    assert "playbooks/none.yml" in str(raised.value)


def test_procedure_table():
    root = find_collection_root()
    assert procedure_playbook("full", root) == root / PROCEDURES["full"]
    with pytest.raises(ConfigurationError) as raised:
        procedure_playbook("no-such-procedure", root)
    assert "full" in str(raised.value)


def test_envvars_point_at_collection(monkeypatch):
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    root = find_collection_root()
    env = build_envvars(root)
    assert env["ANSIBLE_CONFIG"] == str(root / "ansible.cfg")
    assert env["ANSIBLE_COLLECTIONS_PATH"] == str(root / ".collections")
    assert ADMIN_TOKEN_ENV not in env


def test_envvars_forward_admin_token(monkeypatch):
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "token-value")
    env = build_envvars(find_collection_root(), {"EXTRA": "1"})
    assert env[ADMIN_TOKEN_ENV] == "token-value"
    assert env["EXTRA"] == "1"


def test_envvars_caller_wins():
    env = build_envvars(find_collection_root(), {"ANSIBLE_CONFIG": "/etc/ansible/other.cfg"})
    assert env["ANSIBLE_CONFIG"] == "/etc/ansible/other.cfg"


def test_command_artifact_redacted(tmp_path):
    record = {
        "command": ["ansible-playbook", "site.yml"],
        "cwd": "/",
        "env": {"ADMIN_TOKEN": "t0ken", "DB_PASSWORD": "pw", "AWS_SECRET_ACCESS_KEY": "k", "PATH": "/usr/bin"},
    }
    (tmp_path / "command").write_text(json.dumps(record))
    redact_command_artifact(tmp_path)
    env = json.loads((tmp_path / "command").read_text())["env"]
    assert env["ADMIN_TOKEN"] == REDACTED
    assert env["DB_PASSWORD"] == REDACTED
    assert env["AWS_SECRET_ACCESS_KEY"] == REDACTED
    assert env["PATH"] == "/usr/bin"


def test_redact_without_command_file(tmp_path):
    redact_command_artifact(tmp_path)
    assert not (tmp_path / "command").exists()


def test_unreadable_command_file_removed(tmp_path):
    (tmp_path / "command").write_text("{not json")
    redact_command_artifact(tmp_path)
    assert not Path(tmp_path / "command").exists()


def test_cancel_gate_keeps_callback_plugins(tmp_path):
    variables = Cancellation(tmp_path).envvars({"ANSIBLE_CALLBACK_PLUGINS": "/opt/callbacks"})
    assert variables["ANSIBLE_CALLBACK_PLUGINS"] == f"{CANCEL_PLUGIN_DIR}:/opt/callbacks"
    assert variables["PROMPTLIB_ROLLBACK_CANCEL_FILE"] == str(tmp_path / "cancel-requested")
    assert (CANCEL_PLUGIN_DIR / "promptlib_rollback_cancel.py").is_file()


def test_cancel_file_written_on_request(tmp_path):
    cancel = threading.Event()
    cancellation = Cancellation(tmp_path, cancel)
    assert cancellation.should_stop() is False
    assert not cancellation.cancel_file.exists()
    cancel.set()
    assert cancellation.should_stop() is False
    assert cancellation.cancel_file.exists()
    cancellation.stopped_file.write_text('{"task": "Swap releases", "role": "restore_code"}')
    assert cancellation.should_stop() is True
    assert cancellation.held_task() == ("Swap releases", "restore_code")


def test_forced_cancel_stops_at_once(tmp_path):
    force = threading.Event()
    force.set()
    assert Cancellation(tmp_path, force_event=force).should_stop() is True
