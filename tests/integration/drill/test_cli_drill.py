"""`promptlib-rollback drill app-failure` as documented: a fresh container, a rollback, the time to recover."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drill_host import new_container_name
from promptlib_rollback.drill import container_exists, podman_env, remove_container, run_drill
from promptlib_rollback.errors import ConfigurationError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DRILL_TIMEOUT_SECONDS = 900


def test_drill_command_json(tmp_path):
    name = new_container_name()
    script = Path(sys.executable).parent / "promptlib-rollback"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "promptlib_rollback"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python"), "PROMPTLIB_ROLLBACK_ARTIFACTS": str(tmp_path)}
    env.pop("ADMIN_TOKEN", None)
    try:
        completed = subprocess.run(
            [*command, "drill", "app-failure", "--container", name, "--keep-runs", "1", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DRILL_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    finally:
        remove_container(name, env=podman_env())

    assert completed.returncode == 0, completed.stderr[-3000:]
    data = json.loads(completed.stdout)
    assert data["scenario"] == "app-failure"
    assert data["outcome"] == "succeeded"
    assert data["container"] == name
    assert data["ttr_seconds"] > 0
    assert data["ttr_seconds"] == data["rollback"]["duration_seconds"]
    assert data["setup"]["outcome"] == "succeeded"
    assert any(step["role"] == "validate" for step in data["steps"])
    drill_folder = Path(data["artifacts_dir"])
    assert drill_folder.parent == tmp_path
    assert json.loads((drill_folder / "drill.json").read_text())["outcome"] == "succeeded"
    assert not container_exists(name, podman_env())


def test_drill_keeps_existing_container(tmp_path):
    name = new_container_name()
    env = podman_env()
    subprocess.run(["podman", "create", "--name", name, "localhost/promptlib-drill:latest", "true"],
                   env=env, check=True, capture_output=True)
    try:
        with pytest.raises(ConfigurationError) as error:
            run_drill("app-failure", container=name, artifacts_root=tmp_path)
        assert container_exists(name, env)
    finally:
        remove_container(name, env=env)
    assert f"Container {name} already exists" in str(error.value)
    assert f"podman rm -f {name}" in str(error.value)
    assert list(tmp_path.iterdir()) == []
