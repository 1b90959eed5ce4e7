"""One drill container shared by every module integration test in this folder.

The container runs the real drill image (systemd, PostgreSQL 15, nginx, Node.js,
pm2) without the drill setup: each test lays out only the files, processes and
databases it needs, under names of its own, so the tests do not depend on each
other's order. The container is removed at the end of the session.

PROMPTLIB_TEST_CONTAINER_PREFIX sets the start of the container name (default
``promptlib-test-``), so that people who share a podman host can tell their
containers apart.
"""

from __future__ import annotations

import os
import secrets
import shutil
from typing import Iterator

import pytest
from module_host import ModuleHost

from promptlib_rollback.drill import build_image, podman_env, remove_container, start_container, write_inventory
from promptlib_rollback.paths import find_collection_root

CONTAINER_PREFIX_ENV = "PROMPTLIB_TEST_CONTAINER_PREFIX"
IMAGE_ENV = "PROMPTLIB_DRILL_IMAGE"


@pytest.fixture(scope="session")
def module_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleHost]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed; run `make deps` first.")
    root = find_collection_root()
    env = podman_env(root)
    build_image(root, env=env)
    workdir = tmp_path_factory.mktemp("module-tests")
    prefix = os.environ.get(CONTAINER_PREFIX_ENV) or "promptlib-test-"
    name = f"{prefix}modules-{secrets.token_hex(3)}"
    image_args = {"image": os.environ[IMAGE_ENV]} if os.environ.get(IMAGE_ENV) else {}
    start_container(name, env=env, **image_args)
    try:
        yield ModuleHost(
            name=name,
            root=root,
            inventory=write_inventory(workdir / "inventory.yml", name),
            workdir=workdir,
            podman_env=env,
        )
    finally:
        remove_container(name, env=env)
