"""Finding the collection root and the artifacts folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlib_rollback.errors import ConfigurationError
from promptlib_rollback.paths import ARTIFACTS_ENV, ROOT_ENV, default_artifacts_root, find_collection_root


def make_collection(path: Path, namespace: str = "promptlib", name: str = "rollback") -> Path:
    (path / "playbooks").mkdir(parents=True)
    (path / "galaxy.yml").write_text(f"namespace: {namespace}\nname: {name}\nversion: 0.1.0\n")
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)


def test_root_found_from_package():
    root = find_collection_root()
    assert (root / "galaxy.yml").is_file()
    assert (root / "python" / "promptlib_rollback").is_dir()


def test_root_found_walking_up(tmp_path):
    root = make_collection(tmp_path / "collection")
    nested = root / "python" / "promptlib_rollback"
    nested.mkdir(parents=True)
    assert find_collection_root(nested) == root.resolve()


def test_other_collection_skipped(tmp_path):
    outer = make_collection(tmp_path / "outer")
    inner = make_collection(outer / "vendor", namespace="community", name="general")
    assert find_collection_root(inner) == outer.resolve()


def test_walk_without_collection_fails(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        find_collection_root(tmp_path)
    message = str(raised.value)
    assert ROOT_ENV in message
    assert "pip install -e python/" in message
    assert str(tmp_path) in message


def test_env_root_wins(tmp_path, monkeypatch):
    root = make_collection(tmp_path / "installed")
    monkeypatch.setenv(ROOT_ENV, str(root))
    assert find_collection_root() == root.resolve()


def test_env_root_invalid(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    with pytest.raises(ConfigurationError) as raised:
        find_collection_root()
    assert f"{ROOT_ENV}={str(tmp_path)!r}" in str(raised.value)


def test_unparsable_galaxy_skipped(tmp_path):
    broken = tmp_path / "broken"
    (broken / "playbooks").mkdir(parents=True)
    (broken / "galaxy.yml").write_text("namespace: [unclosed\n")
    with pytest.raises(ConfigurationError):
        find_collection_root(broken)


def test_artifacts_default_in_root(tmp_path):
    root = make_collection(tmp_path / "collection")
    assert default_artifacts_root(root) == root / "artifacts"


def test_artifacts_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path / "elsewhere"))
    assert default_artifacts_root() == (tmp_path / "elsewhere").resolve()
