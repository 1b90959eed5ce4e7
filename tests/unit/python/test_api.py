"""The public API: argument checks before a run starts, and the decide/diagnose/report wrappers.

The wrapper tests install stand-in modules under the names of the decision,
diagnosis and report modules, to check what the wrappers pass on and what a
caller gets from an installation without them. The real modules have their
own tests. Runs against real playbooks are in tests/integration/python and
tests/integration/drill.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

import promptlib_rollback
from promptlib_rollback import api
from promptlib_rollback.errors import ConfigurationError, FeatureUnavailableError, RollbackError

LOCAL_INVENTORY = {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}


@pytest.fixture
def stand_in_module(monkeypatch):
    """Install a module object as promptlib_rollback.<name>, for a module that does not exist yet."""

    def install(name: str, **functions):
        module = types.ModuleType(f"promptlib_rollback.{name}")
        for function_name, function in functions.items():
            setattr(module, function_name, function)
        monkeypatch.setitem(sys.modules, f"promptlib_rollback.{name}", module)
        return module

    return install


@pytest.fixture
def missing_module(monkeypatch):
    """Make importing promptlib_rollback.<name> fail as it does when the file is missing."""

    def install(name: str):
        # None in sys.modules makes the import raise ModuleNotFoundError.
        monkeypatch.setitem(sys.modules, f"promptlib_rollback.{name}", None)

    return install


def test_package_exports_api():
    for name in api.__all__:
        assert getattr(promptlib_rollback, name) is getattr(api, name)


def test_outcomes_listed():
    assert api.OUTCOMES == ("succeeded", "failed", "refused", "no_hosts", "cancelled")


def test_start_rejects_unknown_procedure(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        api.start("no-such-procedure", LOCAL_INVENTORY, artifacts_root=tmp_path)
    assert "'no-such-procedure'" in str(raised.value)
    assert "full" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_start_rejects_missing_inventory(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        api.start("full", str(tmp_path / "hosts.yml"), artifacts_root=tmp_path)
    assert "hosts.yml" in str(raised.value)


def test_run_rejects_missing_playbook(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        api.run(str(tmp_path / "none.yml"), LOCAL_INVENTORY, artifacts_root=tmp_path)
    assert "none.yml" in str(raised.value)


def test_run_rejects_negative_keep_runs(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        api.run("full", LOCAL_INVENTORY, artifacts_root=tmp_path, keep_runs=-2)
    assert "keep_runs=-2" in str(raised.value)


def test_drill_rejects_bad_container_name(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        api.run_drill("app-failure", container="no spaces/allowed", artifacts_root=tmp_path)
    assert "'no spaces/allowed'" in str(raised.value)


def test_decide_calls_decision_module(stand_in_module):
    calls = []
    stand_in_module("decision", decide=lambda issue_type: calls.append(issue_type) or {"severity": "Critical"})
    assert api.decide("application-wont-start") == {"severity": "Critical"}
    assert calls == ["application-wont-start"]


def test_decide_rejects_unknown_issue(stand_in_module):
    stand_in_module("decision", decide=lambda issue_type: {})
    with pytest.raises(ConfigurationError) as raised:
        api.decide("disk-full")
    assert "'disk-full'" in str(raised.value)
    assert "cache-failures" in str(raised.value)


def test_decide_without_module(missing_module):
    missing_module("decision")
    with pytest.raises(FeatureUnavailableError) as raised:
        api.decide("cache-failures")
    assert raised.value.module == "promptlib_rollback.decision"
    assert "promptlib_rollback.decision" in str(raised.value)


def test_wrapper_without_function(stand_in_module):
    stand_in_module("report")
    with pytest.raises(FeatureUnavailableError) as raised:
        api.load_report("20250101T120000Z-1a2b3c4d")
    assert "promptlib_rollback.report.load_report()" in str(raised.value)


def test_diagnose_passes_arguments(stand_in_module):
    calls = []

    def diagnose(inventory, **options):
        calls.append((inventory, options))
        return {"issue_type": "application-wont-start"}

    stand_in_module("diagnosis", diagnose=diagnose)
    answer = api.diagnose("hosts.yml", extravars={"baseline_ms": "120"}, artifacts_root="/tmp/out")
    assert answer == {"issue_type": "application-wont-start"}
    assert calls == [
        ("hosts.yml", {"extravars": {"baseline_ms": "120"}, "artifacts_root": "/tmp/out", "envvars": None})
    ]


def test_diagnose_without_module(missing_module):
    missing_module("diagnosis")
    with pytest.raises(FeatureUnavailableError) as raised:
        api.diagnose("hosts.yml")
    assert raised.value.module == "promptlib_rollback.diagnosis"


def test_load_report_passes_arguments(stand_in_module):
    calls = []
    stand_in_module("report", load_report=lambda run_id, **options: calls.append((run_id, options)) or "report")
    assert api.load_report("20250101T120000Z-1a2b3c4d", artifacts_root="/tmp/out") == "report"
    assert calls == [("20250101T120000Z-1a2b3c4d", {"artifacts_root": "/tmp/out"})]


def test_import_error_inside_module_not_hidden(monkeypatch, tmp_path):
    # A module that exists but fails to import must show its own error.
    package_dir = tmp_path / "extra"
    package_dir.mkdir()
    (package_dir / "decision.py").write_text("import no_such_dependency_for_test\n")
    monkeypatch.setattr(promptlib_rollback, "__path__", [str(package_dir), *promptlib_rollback.__path__])
    monkeypatch.delitem(sys.modules, "promptlib_rollback.decision", raising=False)
    with pytest.raises(ModuleNotFoundError) as raised:
        api.decide("cache-failures")
    assert raised.value.name == "no_such_dependency_for_test"
    monkeypatch.delitem(sys.modules, "promptlib_rollback.decision", raising=False)


@dataclass
class Row:
    severity: str


class WithToDict:
    def to_dict(self):
        return {"kind": "custom"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(WithToDict(), {"kind": "custom"}), (Row("High"), {"severity": "High"}), ({"a": 1}, {"a": 1})],
)
def test_as_dict_forms(value, expected):
    assert api.as_dict(value) == expected


def test_as_dict_rejects_other_values():
    with pytest.raises(TypeError) as raised:
        api.as_dict(42)
    assert "int has no JSON form" in str(raised.value)


def test_handle_reraises_start_error(monkeypatch, tmp_path):
    def cannot_start(prepared, **options):
        raise RollbackError("ansible-runner could not run the playbook")

    monkeypatch.setattr(api, "execute_run", cannot_start)
    handle = api.start("full", LOCAL_INVENTORY, artifacts_root=tmp_path)
    with pytest.raises(RollbackError) as raised:
        handle.wait(10)
    assert "could not run" in str(raised.value)
    assert handle.done()
    assert handle.result is None
    assert handle.cancel() is False


def test_handle_passes_cancel_events(monkeypatch, tmp_path):
    received = {}

    def fake_execute(prepared, **options):
        received.update(options)
        options["cancel_event"].wait(10)
        return "result"

    monkeypatch.setattr(api, "execute_run", fake_execute)
    handle = api.start("full", LOCAL_INVENTORY, artifacts_root=tmp_path)
    assert handle.run_id in repr(handle)
    assert handle.cancel(force=True) is True
    assert handle.wait(10) == "result"
    assert received["cancel_event"].is_set()
    assert received["force_event"].is_set()
    assert handle.artifacts_dir == str(tmp_path / handle.run_id)
