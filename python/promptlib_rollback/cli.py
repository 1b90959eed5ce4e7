"""Command line interface: ``promptlib-rollback run|drill|decide|diagnose|report``.

Every command calls the public API in :mod:`promptlib_rollback.api`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import textwrap
import threading
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any, Callable, TextIO

from . import __version__, api
from .artifacts import DEFAULT_KEEP_RUNS, KEEP_RUNS_ENV
from .drill import SCENARIOS
from .errors import ConfigurationError, DrillError, RollbackError
from .incident_cli import add_commands as add_incident_commands
from .incident_cli import command_decide, command_diagnose, command_report
from .procedures import PROCEDURES
from .progress import ProgressDisplay, format_step, is_terminal
from .results import DrillResult, RunResult

__all__ = ["EXIT_CODES", "build_parser", "exit_code_for", "format_step", "main"]

logger = logging.getLogger(__name__)

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NO_HOSTS = 4
EXIT_CANCELLED = 5
EXIT_INTERRUPTED = 130
EXIT_CODES = MappingProxyType(
    {
        "succeeded": EXIT_SUCCEEDED,
        "failed": EXIT_FAILED,
        "refused": EXIT_REFUSED,
        "no_hosts": EXIT_NO_HOSTS,
        "cancelled": EXIT_CANCELLED,
    }
)
LOG_HANDLER_NAME = "promptlib-rollback-cli"
DESCRIPTION_WIDTH = 79

EPILOG = f"""\
exit codes:
  0  the rollback succeeded and every host reported completion; for decide
     and report: the command printed its result; for diagnose: no issue found
  1  the rollback failed, or a drill could not be set up, or the command could
     not be carried out
  2  usage error: invalid arguments, unknown procedure, scenario or run id,
     missing inventory
  3  preflight refused the rollback before anything was changed
  4  no host matched the inventory and the play's host pattern
  5  run and drill: the run was cancelled (Ctrl-C or SIGTERM), because the
     first signal stops it before its next task and a second one at once
  6  diagnose: an issue type was found
  130  interrupted (Ctrl-C) outside a playbook run, for example while a drill
       container starts

environment:
  ADMIN_TOKEN                   admin API token, forwarded to the playbooks through the environment
  PROMPTLIB_ROLLBACK_ARTIFACTS  artifacts folder (default: artifacts/ in the collection)
  {KEEP_RUNS_ENV}  number of run folders kept (default: {DEFAULT_KEEP_RUNS}, 0 keeps all)
  PROMPTLIB_ROLLBACK_ROOT       collection folder (default: found above this package)
"""

# Extra-variable names that look like secrets. Values given with -e appear in
# the process list, so these must come through the environment instead.
SECRET_NAME = re.compile(r"token|password|passwd|passphrase|secret", re.IGNORECASE)


def parse_extravar(text: str) -> tuple[str, str]:
    """Parse one ``-e KEY=VALUE`` argument.

    Quotes around the whole value are removed, as ansible-playbook does, so
    ``-e "rollback_approved_by='Kim Example'"`` gives ``Kim Example`` with either.
    """
    key, separator, value = text.partition("=")
    key = key.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"invalid extra variable {text!r}: expected KEY=VALUE")
    if SECRET_NAME.search(key):
        raise argparse.ArgumentTypeError(
            f"extra variable {key!r} looks like a secret, and -e values are visible in the process list: "
            "export it as an environment variable instead (for the admin API token, ADMIN_TOKEN)"
        )
    return key, value


def parse_keep_runs(text: str) -> int:
    """Parse ``--keep-runs N``: a count of 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected a whole number, 0 keeps all") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid count {value}: expected 0 or more, 0 keeps all")
    return value


