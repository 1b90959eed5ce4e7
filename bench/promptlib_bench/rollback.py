"""Time to recover and downtime: the collection's full rollback against the runbook's commands."""

from __future__ import annotations

import logging
import os
import resource
import time
from dataclasses import dataclass
from typing import Any, Callable

from .analysis import http_summary, runbook_steps
from .target import Target

logger = logging.getLogger(__name__)

GOOD_VERSION = "1.4.0"
# Requests the probe keeps sending after a run, so a late failure is still seen.
SETTLE_SECONDS = 1.5
RUNBOOK_TIMEOUT_SECONDS = 900
# A request without a response within this time counts as failed.
PROBE_TIMEOUT_SECONDS = 5


@dataclass
class Variant:
    """One way of rolling back, timed from its start to its end."""

    key: str
    label: str
    run: Callable[[Target], dict[str, Any]]


def run_collection(target: Target, *, extravars: dict[str, Any] | None = None,
                   playbook: str = "playbooks/rollback-full.yml", connection: str = "podman") -> dict[str, Any]:
    result = target.run(playbook, extravars, inventory=target.ssh_inventory if connection == "ssh" else None)
    if not result.succeeded:
        raise RuntimeError(f"Rollback on {target.name} ended {result.outcome}: {result.error or result.failed_step}")
    steps = [{"role": step.role, "task": step.task, "status": step.status, "seconds": step.duration_seconds}
             for step in result.steps]
    return {"seconds": result.duration_seconds, "steps": steps}


def run_runbook(target: Target, mode: str = "operator") -> dict[str, Any]:
    started = time.monotonic()
    completed = target.sh(f"bash {target.tool('runbook-full-rollback.sh')}", check=False,
                          timeout=RUNBOOK_TIMEOUT_SECONDS,
                          env={"RUNBOOK_MODE": mode, "ADMIN_TOKEN": target.admin_token})
    seconds = time.monotonic() - started
    steps, failed = runbook_steps(completed.stdout)
    if mode == "operator" and completed.returncode != 0:
        raise RuntimeError(f"The runbook baseline did not bring {target.name} back ({completed.returncode}): "
                           f"{failed}\n{completed.stderr[-2000:]}")
    return {"seconds": round(seconds, 3), "runbook_steps": steps, "failed_commands": failed,
            "exit_status": completed.returncode}


def controller_cpu_seconds() -> float:
    """Return the CPU seconds of this process and of the children it has waited for (ansible-playbook, podman)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(target: Target, variant: Variant, label: str) -> dict[str, Any]:
    """Rearm ``target``, run ``variant`` with the HTTP probe running, and summarize both.

    Besides wall time, it records the CPU seconds the run used in the container (less the
    probe's) and on the controller, which do not depend on how busy the machine was.
    """
    target.rearm()
    probe = target.start_probe("http", label, f"--rate 20 --timeout {PROBE_TIMEOUT_SECONDS}")
    container_before, probe_before = target.cpu_seconds(probe)
    controller_before = controller_cpu_seconds()
    start = time.time()
    try:
        outcome = variant.run(target)
    except RuntimeError as error:
        # A failed run is a result too: keep it and go on with the other rounds.
        logger.error("%s %s failed: %s", variant.key, label, str(error)[-2000:])
        outcome = {"seconds": round(time.time() - start, 3), "error": str(error)[-2000:]}
    finally:
        end = time.time()
        controller_after = controller_cpu_seconds()
        container_after, probe_after = target.cpu_seconds(probe)
        time.sleep(SETTLE_SECONDS)
        records = target.stop_probe(probe)
    outcome["container_cpu_seconds"] = round(container_after - container_before - (probe_after - probe_before), 2)
    outcome["controller_cpu_seconds"] = round(controller_after - controller_before, 2)
    outcome.update(http_summary(records, start, end, GOOD_VERSION))
    outcome["load_average"] = os.getloadavg()[0]
    logger.info("%s %s: %.1f s, %d failed requests, healthy after %s s", variant.key, label,
                outcome["seconds"], outcome["failed"], outcome["healthy_after"])
    return outcome


Results = dict[str, list[dict[str, Any]]]


def interleave(target: Target, variants: list[Variant], runs: int,
               save: Callable[[Results], None] | None = None) -> Results:
    """Run every variant once per round, ``runs`` rounds, so that load changes hit them all alike.

    ``save`` receives the results so far after each run, so an interrupted benchmark keeps them.
    """
    results: Results = {variant.key: [] for variant in variants}
    for round_number in range(1, runs + 1):
        for variant in variants:
            results[variant.key].append(measure(target, variant, f"{variant.key}-{round_number}"))
            if save is not None:
                save(results)
    return results
