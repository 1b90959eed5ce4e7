"""promptlib.rollback.release against real release folders in a drill container.

The switch runs in check mode first (nothing may change), then for real, then
again (nothing may change).
"""

from __future__ import annotations

import json

import pytest
from module_host import ModuleHost

pytestmark = pytest.mark.integration

APP_ROOT = "/srv/it-release"
TIMESTAMP = "20240501_101500"

# Every entry under the application root with its type, mode, size and content digest.
SNAPSHOT = (
    f"cd {APP_ROOT} && find . -printf '%y %m %s %p\\n' | sort"
    " && find . -type f -print0 | sort -z | xargs -0 sha256sum"
)


def snapshot(host: ModuleHost) -> str:
    return host.sh(SNAPSHOT).stdout


def release_version(host: ModuleHost, folder: str) -> str:
    return json.loads(host.sh(f"cat {APP_ROOT}/{folder}/release.json").stdout)["version"]


@pytest.fixture(scope="module")
def releases(module_host: ModuleHost) -> str:
    module_host.sh(
        f"rm -rf {APP_ROOT} && mkdir -p {APP_ROOT}/previous-stable/node_modules/left-pad {APP_ROOT}/current"
        f" && cd {APP_ROOT}"
        " && echo '{\"version\": \"1.4.0\"}' > previous-stable/release.json"
        " && echo '{\"name\": \"prompt-library\"}' > previous-stable/package.json"
        " && echo 'module.exports = 1;' > previous-stable/node_modules/left-pad/index.js"
        " && ln -s node_modules/left-pad previous-stable/pad"
        " && echo '{\"version\": \"1.5.0\"}' > current/release.json"
        " && echo '{\"name\": \"prompt-library\", \"broken\": true}' > current/package.json"
    )
    return APP_ROOT


def test_release_switch_lifecycle(module_host, releases):
    args = {"path": APP_ROOT, "timestamp": TIMESTAMP, "required_files": ["package.json", "node_modules"]}
    before = snapshot(module_host)

    checked = module_host.run_module("release", args, check=True, diff=True)
    assert not checked.get("failed"), checked.get("msg")
    assert checked["changed"] is True
    assert checked["failed_path"] == f"{APP_ROOT}/current-failed-{TIMESTAMP}"
    assert checked["diff"]["before"] == "1.5.0\n"
    assert checked["diff"]["after"] == "1.4.0\n"
    assert snapshot(module_host) == before

    applied = module_host.run_module("release", args, diff=True)
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert applied["switch_method"] in ("exchange", "rename")
    assert release_version(module_host, "current") == "1.4.0"
    assert release_version(module_host, f"current-failed-{TIMESTAMP}") == "1.5.0"
    assert module_host.sh(f"readlink {APP_ROOT}/current/pad").stdout.strip() == "node_modules/left-pad"
    assert module_host.sh(f"ls -a {APP_ROOT}").stdout.split() == [
        ".", "..", "current", f"current-failed-{TIMESTAMP}", "previous-stable"]
    after = snapshot(module_host)

    again = module_host.run_module("release", args)
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False
    assert again["failed_path"] is None
    assert snapshot(module_host) == after


def test_release_missing_file_rejected(module_host, releases):
    before = snapshot(module_host)
    result = module_host.run_module("release", {"path": APP_ROOT, "required_files": ["ecosystem.config.js"]})
    assert result.get("failed") is True
    assert "ecosystem.config.js" in result["msg"]
    assert snapshot(module_host) == before