def _subparser(
    commands: Any, name: str, parents: list[argparse.ArgumentParser], summary: str, description: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        parents=parents,
        help=summary,
        # The raw formatter keeps the epilog's layout, so the description is wrapped here.
        description=textwrap.fill(description, width=DESCRIPTION_WIDTH),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _add_inventory_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i",
        "--inventory",
        action="append",
        required=True,
        metavar="INVENTORY",
        help="inventory file or folder, or a comma-separated host list such as 'web1,' (repeatable)",
    )
    parser.add_argument(
        "-e",
        "--extra-var",
        dest="extravars",
        action="append",
        default=[],
        type=parse_extravar,
        metavar="KEY=VALUE",
        help="extra variable passed to the playbook as a string (repeatable); not for secrets, "
        "which are visible in the process list",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promptlib-rollback",
        description="Run, drill and record the promptlib.rollback procedures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout and nothing else; logs and live progress go to stderr",
    )
    output.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log debug messages, and with run also raise ansible-playbook's verbosity (repeatable)",
    )
    artifacts = argparse.ArgumentParser(add_help=False)
    artifacts.add_argument(
        "--artifacts-dir",
        metavar="DIR",
        help="folder that holds one folder per run "
        "(default: $PROMPTLIB_ROLLBACK_ARTIFACTS, else artifacts/ in the collection)",
    )
    rotation = argparse.ArgumentParser(add_help=False)
    rotation.add_argument(
        "--keep-runs",
        type=parse_keep_runs,
        metavar="N",
        help=f"number of run folders kept in the artifacts folder after this run, counting this one; "
        f"older ones are removed; 0 keeps all (default: ${KEEP_RUNS_ENV}, else {DEFAULT_KEEP_RUNS})",
    )

    run = _subparser(
        commands,
        "run",
        [output, artifacts, rotation],
        "run a rollback procedure against an inventory",
        "Run a rollback procedure against an inventory. On a terminal a status line shows the step, host and "
        "elapsed time; otherwise each finished step is printed as one line.",
    )
    run.add_argument("procedure", metavar="PROCEDURE", choices=sorted(PROCEDURES), help="one of: %(choices)s")
    _add_inventory_options(run)
    run.add_argument("--check", action="store_true", help="run in check mode: report what would change, change nothing")

    drill = _subparser(
        commands,
        "drill",
        [output, artifacts, rotation],
        "drill a scenario in a podman container",
        "Deploy a failing release into a fresh drill container, roll it back and time the recovery.",
    )
    drill.add_argument("scenario", metavar="SCENARIO", choices=sorted(SCENARIOS), help="one of: %(choices)s")
    drill.add_argument(
        "--container",
        metavar="NAME",
        help="name of the drill container; an existing container of that name is replaced "
        "(default: promptlib-drill-SCENARIO-<6 random hex digits>, a new name each run)",
    )
    drill.add_argument("--keep", action="store_true", help="keep the container after the drill for inspection")
    drill.add_argument("--rebuild-image", action="store_true", help="rebuild the drill image even when it is current")

    # decide, diagnose and report share --json, -v and --artifacts-dir with the other commands.
    incident_common = argparse.ArgumentParser(add_help=False, parents=[output, artifacts])
    add_incident_commands(commands, incident_common, parse_extravar)
    return parser


def exit_code_for(outcome: str) -> int:
    return EXIT_CODES.get(outcome, EXIT_FAILED)


def print_run_summary(result: RunResult, stream: TextIO, *, ttr_seconds: float | None = None) -> None:
    rows: list[tuple[str, str]] = [("Run", f"{result.procedure} {result.run_id}"), ("Outcome", result.outcome)]
    if result.outcome == "succeeded":
        recovered_in = ttr_seconds if ttr_seconds is not None else result.duration_seconds
        rows.append(("Time to recover", f"{recovered_in:.1f}s"))
    else:
        rows.append(("Duration", f"{result.duration_seconds:.1f}s"))
    if result.check_mode:
        rows.append(("Mode", "check mode: nothing was changed"))
    if result.failed_step is not None:
        step = result.failed_step
        rows.append(("Failed step", f"{step.describe()} ({step.status}): {step.message}"))
    if result.cancelled_step is not None:
        step = result.cancelled_step
        rows.append(("Cancelled at", f"{step.describe()}: {step.message}"))
    if result.refused_reason:
        rows.append(("Refused", result.refused_reason))
    if result.outcome == "no_hosts":
        rows.append(("Hosts", "no host matched the inventory and the play's host pattern"))
    if result.error:
        rows.append(("Error", result.error))
    rows.extend(("Warning", warning) for warning in result.warnings)
    rows.append(("Artifacts", result.artifacts_dir))
    width = max(len(row[0]) for row in rows) + 1
    for label, value in rows:
        print(f"{label + ':':<{width}} {value}", file=stream)


