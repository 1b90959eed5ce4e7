#!/usr/bin/env python3
"""Benchmark the collection's rollback against the runbook's commands, in drill containers.

Sections (all by default, or those named with --only):

  rollback   time to recover from a release that will not start: the runbook's
             commands as a script against the collection's full rollback through
             the Python wrapper, over the podman connection drills use and over
             SSH with pipelining, as production hosts are reached
  downtime   failed requests (20 per second through nginx) during a code-only
             rollback of a running release: runbook, default mode, zero-downtime mode
  database   database unavailability of swap against in_place restores at each
             --db-sizes, and restore throughput of psql against pg_restore
  fleet      the full rollback on 1 and on 4 containers, over podman and over SSH
  overhead   seconds per task over the podman, SSH and local connections, with
             and without pipelining, and the cost of gathering facts

Results go to bench/results/<time>/results.json and report.md. The containers
are named <prefix><role>, removed at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent / "python"))

from promptlib_bench import database, overhead, report  # noqa: E402
from promptlib_bench.rollback import Variant, interleave, run_collection, run_runbook  # noqa: E402
from promptlib_bench.target import Target, fleet_inventory  # noqa: E402
from promptlib_rollback.drill import build_image, podman_env  # noqa: E402
from promptlib_rollback.runner import run_playbook  # noqa: E402

logger = logging.getLogger("promptlib_bench")

SECTIONS = ("rollback", "downtime", "database", "fleet", "overhead")
# podman's rule for container names, so a bad prefix fails before any container starts.
CONTAINER_PREFIX = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
FLEET_SIZE = 4
# Extra variables of the drill setup for the downtime section: two pm2 cluster
# instances, so that pm2 reload can replace them one at a time.
CLUSTER_SETUP = {"drill_target_pm2_instances": 2}
# Turns the failing deployment of the downtime target into a code-only change:
# the failing release runs with the previous .env and nginx site.
CODE_ONLY_SCRIPT = """
set -e
cd /opt/prompt-library
cp -a .env.previous .env
cp -a /etc/nginx/sites-available/prompt-library.previous /etc/nginx/sites-available/prompt-library
nginx -t -q && systemctl reload nginx
pm2 delete all >/dev/null
pm2 start ecosystem.config.js >/dev/null
for _ in $(seq 1 60); do
  curl -fsS http://127.0.0.1/health | grep -q '"version":"1.5.0"' && exit 0
  sleep 0.5
done
echo "the failing release did not answer through nginx" >&2
exit 1
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="rounds per measurement (default: %(default)s)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections to run (default: all): " + ", ".join(SECTIONS))
    parser.add_argument("--db-sizes", default="100,1000", help="database sizes in MB (default: %(default)s)")
    parser.add_argument("--prefix", default=os.environ.get("BENCH_CONTAINER_PREFIX", "promptlib-bench-"),
                        help="container name prefix (default: $BENCH_CONTAINER_PREFIX or %(default)s)")
    parser.add_argument("--out", type=Path, help="results folder (default: bench/results/<UTC time>)")
    parser.add_argument("--keep", action="store_true", help="keep the containers at the end")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="only print the report of an earlier run's results.json, running nothing")
    args = parser.parse_args(argv)
    args.sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    if not args.sections:
        parser.error(f"--only {args.only!r} names no section: choose from {', '.join(SECTIONS)}")
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    if not CONTAINER_PREFIX.fullmatch(args.prefix):
        parser.error(f"invalid --prefix {args.prefix!r}: use letters, digits, '_', '.' and '-', starting with a "
                     "letter or digit, for example pl-bench-")
    sizes = [size.strip() for size in args.db_sizes.split(",") if size.strip()]
    if not sizes or not all(size.isdigit() and int(size) > 0 for size in sizes):
        parser.error(f"invalid --db-sizes {args.db_sizes!r}: give sizes in MB above 0, for example 100,1000")
    args.sizes = [int(size) for size in sizes]
    return args


def machine_facts() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout.strip(),
        "kernel": platform.release(),
        "load_average_start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def rollback_variants() -> list[Variant]:
    return [
        Variant("runbook", "runbook commands as a script (operator mode)", run_runbook),
        Variant("collection", "collection, full rollback, Python wrapper over podman", run_collection),
        Variant("collection-ssh", "collection, full rollback, Python wrapper over SSH (pipelining on)",
                lambda target: run_collection(target, connection="ssh")),
    ]


def section_rollback(target: Target, args: argparse.Namespace, save) -> dict:
    target.rearm()
    literal = run_runbook(target, mode="literal")
    variants = rollback_variants()
    section = {"literal_runbook": literal, "variants": {}, "labels": {v.key: v.label for v in variants}}

    def save_partial(results: dict) -> None:
        section["variants"] = results
        save("rollback", section)

    section["variants"] = interleave(target, variants, args.runs, save_partial)
    return section


def section_downtime(target: Target, args: argparse.Namespace, save) -> dict:
    variants = [
        Variant("runbook", "runbook commands as a script (operator mode)", run_runbook),
        Variant("default", "collection, default mode (stop, switch, start)", run_collection),
        Variant("zero-downtime", "collection, promptlib_zero_downtime: true",
                lambda t: run_collection(t, extravars={"promptlib_zero_downtime": True})),
    ]
    section = {"variants": {}, "labels": {v.key: v.label for v in variants}}

    def save_partial(results: dict) -> None:
        section["variants"] = results
        save("downtime", section)

    section["variants"] = interleave(target, variants, args.runs, save_partial)
    return section


