"""Command line interface: ``promptlib-rollback run`` and ``promptlib-rollback drill``."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any, TextIO

from . import __version__
from .drill import CONNECTIONS, SCENARIOS, run_drill
from .errors import ConfigurationError, DrillError, RollbackError
from .procedures import PROCEDURES
from .results import DrillResult, RunResult, StepResult
from .runner import run_procedure

logger = logging.getLogger(__name__)

EXIT_CODES = MappingProxyType({"succeeded": 0, "failed": 1, "refused": 3, "no_hosts": 4})
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
LOG_HANDLER_NAME = "promptlib-rollback-cli"

EPILOG = """\
exit codes:
  0  the rollback succeeded and every host reported completion
  1  the rollback failed, or a drill could not be set up
  2  usage error: invalid arguments, unknown procedure or scenario, missing inventory
  3  preflight refused the rollback before anything was changed
  4  no host matched the inventory and the play's host pattern
  130  interrupted (Ctrl-C) outside a playbook run. An interrupted playbook run
       ends as failed (1).

environment:
  ADMIN_TOKEN                   admin API token, forwarded to the playbooks through the environment
  PROMPTLIB_ROLLBACK_ARTIFACTS  artifacts folder (default: artifacts/ in the collection)
  PROMPTLIB_ROLLBACK_ROOT       collection folder (default: found above this package)
"""

# Extra-variable names that look like secrets. Values given with -e appear in
# the process list, so these must come through the environment instead.
SECRET_NAME = re.compile(r"token|password|passwd|passphrase|secret", re.IGNORECASE)


def parse_extravar(text: str) -> tuple[str, str]:
    """Parse one ``-e KEY=VALUE`` argument."""
    key, separator, value = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"invalid extra variable {text!r}: expected KEY=VALUE")
    if SECRET_NAME.search(key):
        raise argparse.ArgumentTypeError(
            f"extra variable {key!r} looks like a secret, and -e values are visible in the process list: "
            "export it as an environment variable instead (for the admin API token, ADMIN_TOKEN)"
        )
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promptlib-rollback",
        description="Run and drill the promptlib.rollback procedures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout and send logs to stderr")
    common.add_argument(
        "--artifacts-dir",
        metavar="DIR",
        help="folder for run artifacts (default: $PROMPTLIB_ROLLBACK_ARTIFACTS, else artifacts/ in the collection)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log debug messages, and with run also raise ansible-playbook's verbosity (repeatable)",
    )

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a rollback procedure against an inventory",
        description="Run a rollback procedure against an inventory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("procedure", metavar="PROCEDURE", choices=sorted(PROCEDURES), help="one of: %(choices)s")
    run.add_argument(
        "-i",
        "--inventory",
        action="append",
        required=True,
        metavar="INVENTORY",
        help="inventory file or folder, or a comma-separated host list (repeatable)",
    )
    run.add_argument(
        "-e",
        "--extra-var",
        dest="extravars",
        action="append",
        default=[],
        type=parse_extravar,
        metavar="KEY=VALUE",
        help="extra variable passed to the playbook as a string (repeatable), not for secrets",
    )
    run.add_argument("--check", action="store_true", help="run in check mode: report what would change")

    drill = commands.add_parser(
        "drill",
        parents=[common],
        help="drill a scenario in a podman container",
        description="Deploy a failing release into a fresh drill container, roll it back and time the recovery.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    drill.add_argument("scenario", metavar="SCENARIO", choices=sorted(SCENARIOS), help="one of: %(choices)s")
    drill.add_argument("--keep", action="store_true", help="keep the container after the drill for inspection")
    drill.add_argument("--rebuild-image", action="store_true", help="rebuild the drill image even when it is current")
    drill.add_argument(
        "--connection",
        choices=CONNECTIONS,
        default="auto",
        help="how Ansible reaches the drill container: ssh, podman, or auto (ssh when the image has an "
        "OpenSSH server; default)",
    )
    return parser


def exit_code_for(outcome: str) -> int:
    return EXIT_CODES.get(outcome, EXIT_FAILED)


def format_step(step: StepResult, elapsed: float) -> str:
    """Format a step line: ``[  3.2s] host  role : task  changed``."""
    line = f"[{elapsed:6.1f}s] {step.describe()}  {step.status}"
    if step.status in ("failed", "unreachable", "ignored") and step.message:
        line += f": {step.message}"
    return line


class StepPrinter:
    """Print each step with the time elapsed since the command started."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._start = time.monotonic()

    def __call__(self, step: StepResult) -> None:
        print(format_step(step, time.monotonic() - self._start), file=self._stream, flush=True)


