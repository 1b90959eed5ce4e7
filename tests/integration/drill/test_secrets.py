"""The admin token and the database password appear nowhere a run writes.

One drill container runs every procedure in turn at ansible-playbook's highest
verbosity (5, as -vvvvv), with a known admin token and the database password
that the drill target put into the application's .env. The tests then search
everything the runs wrote, in plain text and in common encodings. On the
controller that is ansible-runner's artifacts (stdout, job events, command),
results, reports, preserved logs, exported templates, the notifications a local
HTTP server received and the command line's output. On the host it is every file
outside the places that must contain the secrets: the .env files and pm2's saved
process list.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.server
import io
import json
import logging
import shlex
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from drill_host import APP_ROOT, DrillHost

from promptlib_rollback import cli, load_result
from promptlib_rollback.diagnosis import diagnose
from promptlib_rollback.results import RunResult
from promptlib_rollback.runner import run_playbook

pytestmark = pytest.mark.integration

# The "+" and "/" make the URL-encoded and JSON-escaped forms differ from the raw token.
DRILL_ADMIN_TOKEN = "plTokenLeakProbe+7Qx2/Zk9Vw4Rm"
HIGHEST_VERBOSITY = 5
MINIMUM_ENCODED_LENGTH = 12

# One re-enable stage: the gate rounds between stages only repeat the monitor's requests.
GRADUAL = {
    "rollback_approved_by": "Pat Example",
    "rollback_approver_role": "product-manager",
    "promptlib_monitor_seconds": 2,
    "promptlib_reenable_wait_seconds": 2,
    "promptlib_reenable_stages": [{"name": "all", "flags": {"viewing": True, "creation": True, "editing": True}}],
}
FEATURE = {"rollback_approved_by": "Kim Example", "rollback_approver_role": "backend-lead",
           "promptlib_feature_disable": "cache"}
DATABASE = {"rollback_approved_by": "Dana Example", "rollback_approver_role": "database-administrator"}

# Host files that contain the secrets by design: the application's .env and its kept
# copies, and pm2's saved process list, which includes each process's environment.
HOST_SECRET_FILES = (
    f"{APP_ROOT}/.env",
    f"{APP_ROOT}/.env.",
    "/root/.pm2/dump.pm2",
)
# Folders the host search skips: kernel interfaces and installed packages.
HOST_SKIPPED_DIRS = ("proc", "sys", "dev", "run", "usr", "boot")


def encoded_forms(secret: str) -> dict[str, bytes]:
    """Return the secret as it would appear raw, URL-encoded, JSON-escaped or in base64 inside a longer text."""
    forms = {
        "raw": secret,
        "url-encoded": urllib.parse.quote(secret, safe=""),
        "form-encoded": urllib.parse.quote_plus(secret),
        "json-escaped": secret.replace("/", "\\/"),
    }
    data = secret.encode()
    for offset in range(3):
        # The secret's base64 at each of the 3 byte alignments inside a longer text, without
        # the characters that also depend on the neighbouring bytes.
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        start = (offset * 8 + 5) // 6
        end = len(encoded) - (4 if (offset + len(data)) % 3 else 0)
        middle = encoded[start:end]
        forms[f"base64@{offset}"] = middle
        forms[f"base64url@{offset}"] = middle.replace("+", "-").replace("/", "_")
    return {name: value.encode() for name, value in forms.items() if len(value) >= MINIMUM_ENCODED_LENGTH}


@dataclass
class Secrets:
    """The known secrets of the drill and their encoded forms, by label."""

    values: dict[str, str]
    patterns: dict[str, bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.patterns = {
            f"{label} ({form})": pattern
            for label, value in self.values.items()
            for form, pattern in encoded_forms(value).items()
        }

    def find(self, data: bytes) -> list[str]:
        """Return the labels of the secret forms found in ``data``."""
        return [label for label, pattern in self.patterns.items() if pattern in data]


def member_texts(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (name, content) of a file, and of each member when it is a tar or gzip archive."""
    data = path.read_bytes()
    yield str(path), data
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is not None:
                    yield f"{path}!{member.name}", handle.read()
    elif data[:2] == b"\x1f\x8b":
        yield f"{path}!gunzip", gzip.decompress(data)


def leaks_in_folder(folder: Path, known: Secrets) -> list[str]:
    """Return "<file>: <secret form>" for every secret form found under ``folder``."""
    leaks = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            for name, data in member_texts(path):
                leaks.extend(f"{name}: {label}" for label in known.find(data))
    return leaks