def print_drill_summary(result: DrillResult, stream: TextIO) -> None:
    print(f"Scenario:  {result.scenario}", file=stream)
    print_run_summary(result.rollback, stream, ttr_seconds=result.ttr_seconds)
    print(f"Drill artifacts: {result.artifacts_dir}", file=stream)
    if result.container_kept:
        removal = f"podman rm --force {result.container}"
        print(f"Container kept: {result.container} (remove it with `{removal}`)", file=stream)


def print_json(data: dict[str, Any], stream: TextIO) -> None:
    print(json.dumps(data, indent=2), file=stream, flush=True)


def print_mapping(data: dict[str, Any], stream: TextIO) -> None:
    """Print a result without its own text form as ``key: value`` lines."""
    width = max((len(key) for key in data), default=0) + 1
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value)
        print(f"{key + ':':<{width}} {text}", file=stream)


def print_answer(value: Any, stream: TextIO, *, as_json: bool) -> None:
    """Print the result of decide, diagnose or report: JSON, its Markdown or text form, or its fields."""
    if as_json:
        print_json(api.as_dict(value), stream)
        return
    for method in ("to_markdown", "to_text"):
        render = getattr(value, method, None)
        if callable(render):
            print(str(render()).rstrip("\n"), file=stream)
            return
    print_mapping(api.as_dict(value), stream)


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


def progress_for(
    args: argparse.Namespace, stdout: TextIO, cancel_event: threading.Event, force_event: threading.Event
) -> ProgressDisplay:
    """Return the display of a run: on stdout, or on a terminal stderr with --json so stdout stays JSON."""
    if args.json:
        live = is_terminal(sys.stderr)
        return ProgressDisplay(sys.stderr, live=live, steps=False, cancel_event=cancel_event, force_event=force_event)
    return ProgressDisplay(stdout, live=is_terminal(stdout), cancel_event=cancel_event, force_event=force_event)


def _inventory_arg(args: argparse.Namespace) -> str | list[str]:
    inventory: list[str] = args.inventory
    return inventory if len(inventory) > 1 else inventory[0]


def command_run(args: argparse.Namespace, stdout: TextIO) -> int:
    cancel_event, force_event = threading.Event(), threading.Event()
    with progress_for(args, stdout, cancel_event, force_event) as display:
        result = api.run(
            args.procedure,
            _inventory_arg(args),
            dict(args.extravars),
            check=args.check,
            on_event=display,
            artifacts_root=args.artifacts_dir,
            keep_runs=args.keep_runs,
            verbosity=args.verbose,
            cancel_event=cancel_event,
            force_event=force_event,
        )
    if args.json:
        print_json(result.to_dict(), stdout)
    else:
        print_run_summary(result, stdout)
    return exit_code_for(result.outcome)


def command_drill(args: argparse.Namespace, stdout: TextIO) -> int:
    cancel_event, force_event = threading.Event(), threading.Event()
    try:
        with progress_for(args, stdout, cancel_event, force_event) as display:
            result = api.run_drill(
                args.scenario,
                keep=args.keep,
                container=args.container,
                on_event=display,
                artifacts_root=args.artifacts_dir,
                keep_runs=args.keep_runs,
                rebuild_image=args.rebuild_image,
                cancel_event=cancel_event,
                force_event=force_event,
            )
    except DrillError as exc:
        report_drill_error(args, exc, stdout)
        return EXIT_FAILED
    if args.json:
        print_json(result.to_dict(), stdout)
    else:
        print_drill_summary(result, stdout)
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


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "run": command_run,
    "drill": command_drill,
    "decide": command_decide,
    "diagnose": command_diagnose,
    "report": command_report,
}


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Run the command line and return the exit code."""
    stdout = stdout or sys.stdout
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return COMMANDS[args.command](args, stdout)
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