def print_run_summary(result: RunResult, stream: TextIO, *, ttr_seconds: float | None = None) -> None:
    rows: list[tuple[str, str]] = [("Outcome", result.outcome)]
    if result.outcome == "succeeded":
        recovered_in = ttr_seconds if ttr_seconds is not None else result.duration_seconds
        rows.append(("Time to recover", f"{recovered_in:.1f}s"))
    else:
        rows.append(("Duration", f"{result.duration_seconds:.1f}s"))
    if result.failed_step is not None:
        step = result.failed_step
        rows.append(("Failed step", f"{step.describe()} ({step.status}): {step.message}"))
    if result.refused_reason:
        rows.append(("Refused", result.refused_reason))
    if result.outcome == "no_hosts":
        rows.append(("Hosts", "no host matched the inventory and the play's host pattern"))
    if result.error:
        rows.append(("Error", result.error))
    rows.append(("Artifacts", result.artifacts_dir))
    width = max(len(label) for label, _ in rows) + 1
    for label, value in rows:
        print(f"{label + ':':<{width}} {value}", file=stream)


def print_json(data: dict[str, Any], stream: TextIO) -> None:
    print(json.dumps(data, indent=2), file=stream, flush=True)


def configure_logging(verbose: int) -> None:
    """Send the package's log records to stderr, replacing the handler of an earlier call."""
    package_logger = logging.getLogger(__package__)
    for handler in list(package_logger.handlers):
        if handler.get_name() == LOG_HANDLER_NAME:
            package_logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(LOG_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def command_run(args: argparse.Namespace, stdout: TextIO) -> int:
    callback = None if args.json else StepPrinter(stdout)
    result = run_procedure(
        args.procedure,
        args.inventory if len(args.inventory) > 1 else args.inventory[0],
        dict(args.extravars),
        artifacts_root=args.artifacts_dir,
        check=args.check,
        verbosity=args.verbose,
        event_callback=callback,
    )
    if args.json:
        print_json(result.to_dict(), stdout)
    else:
        print_run_summary(result, stdout)
    return exit_code_for(result.outcome)


def command_drill(args: argparse.Namespace, stdout: TextIO) -> int:
    callback = None if args.json else StepPrinter(stdout)
    try:
        result: DrillResult = run_drill(
            args.scenario,
            keep=args.keep,
            artifacts_root=args.artifacts_dir,
            rebuild_image=args.rebuild_image,
            event_callback=callback,
            connection=args.connection,
        )
    except DrillError as exc:
        report_drill_error(args, exc, stdout)
        return EXIT_FAILED
    if args.json:
        print_json(result.to_dict(), stdout)
    else:
        print(f"Scenario:  {result.scenario}", file=stdout)
        print_run_summary(result.rollback, stdout, ttr_seconds=result.ttr_seconds)
        print(f"Drill artifacts: {result.artifacts_dir}", file=stdout)
        if result.container_kept:
            removal = f"podman rm --force {result.container}"
            print(f"Container kept: {result.container} (remove it with `{removal}`)", file=stdout)
    return exit_code_for(result.outcome)


def report_drill_error(args: argparse.Namespace, exc: DrillError, stdout: TextIO) -> None:
    if args.json:
        print_json(
            {
                "scenario": args.scenario,
                "outcome": "error",
                "error": str(exc),
                "ttr_seconds": None,
                "steps": [step.to_dict() for step in exc.run.steps] if exc.run else [],
                "setup": exc.run.to_dict() if exc.run else None,
                "artifacts_dir": exc.artifacts_dir,
            },
            stdout,
        )
    else:
        print(f"Drill {args.scenario} failed before the rollback: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Run the command line and return the exit code."""
    stdout = stdout or sys.stdout
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    handlers = {"run": command_run, "drill": command_drill}
    try:
        return handlers[args.command](args, stdout)
    except ConfigurationError as exc:
        return report_error(args, exc, stdout, EXIT_USAGE)
    except RollbackError as exc:
        return report_error(args, exc, stdout, EXIT_FAILED)
    except KeyboardInterrupt:
        print("promptlib-rollback: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def report_error(args: argparse.Namespace, exc: RollbackError, stdout: TextIO, code: int) -> int:
    if args.json:
        print_json({"outcome": "error", "error": str(exc), "artifacts_dir": None}, stdout)
    else:
        print(f"promptlib-rollback: error: {exc}", file=sys.stderr)
    return code
