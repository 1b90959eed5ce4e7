"""Zero-downtime mode against a drill container running the app as a two-process pm2 cluster.

The failing release serves requests but fails validation, and it runs with the
previous .env and nginx site, so only the code differs: the rollback the
mode is for. A probe inside the container sends 20 requests per second
through nginx during the rollback; none may fail.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from typing import Iterator

import pytest
from drill_host import APP_ROOT, NGINX_SITE, DrillHost, new_container_name

from promptlib_rollback.drill import build_image, podman_env, remove_container, start_container, write_inventory
from promptlib_rollback.paths import find_collection_root

pytestmark = pytest.mark.integration

PLAYBOOK = "playbooks/rollback-full.yml"
PROBE = "bench/probes/http_probe.py"


@pytest.fixture(scope="module")
def cluster_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillHost]:
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed; run `make deps` first.")
    root = find_collection_root()
    env = podman_env(root)
    build_image(root, env=env)
    artifacts = tmp_path_factory.mktemp("zero-downtime")
    name = new_container_name()
    start_container(name, env=env)
    try:
        host = DrillHost(
            name=name,
            root=root,
            inventory=write_inventory(artifacts / "inventory.yml", name),
            artifacts=artifacts,
            podman_env=env,
            envvars={"CONTAINERS_CONF": env["CONTAINERS_CONF"], "ADMIN_TOKEN": secrets.token_urlsafe(24)},
        )
        setup = host.run("playbooks/drill-setup.yml",
                         {"drill_target_fault": "fails-validation", "drill_target_pm2_instances": 2})
        assert setup.outcome == "succeeded", setup.error or setup.failed_step
        # Only the code differs from the previous release: the failing one runs
        # with the previous .env and nginx site.
        host.sh(f"cp -a {APP_ROOT}/.env.previous {APP_ROOT}/.env && cp -a {NGINX_SITE}.previous {NGINX_SITE}"
                f" && systemctl reload nginx && cd {APP_ROOT} && pm2 delete all && pm2 start ecosystem.config.js")
        for _ in range(60):
            if host.health().get("version") == "1.5.0":
                break
            time.sleep(0.5)
        subprocess.run(["podman", "cp", str(root / PROBE), f"{name}:/root/http_probe.py"], env=env, check=True)
        yield host
    finally:
        remove_container(name, env=env)


def pm2_pids(host: DrillHost) -> list[int]:
    output = host.sh("pm2 jlist").stdout
    processes = json.loads(output[output.index("["):])
    return sorted(process["pid"] for process in processes)


def test_code_only_rollback_drops_no_request(cluster_host):
    assert cluster_host.health().get("version") == "1.5.0"
    pids_before = pm2_pids(cluster_host)
    assert len(pids_before) == 2
    # The timeout is generous because the machine is shared: a request counts
    # as failed when nginx has no process to pass it to, not when it is slow.
    cluster_host.sh("(python3 /root/http_probe.py --rate 20 --timeout 5 --out /root/probe.jsonl"
                    " >/dev/null 2>&1 & echo $! > /root/probe.pid)")
    try:
        result = cluster_host.run(PLAYBOOK, {"promptlib_zero_downtime": True})
    finally:
        time.sleep(1)
        cluster_host.sh("kill $(cat /root/probe.pid); sleep 1")
    assert result.outcome == "succeeded", result.error or result.failed_step
    records = [json.loads(line) for line in cluster_host.sh("cat /root/probe.jsonl").stdout.splitlines()]
    assert len(records) > 40
    failed = [record for record in records if record["status"] != 200]
    assert failed == []
    plan = result.facts["promptlib_rollback_completed"][cluster_host.name]["plan"]
    assert plan["zero_downtime"] is True
    assert plan["stop_services"] is False
    assert records[-1]["version"] == "1.4.0"
    assert not set(pm2_pids(cluster_host)) & set(pids_before)
