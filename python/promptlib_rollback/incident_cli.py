"""Subcommands ``decide``, ``diagnose`` and ``report`` of the promptlib-rollback command."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .decision import Decision, decide, decide_all, rollback_command
from .diagnosis import Diagnosis, diagnose
from .report import load_report, render_markdown

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_HOSTS = 4
EXIT_ISSUE_FOUND = 6

DIAGNOSE_EPILOG = """\
exit codes:
  0  the signals show no issue
  1  the diagnosis could not run on every host
  2  usage error
  4  no host matched the inventory
  6  the signals show an issue; the output names its type and evidence
"""

Handler = Callable[[argparse.Namespace, TextIO], int]


def add_commands(
    commands: Any, common: argparse.ArgumentParser, parse_extravar: Callable[[str], tuple[str, str]]
) -> dict[str, Handler]:
    """Add the decide, diagnose and report subparsers and return their handlers by name."""
    decide_parser = commands.add_parser(
        "decide",
        parents=[common],
        help="show the decision matrix row for an issue type",
        description="Show the decision matrix row for an issue type: severity, rollback type, decision time, "
        "playbook and who may decide it. Without ISSUE_TYPE, show every row.",
    )
    decide_parser.add_argument("issue_type", metavar="ISSUE_TYPE", nargs="?", help="for example application-wont-start")

    diagnose_parser = commands.add_parser(
        "diagnose",
        parents=[common],
        help="measure the signals of the decision matrix on the hosts and name the issue type",
        description="Measure the signals of the decision matrix on every host and name the issue type they point to, "
        "with the evidence.",
        epilog=DIAGNOSE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diagnose_parser.add_argument(
        "-i", "--inventory", action="append", required=True, metavar="INVENTORY",
        help="inventory file or folder, or a comma-separated host list (repeatable)",
    )
    diagnose_parser.add_argument(
        "-e", "--extra-var", dest="extravars", action="append", default=[], type=parse_extravar, metavar="KEY=VALUE",
        help="extra variable passed to the playbook as a string (repeatable), not for secrets",
    )
    diagnose_parser.add_argument(
        "--record-baseline", action="store_true",
        help="record the measured response time as the baseline on each healthy host",
    )

    report_parser = commands.add_parser(
        "report",
        parents=[common],
        help="print the incident report of a run",
        description="Print the incident report of a run again, in Markdown or with --json as JSON.",
    )
    report_parser.add_argument("run_id", metavar="RUN_ID", help="the run id, such as 20250101T120000Z-1a2b3c4d")
    return {"decide": command_decide, "diagnose": command_diagnose, "report": command_report}


# ----- decide -----


def format_decision(decision: Decision) -> list[str]:
    authority = decision.authority
    approval = "an approval is required" if authority["approval_required"] else "no recorded approval needed"
    estimate = decision.estimated_minutes
    rows = [
        ("Issue", f"{decision.issue} ({decision.issue_type})"),
        ("Severity", decision.severity),
        ("Rollback type", decision.rollback_type),
        ("Decide within", f"{decision.max_decision_minutes} minutes"),
        ("Procedure", f"{decision.procedure} ({decision.playbook})"
         + ("" if decision.playbook_present else ", not in this copy of the collection")),
        ("Authority", f"{authority['name']}: {', '.join(authority['roles'])}; {approval}"),
    ]
    if decision.trigger:
        rows.append(("Trigger", f"{decision.trigger['signal']} above {decision.trigger['above']}"))
    if estimate:
        rows.append(("Estimated time", f"{estimate[0]}-{estimate[1]} minutes"))
    if not decision.rollback:
        rows.append(("No rollback", decision.no_rollback_reason or ""))
    rows.append(("Run it with", rollback_command(decision)))
    width = max(len(label) for label, unused in rows) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in rows]


def command_decide(args: argparse.Namespace, stdout: TextIO) -> int:
    # An empty issue type (`decide ''`) is an error like any unknown one, not a request for every row.
    if args.issue_type is not None:
        decisions = [decide(args.issue_type)]
    else:
        decisions = decide_all()
    if args.json:
        data: Any = decisions[0].to_dict() if args.issue_type is not None else [item.to_dict() for item in decisions]
        print(json.dumps(data, indent=2), file=stdout)
        return EXIT_OK
    for index, decision in enumerate(decisions):
        if index:
            print(file=stdout)
        print("\n".join(format_decision(decision)), file=stdout)
    return EXIT_OK


# ----- diagnose -----


def print_diagnosis(result: Diagnosis, stdout: TextIO, inventories: Sequence[str] = ("INVENTORY",)) -> None:
    for host, host_result in sorted(result.hosts.items()):
        print(f"{host}: {host_result.get('issue_type') or 'no issue found'}", file=stdout)
        for finding in host_result.get("findings") or []:
            print(f"  {finding['issue_type']} ({finding['severity']}):", file=stdout)
            for line in finding.get("evidence") or []:
                print(f"    - {line}", file=stdout)
        print("  measured:", file=stdout)
        for issue_type, measured in (host_result.get("measurements") or {}).items():
            print(f"    {issue_type}: {measured}", file=stdout)
        undetectable = host_result.get("not_detectable") or []
        if undetectable:
            print(f"  not detectable from these signals: {', '.join(undetectable)}", file=stdout)
    if result.run.outcome != "succeeded":
        print(f"Diagnosis incomplete: {result.run.error or result.run.outcome}", file=stdout)
    if result.issue_type:
        decision = decide(result.issue_type)
        print(f"Issue type: {result.issue_type}", file=stdout)
        print(f"Decision:   {decision.rollback_type} ({decision.severity}), decide within "
              f"{decision.max_decision_minutes} minutes", file=stdout)
        print(f"Run it with: {rollback_command(decision, inventories)}", file=stdout)
    else:
        print("Issue type: none found", file=stdout)
    print(f"Artifacts: {result.run.artifacts_dir}", file=stdout)


def command_diagnose(args: argparse.Namespace, stdout: TextIO) -> int:
    result = diagnose(
        args.inventory if len(args.inventory) > 1 else args.inventory[0],
        dict(args.extravars),
        record_baseline=args.record_baseline,
        artifacts_root=args.artifacts_dir,
        verbosity=args.verbose,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2), file=stdout)
    else:
        print_diagnosis(result, stdout, args.inventory)
    if result.run.outcome == "no_hosts":
        return EXIT_NO_HOSTS
    if result.run.outcome != "succeeded":
        return EXIT_FAILED
    return EXIT_ISSUE_FOUND if result.issue_type else EXIT_OK


# ----- report -----


def command_report(args: argparse.Namespace, stdout: TextIO) -> int:
    report = load_report(args.run_id, args.artifacts_dir)
    if args.json:
        print(json.dumps(report, indent=2), file=stdout)
    else:
        stdout.write(render_markdown(report))
    return EXIT_OK
