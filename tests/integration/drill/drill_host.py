"""Helpers for tests that run the collection's playbooks against a drill container."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from promptlib_rollback.drill import build_image, podman_env, remove_container, start_container, write_inventory
from promptlib_rollback.paths import find_collection_root
from promptlib_rollback.report import load_report
from promptlib_rollback.results import RunResult
from promptlib_rollback.runner import run_playbook

APP_ROOT = "/opt/prompt-library"
NGINX_SITE = "/etc/nginx/sites-available/prompt-library"
# Row count and a digest of every template body. chr(124) is "|", so the query needs no quotes
# inside the shell's single quotes.
TEMPLATES_SUMMARY = "SELECT COUNT(*), md5(string_agg(body, chr(124) ORDER BY id)) FROM prompt_templates"
# Prints (name, state, script, pid) of each pm2 process, where state is "stopped" or "not stopped". A
# release that will not start cycles between launching, online and errored with no run involved
# (on a busy machine it starts slower than min_uptime), so only a stop counts as a change. The JSON
# starts at the first "[", because pm2 may print a banner first. The pid shows a restart of a process
# that never restarted before; one that did (a crashing release) shows "restarted" instead.
PM2_SUMMARY = (
    'import json,sys; t=sys.stdin.read(); '
    'print(sorted((p["name"], "stopped" if p["pm2_env"]["status"] == "stopped" else "not stopped", '
    'p["pm2_env"]["pm_exec_path"], p["pid"] if p["pm2_env"]["restart_time"] == 0 else "restarted") '
    'for p in json.loads(t[t.index("["):])))'
)

# Name, owner and comment of every database: a restore marks the database it restored in its comment.
# $$ quotes the literals, because the query sits inside the shell's single quotes.
DATABASES_SUMMARY = (
    "SELECT datname, pg_get_userbyid(datdba), shobj_description(oid, $$pg_database$$) FROM pg_database ORDER BY 1"
)
DUMPED_DATABASES = "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> $$postgres$$ ORDER BY 1"
# Where rollbacks keep failed-state dumps, journals and the lock.
KEPT_FOLDERS = "/var/backups/prompt-library /var/lib/promptlib-rollback"
LOCK_FILE = "/var/lib/promptlib-rollback/rollback.lock"
SERVICES = "template-cache-service template-analytics-service nginx postgresql"
# pm2 by the path the drill image installs it to, so the fingerprint also reads a host where the
# pm2 link on PATH was moved away.
PM2 = "/usr/local/lib/node_modules/pm2/bin/pm2"


def container_prefix() -> str:
    """Return the name prefix of test containers; PROMPTLIB_TEST_CONTAINER_PREFIX overrides it.

    Engineers who share a machine set their own prefix, so that each removes only their containers.
    """
    return os.environ.get("PROMPTLIB_TEST_CONTAINER_PREFIX") or "promptlib-test-"


def new_container_name() -> str:
    """Return a new container name: the configured prefix and random hex."""
    return f"{container_prefix()}{secrets.token_hex(3)}"


@dataclass
class DrillHost:
    """A running drill container and what it takes to run playbooks on it."""

    name: str
    root: Path
    inventory: Path
    artifacts: Path
    podman_env: dict[str, str] = field(repr=False)
    envvars: dict[str, str] = field(repr=False)

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a shell command in the container."""
        return subprocess.run(
            ["podman", "exec", self.name, "bash", "-c", command],
            env=self.podman_env,
            capture_output=True,
            text=True,
            check=check,
        )

    def run(self, playbook: str, extravars: dict | None = None, check: bool = False) -> RunResult:
        """Run a playbook of the collection against this container."""
        return run_playbook(
            self.root / playbook,
            self.inventory,
            extravars,
            procedure=Path(playbook).stem,
            artifacts_root=self.artifacts,
            check=check,
            envvars=self.envvars,
        )

    def health(self, port: int = 80) -> dict:
        """Return the application's /health answer, or an empty dict when it does not answer."""
        result = self.sh(f"curl -fsS --max-time 5 http://127.0.0.1:{port}/health", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def fingerprint(self) -> str:
        """Return a summary of everything a rollback could change on the host.

        Covers the release folders and their identities, the .env, ecosystem
        and nginx files (available and enabled sites), the databases (names,
        owners, comments and a digest of each one's dump, which includes the
        maintenance and safe modes the application keeps there), the files
        a rollback keeps (failed-state dumps, journals, the lock), the
        systemd services and the pm2 processes.
        """
        script = f"""
            cd {APP_ROOT} && ls -a1 && cat */release.json
            sha256sum {APP_ROOT}/.env* {APP_ROOT}/ecosystem.config.js {NGINX_SITE}*
            ls -l /etc/nginx/sites-enabled | tail -n +2
            find {KEPT_FOLDERS} -type f 2>/dev/null | sort
            runuser -u postgres -- psql -XtAc '{DATABASES_SUMMARY}'
            runuser -u postgres -- psql -XtA -d promptlib_production -c '{TEMPLATES_SUMMARY}'
            for db in $(runuser -u postgres -- psql -XtAc '{DUMPED_DATABASES}'); do
                echo "$db $(runuser -u postgres -- pg_dump -d "$db" | grep -v '^[\\]' | md5sum)"
            done
            systemctl is-active {SERVICES} || true
            {PM2} jlist 2>/dev/null | python3 -c '{PM2_SUMMARY}'
        """
        return self.sh(script).stdout

    def lock_holder(self) -> str | None:
        """Return the run id in the host's rollback lock, or None when no lock is there."""
        found = self.sh(f"test -e {LOCK_FILE} && python3 -c 'import json,sys; print(json.load(sys.stdin)[\"run_id\"])'"
                        f" < {LOCK_FILE}", check=False)
        return found.stdout.strip() if found.returncode == 0 else None


def preserved_files(host: DrillHost, result: RunResult) -> dict[str, set[str]]:
    """Return, per phase (before, after), the files the run preserved from the host, as its report names them."""
    logs = load_report(result.run_id, host.artifacts)["hosts"][host.name]["logs"]
    found = {}
    for phase in ("before", "after"):
        folder = Path(logs[phase]["path"])
        found[phase] = {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}
    return found


@contextlib.contextmanager
def drill_container(tmp_path_factory: pytest.TempPathFactory, label: str, setup: dict | None = None,
                    token: str | None = None) -> Iterator[DrillHost]:
    """Start a drill container, lay the target out when ``setup`` gives drill-setup.yml's variables, and remove it.

    ``label`` names the artifacts folder and goes into the container name; ``token`` is the admin
    token the runs get (default random).
    """
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed; run `make deps` first.")
    root = find_collection_root()
    env = podman_env(root)
    build_image(root, env=env)
    artifacts = tmp_path_factory.mktemp(label)
    name = f"{container_prefix()}{label}-{secrets.token_hex(3)}"
    start_container(name, env=env)
    try:
        host = DrillHost(
            name=name,
            root=root,
            inventory=write_inventory(artifacts / "inventory.yml", name),
            artifacts=artifacts,
            podman_env=env,
            envvars={"CONTAINERS_CONF": env["CONTAINERS_CONF"], "ADMIN_TOKEN": token or secrets.token_urlsafe(24)},
        )
        if setup is not None:
            result = host.run("playbooks/drill-setup.yml", setup)
            assert result.outcome == "succeeded", result.error or result.failed_step
        yield host
    finally:
        remove_container(name, env=env)


def without_lock(fingerprint: str) -> str:
    """Return a fingerprint without its rollback lock line.

    A run that is cancelled or killed leaves its lock behind, and the next run takes it over and
    releases it. Tests of those runs compare the rest of the host and check the lock separately.
    """
    return "\n".join(line for line in fingerprint.splitlines() if line != LOCK_FILE)
