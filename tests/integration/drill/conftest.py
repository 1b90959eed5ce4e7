"""A drill container with a failing release deployed, shared by a test module.

The container runs the real drill image (systemd, PostgreSQL, nginx, Node.js,
pm2); the fixture lays it out with playbooks/drill-setup.yml and removes it
at the end. A test module picks the fault with a module-level DRILL_FAULT
(default wont-start) and may fix the admin token with DRILL_ADMIN_TOKEN (default
random), and PROMPTLIB_TEST_CONTAINER_PREFIX sets the prefix of
the container name (default promptlib-test-).
"""

from __future__ import annotations

from typing import Iterator

import pytest
from drill_host import DrillHost, drill_container


@pytest.fixture(scope="module")
def drill_host(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillHost]:
    fault = getattr(request.module, "DRILL_FAULT", "wont-start")
    token = getattr(request.module, "DRILL_ADMIN_TOKEN", None)
    with drill_container(tmp_path_factory, "drill", {"drill_target_fault": fault}, token=token) as host:
        yield host