def rearm_all(targets: list[Target]) -> None:
    errors: list[BaseException] = []

    def rearm(target: Target) -> None:
        try:
            target.rearm()
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=rearm, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def section_fleet(targets: list[Target], args: argparse.Namespace, workdir: Path) -> dict:
    inventories = {(connection, size): fleet_inventory(workdir / f"fleet-{connection}-{size}.yml", targets[:size],
                                                       connection=connection)
                   for connection in ("podman", "ssh") for size in (1, FLEET_SIZE)}
    results: dict[str, dict[str, list]] = {"podman": {"1": [], str(FLEET_SIZE): []},
                                           "ssh": {"1": [], str(FLEET_SIZE): []}}
    for _round in range(args.runs):
        for (connection, size), inventory in inventories.items():
            rearm_all(targets[:size])
            result = run_playbook(Path(__file__).resolve().parent.parent / "playbooks/rollback-full.yml",
                                  inventory, artifacts_root=workdir / "artifacts", envvars=targets[0].envvars())
            if not result.succeeded:
                raise RuntimeError(f"Fleet rollback on {size} hosts over {connection} ended {result.outcome}: "
                                   f"{result.error}")
            results[connection][str(size)].append({"seconds": result.duration_seconds,
                                                   "load_average": os.getloadavg()[0]})
            logger.info("fleet of %d over %s: %.1f s", size, connection, result.duration_seconds)
    return results


def setup_fleet(targets: list[Target], workdir: Path) -> None:
    """Set up every container of the fleet with one playbook run, then save each state."""
    inventory = fleet_inventory(workdir / "fleet-setup.yml", targets)
    result = run_playbook(Path(__file__).resolve().parent.parent / "playbooks/drill-setup.yml", inventory,
                          {"drill_target_fault": "wont-start"}, artifacts_root=workdir / "artifacts",
                          envvars=targets[0].envvars())
    if not result.succeeded:
        raise RuntimeError(f"Fleet setup ended {result.outcome}: {result.error or result.failed_step}")
    for target in targets:
        target.sh(f"bash {target.tool('rearm.sh')} save")
        target.saved_fingerprint = target.fingerprint()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        try:
            print(report.render(json.loads(args.render.read_text(encoding="utf-8"))), end="")
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(f"Cannot render {args.render}: {type(error).__name__}: {error}. Give the results.json "
                  "that a bench run wrote in bench/results/<time>/.", file=sys.stderr)
            return 2
        return 0
    # SIGTERM ends the run through the cleanup below, as Ctrl-C does, so no container is left behind.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    workdir = (args.out or BENCH_DIR / "results" / stamp).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    env = podman_env()
    build_image(BENCH_DIR.parent, env=env)
    token = os.environ.get("ADMIN_TOKEN") or secrets.token_urlsafe(24)
    results: dict = {"machine": machine_facts(), "runs": args.runs, "started": stamp, "sections": {}}
    command = "make bench" if not argv and len(sys.argv) == 1 else "bench/run.py " + " ".join(argv or sys.argv[1:])
    results["command"] = command

    def save(name: str, section: dict) -> None:
        results["sections"][name] = section
        (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    def new_target(role: str) -> Target:
        target = Target(f"{args.prefix}{role}", workdir, token, env=env)
        target.start()
        target.enable_ssh()
        return target

    targets: list[Target] = []
    try:
        if "rollback" in args.sections or "fleet" in args.sections:
            main_target = new_target("a")
            targets.append(main_target)
            if "rollback" in args.sections:
                main_target.setup("wont-start")
                results["sections"]["rollback"] = section_rollback(main_target, args, save)
            if "fleet" in args.sections:
                fleet = [main_target]
                for index in range(2, FLEET_SIZE + 1):
                    fleet.append(new_target(f"fleet{index}"))
                    targets.append(fleet[-1])
                # The main container is already set up when the rollback section ran.
                setup_fleet(fleet[1:] if "rollback" in args.sections else fleet, workdir)
                results["sections"]["fleet"] = section_fleet(fleet, args, workdir)
                for target in fleet[1:]:
                    if not args.keep:
                        target.remove()
                        targets.remove(target)
        if "downtime" in args.sections:
            downtime_target = new_target("zd")
            targets.append(downtime_target)
            downtime_target.setup("fails-validation", CLUSTER_SETUP)
            downtime_target.sh(CODE_ONLY_SCRIPT)
            downtime_target.sh(f"bash {downtime_target.tool('rearm.sh')} save")
            downtime_target.saved_fingerprint = downtime_target.fingerprint()
            results["sections"]["downtime"] = section_downtime(downtime_target, args, save)
        if "overhead" in args.sections:
            # Any drill container will do: the timed tasks only run /bin/true.
            overhead_target = targets[0] if targets else new_target("a")
            if overhead_target not in targets:
                targets.append(overhead_target)
            results["sections"]["overhead"] = overhead.run(overhead_target, args.runs, workdir)
        if "database" in args.sections:
            db_target = next((t for t in targets if t.name.endswith("-a")), None) or new_target("a")
            if db_target not in targets:
                targets.append(db_target)
                db_target.setup("none")
            results["sections"]["database"] = database.run(db_target, args.sizes, args.runs)
    finally:
        results["machine"]["load_average_end"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
        results["finished"] = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        if not args.keep:
            for target in targets:
                target.remove()
    (workdir / "report.md").write_text(report.render(results), encoding="utf-8")
    print(report.render(results))
    print(f"\nResults: {workdir}/results.json and report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
