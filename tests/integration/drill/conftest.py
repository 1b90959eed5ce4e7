"""A drill container with a failing release deployed, shared by a test module.

The container runs the real drill image (systemd, PostgreSQL, nginx, Node.js,
pm2); the fixture lays it out with playbooks/drill-setup.yml and removes it
at the end. A test module picks the fault with a module-level DRILL_FAULT
(default wont-start) and may fix the admin token with DRILL_ADMIN_TOKEN (default
random), and PROMPTLIB_TEST_CONTAINER_PREFIX sets the prefix of
the container name (default promptlib-test-).
"""

from __future__ import annotations

import secrets
import shutil
from typing import Iterator

import pytest
from drill_host import DrillHost, new_container_name

from promptlib_rollback.drill import build_image, podman_env, remove_container, start_container, write_inventory
from promptlib_rollback.paths import find_collection_root


@pytest.fixture(scope="module")
def drill_host(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillHost]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed; run `make deps` first.")
    root = find_collection_root()
    env = podman_env(root)
    build_image(root, env=env)
    artifacts = tmp_path_factory.mktemp("drill-artifacts")
    name = new_container_name()
    fault = getattr(request.module, "DRILL_FAULT", "wont-start")
    token = getattr(request.module, "DRILL_ADMIN_TOKEN", None) or secrets.token_urlsafe(24)
    start_container(name, env=env)
    try:
        host = DrillHost(
            name=name,
            root=root,
            inventory=write_inventory(artifacts / "inventory.yml", name),
            artifacts=artifacts,
            podman_env=env,
            envvars={"CONTAINERS_CONF": env["CONTAINERS_CONF"], "ADMIN_TOKEN": token},
        )
        setup = host.run("playbooks/drill-setup.yml", {"drill_target_fault": fault})
        assert setup.outcome == "succeeded", setup.error or setup.failed_step
        yield host
    finally:
        remove_container(name, env=env)
