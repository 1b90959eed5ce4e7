"""Database rollback: unavailability of swap against drop-and-recreate, and restore throughput."""

from __future__ import annotations

import logging
import time
from typing import Any

from .analysis import db_summary
from .target import Target

logger = logging.getLogger(__name__)

STRATEGIES = ("swap", "in_place")
RESTORE_METHODS = ("psql", "pg_restore-j1", "pg_restore-j2")
STORE = "/var/lib/promptlib-bench-db"
# Attempts the probe makes before and after a restore, so the outage has edges.
PROBE_MARGIN_SECONDS = 1.0


def generate(target: Target, size_mb: int) -> dict[str, int]:
    output = target.sh(f"bash {target.tool('database.sh')} generate {size_mb}", timeout=3600).stdout
    facts = dict(item.split("=") for item in output.split()[-4:])
    logger.info("Generated a %d MB database on %s: %s", size_mb, target.name, facts)
    return {key: int(value) for key, value in facts.items()}


def restore_with_module(target: Target, size_mb: int, strategy: str, label: str) -> dict[str, Any]:
    """Restore the plain backup with the pg_restore module while the database probe runs."""
    probe = target.start_probe("db", label, "--interval-ms 100 --timeout-ms 1000")
    time.sleep(PROBE_MARGIN_SECONDS)
    started = time.monotonic()
    result = target.run("bench/playbooks/db-restore.yml", {
        "bench_src": f"{STORE}/db-{size_mb}.sql",
        "bench_strategy": strategy,
        "bench_timestamp": label.replace("-", "_"),
    })
    seconds = time.monotonic() - started
    time.sleep(PROBE_MARGIN_SECONDS)
    records = target.stop_probe(probe)
    if not result.succeeded:
        raise RuntimeError(f"Restore {label} on {target.name} ended {result.outcome}: "
                           f"{result.error or result.failed_step}")
    module = (result.facts.get("bench_restore") or {}).get(target.name, {})
    target.sh(f"bash {target.tool('database.sh')} drop-kept")
    summary = db_summary(records)
    summary.update(seconds=round(seconds, 3), module_seconds=module.get("duration_seconds"))
    logger.info("%s: unavailable %.2f s, module %.1f s", label, summary["unavailable_seconds"],
                summary["module_seconds"] or -1)
    return summary


def restore_throughput(target: Target, size_mb: int, method: str) -> dict[str, Any]:
    output = target.sh(f"bash {target.tool('database.sh')} restore {method} {size_mb}", timeout=3600).stdout
    seconds, size_bytes = output.split()[-2:]
    seconds_value = float(seconds)
    megabytes = int(size_bytes) / 1024 / 1024
    result = {"seconds": round(seconds_value, 3), "database_mb": round(megabytes, 1),
              "mb_per_second": round(megabytes / seconds_value, 1)}
    logger.info("%s of %d MB: %s", method, size_mb, result)
    return result


def run(target: Target, sizes: list[int], runs: int) -> dict[str, Any]:
    """Measure every strategy and restore method at every size, interleaved per round."""
    results: dict[str, Any] = {}
    for size_mb in sizes:
        facts = generate(target, size_mb)
        per_size: dict[str, Any] = {"facts": facts, "strategies": {s: [] for s in STRATEGIES},
                                    "restore": {m: [] for m in RESTORE_METHODS}}
        for round_number in range(1, runs + 1):
            for strategy in STRATEGIES:
                label = f"db{size_mb}-{strategy}-{round_number}"
                per_size["strategies"][strategy].append(restore_with_module(target, size_mb, strategy, label))
            for method in RESTORE_METHODS:
                per_size["restore"][method].append(restore_throughput(target, size_mb, method))
        results[str(size_mb)] = per_size
    return results
