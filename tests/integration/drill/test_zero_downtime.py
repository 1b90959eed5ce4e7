"""Zero-downtime mode against a drill container running the app as a two-process pm2 cluster.

The failing release serves requests but fails validation, and it runs with the
previous .env and nginx site, so only the code differs: the rollback the
mode is for. A probe inside the container sends 20 requests per second
through nginx during the rollback; none may fail.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Iterator

import pytest
from drill_host import APP_ROOT, NGINX_SITE, DrillHost, drill_container

pytestmark = pytest.mark.integration

PLAYBOOK = "playbooks/rollback-full.yml"
PROBE = "bench/probes/http_probe.py"


@pytest.fixture(scope="module")
def cluster_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillHost]:
    setup = {"drill_target_fault": "fails-validation", "drill_target_pm2_instances": 2}
    with drill_container(tmp_path_factory, "zero-downtime", setup) as host:
        # Only the code differs from the previous release: the failing one runs
        # with the previous .env and nginx site.
        host.sh(f"cp -a {APP_ROOT}/.env.previous {APP_ROOT}/.env && cp -a {NGINX_SITE}.previous {NGINX_SITE}"
                f" && systemctl reload nginx && cd {APP_ROOT} && pm2 delete all && pm2 start ecosystem.config.js")
        for unused in range(60):
            if host.health().get("version") == "1.5.0":
                break
            time.sleep(0.5)
        subprocess.run(["podman", "cp", str(host.root / PROBE), f"{host.name}:/root/http_probe.py"],
                       env=host.podman_env, check=True)
        yield host


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