class NotificationReceiver(http.server.ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1 that keeps every request's path, headers and body."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        super().__init__(("127.0.0.1", 0), NotificationHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class NotificationHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        assert isinstance(self.server, NotificationReceiver)
        self.server.requests.append(self.requestline.encode() + b"\n" + bytes(self.headers) + body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (BaseHTTPRequestHandler's name)
        pass


@dataclass
class SecretRuns:
    """The runs of every procedure against one drill host and what they need to be searched."""

    host: DrillHost
    known: Secrets
    receiver: NotificationReceiver
    results: dict[str, RunResult] = field(default_factory=dict)
    cli_output: str = ""


@pytest.fixture(scope="module")
def receiver() -> Iterator[NotificationReceiver]:
    server = NotificationReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def write_notify_config(folder: Path, url: str) -> Path:
    config = folder / "notify.yml"
    config.write_text(
        json.dumps(
            {
                "timeout_seconds": 5,
                "targets": [
                    {"name": "slack-probe", "format": "slack", "url": f"{url}/slack"},
                    {"name": "json-probe", "format": "json", "url": f"{url}/json"},
                ],
                "status_page": {"url": f"{url}/status", "component": "Template system"},
            }
        ),
        encoding="utf-8",
    )
    return config


def database_password(host: DrillHost) -> str:
    """Return the password in the DATABASE_URL of the host's .env, which the drill target generated."""
    url = host.sh(f"sed -n 's/^DATABASE_URL=//p' {APP_ROOT}/.env").stdout.strip()
    password = urllib.parse.urlsplit(url).password
    assert password, f"The drill .env has no database password in DATABASE_URL={url!r}"
    return password


def run_verbose(host: DrillHost, playbook: str, extravars: dict | None = None) -> RunResult:
    return run_playbook(
        host.root / playbook,
        host.inventory,
        extravars,
        procedure=Path(playbook).stem,
        artifacts_root=host.artifacts,
        verbosity=HIGHEST_VERBOSITY,
        envvars=host.envvars,
    )


def run_cli_verbose(runs: SecretRuns, procedure: str) -> RunResult:
    """Run ``procedure`` with ``promptlib-rollback run -vvvvv --json``, adding its output to ``runs.cli_output``."""
    host = runs.host
    package_logger = logging.getLogger("promptlib_rollback")
    output, errors = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(errors):
        for name, value in host.envvars.items():
            patch.setenv(name, value)
        # The command line sets up the package's logging; the test's logging comes back afterwards.
        patch.setattr(package_logger, "handlers", list(package_logger.handlers))
        patch.setattr(package_logger, "level", package_logger.level)
        cli.main(
            ["run", procedure, "-i", str(host.inventory), "-vvvvv", "--json",
             "--artifacts-dir", str(host.artifacts), "--keep-runs", "0"],
            stdout=output,
        )
    runs.cli_output += output.getvalue() + errors.getvalue()
    return load_result(json.loads(output.getvalue())["run_id"], artifacts_root=host.artifacts)


@pytest.fixture(scope="module")
def secret_runs(drill_host: DrillHost, receiver: NotificationReceiver) -> SecretRuns:
    host = drill_host
    config = write_notify_config(host.artifacts, receiver.url)
    host.envvars["PROMPTLIB_NOTIFY_CONFIG"] = str(config)
    known = Secrets({"admin token": DRILL_ADMIN_TOKEN, "database password": database_password(host)})
    runs = SecretRuns(host=host, known=known, receiver=receiver)
    exports = str(host.artifacts / "exports")

    # The release will not start: the hotfix records that nothing is done, the
    # unavailable procedure stops, the partial rollback swaps the code, and the
    # full and database rollbacks check that it and the database need nothing more.
    runs.results["hotfix"] = run_verbose(host, "playbooks/rollback-hotfix.yml")
    runs.results["unavailable"] = run_verbose(host, "playbooks/rollback-unavailable.yml",
                                              {"rollback_issue": "no-such-issue"})
    runs.results["partial"] = run_verbose(host, "playbooks/rollback-partial.yml")
    runs.results["full"] = run_verbose(host, "playbooks/rollback-full.yml")
    runs.results["database"] = run_verbose(host, "playbooks/rollback-database.yml", DATABASE)
    runs.results["validate"] = run_cli_verbose(runs, "validate")
    runs.results["diagnose"] = diagnose(host.inventory, artifacts_root=host.artifacts,
                                        verbosity=HIGHEST_VERBOSITY, envvars=host.envvars).run
    # A stopped cache gives the service restart something to restart.
    host.sh("systemctl stop template-cache-service")
    runs.results["service-restart"] = run_verbose(host, "playbooks/rollback-service-restart.yml")
    runs.results["feature"] = run_verbose(host, "playbooks/rollback-feature.yml", FEATURE)
    runs.results["gradual"] = run_verbose(host, "playbooks/rollback-gradual.yml",
                                          {**GRADUAL, "promptlib_export_dir": exports})
    return runs


EXPECTED_OUTCOMES = {
    "hotfix": "succeeded",
    "unavailable": "failed",
    "partial": "succeeded",
    "full": "succeeded",
    "database": "succeeded",
    "validate": "succeeded",
    "diagnose": "succeeded",
    "service-restart": "succeeded",
    "feature": "succeeded",
    "gradual": "succeeded",
}


@pytest.mark.parametrize("procedure", list(EXPECTED_OUTCOMES))
def test_procedure_ran_verbose(secret_runs, procedure):
    result = secret_runs.results[procedure]
    assert result.outcome == EXPECTED_OUTCOMES[procedure], result.error or result.failed_step
    command = json.loads((Path(result.artifacts_dir) / "command").read_text(encoding="utf-8"))
    assert "-vvvvv" in command["command"]


def test_search_finds_planted_secrets(secret_runs, tmp_path):
    # Guards the search itself: a form that is there must be found.
    token = DRILL_ADMIN_TOKEN.encode()
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "raw.txt").write_bytes(b"x" + token)
    (planted / "b64.txt").write_bytes(base64.b64encode(b"Bearer " + token))
    (planted / "url.txt").write_text(urllib.parse.quote(DRILL_ADMIN_TOKEN, safe=""), encoding="utf-8")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("logs/application.log")
        info.size = len(token)
        archive.addfile(info, io.BytesIO(token))
    (planted / "logs.tar.gz").write_bytes(buffer.getvalue())
    found = "\n".join(leaks_in_folder(planted, secret_runs.known))
    assert "raw.txt: admin token (raw)" in found
    assert "b64.txt: admin token (base64@1)" in found
    assert "url.txt: admin token (url-encoded)" in found
    assert "logs.tar.gz!logs/application.log: admin token (raw)" in found


def test_controller_artifacts_hold_no_secret(secret_runs):
    # Every run folder (stdout, job_events, command, env, result.json, report.md/json,
    # notifications.jsonl, customer-notice.txt, preserved logs) and the template exports.
    assert leaks_in_folder(secret_runs.host.artifacts, secret_runs.known) == []


def test_reports_and_preserved_logs_were_written(secret_runs):
    # The search above only means something if the files it searches exist.
    full = Path(secret_runs.results["full"].artifacts_dir)
    assert (full / "report.md").is_file()
    assert (full / "report.json").is_file()
    assert (full / "command").is_file()
    assert list(full.glob("job_events/*.json"))
    assert list(full.glob("logs/*/before/*"))
    assert list(full.glob("logs/*/after/*"))
    assert list((secret_runs.host.artifacts / "exports").rglob("*.json"))


def test_notifications_hold_no_secret(secret_runs):
    requests = secret_runs.receiver.requests
    assert requests, "the notify callback sent nothing to the local receiver"
    leaks = [f"request {number}: {label}" for number, request in enumerate(requests)
             for label in secret_runs.known.find(request)]
    assert leaks == []


def test_host_holds_no_secret_outside_env(secret_runs):
    host = secret_runs.host
    patterns = " ".join(f"-e {shlex.quote(pattern.decode())}" for pattern in secret_runs.known.patterns.values())
    excluded = " ".join(f"--exclude-dir={name}" for name in HOST_SKIPPED_DIRS)
    found = host.sh(f"grep -rlaF {excluded} {patterns} / 2>/dev/null || true").stdout.split()
    unexpected = [path for path in found if not path.startswith(HOST_SECRET_FILES)]
    assert unexpected == []


def test_host_keeps_no_log_archive(secret_runs):
    # preserve_logs removes its archive from the host once fetched; one left behind
    # would keep the logs (and anything secret in them) outside the run's artifacts.
    left = secret_runs.host.sh("ls /var/tmp/promptlib-logs-* 2>/dev/null || true").stdout.split()
    assert left == []


def test_cli_output_holds_no_secret(secret_runs):
    assert secret_runs.cli_output
    assert secret_runs.known.find(secret_runs.cli_output.encode()) == []
