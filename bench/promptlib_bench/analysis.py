"""Turn probe records and timings into the figures BENCHMARKS.md reports."""

from __future__ import annotations

import statistics
from typing import Any, Iterable


def median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def spread(values: Iterable[float | None]) -> tuple[float, float] | None:
    present = [value for value in values if value is not None]
    return (min(present), max(present)) if present else None


def http_summary(records: list[dict[str, Any]], start: float, end: float, good_version: str) -> dict[str, Any]:
    """Summarize HTTP probe records around a rollback that ran from ``start`` to ``end`` (epoch seconds).

    ``failed`` counts the requests sent while the rollback ran that did not get
    a 200 response. Of those, ``timed_out`` got no response within the probe's
    timeout, which on an overloaded machine happens without any rollback, and
    ``refused`` got an error response or a refused or reset connection, which
    is what a stopped application causes. ``healthy_after`` is the time from
    ``start`` until every later request got a 200 response with ``good_version``, or
    None when the last ones did not.
    """
    during = [record for record in records if start <= record["t"] <= end]
    failed = [record for record in during if record["status"] != 200]
    timed_out = [record for record in failed if "timed out" in (record.get("error") or "")]
    healthy_from = None
    for record in sorted(records, key=lambda item: item["t"]):
        good = record["status"] == 200 and record.get("version") == good_version
        if not good:
            healthy_from = None
        elif healthy_from is None:
            healthy_from = record["t"]
    return {
        "requests": len(during),
        "failed": len(failed),
        "timed_out": len(timed_out),
        "refused": len(failed) - len(timed_out),
        "healthy_after": None if healthy_from is None else round(max(0.0, healthy_from - start), 3),
        "errors": sorted({record.get("error") or f"HTTP {record['status']}" for record in failed})[:5],
        # When each failed request was sent, in seconds after the start, to place the failures in the run.
        "failed_at": [round(record["t"] - start, 2) for record in failed][:100],
    }


def db_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarize database probe records: the longest outage and the failed attempts.

    An outage runs from the start of the first failed attempt to the start of
    the next successful one, so its resolution is the probe interval.
    """
    ordered = sorted(records, key=lambda item: item["t"])
    longest = 0.0
    outage_start = None
    for record in ordered:
        if not record["ok"]:
            if outage_start is None:
                outage_start = record["t"]
        elif outage_start is not None:
            longest = max(longest, record["t"] - outage_start)
            outage_start = None
    still_down = outage_start is not None
    if still_down and ordered:
        longest = max(longest, ordered[-1]["t"] - outage_start)
    return {
        "attempts": len(ordered),
        "failed": sum(1 for record in ordered if not record["ok"]),
        "unavailable_seconds": round(longest, 3),
        "ended_down": still_down,
        "errors": sorted({record["error"] for record in ordered if record.get("error")})[:5],
    }


def runbook_steps(output: str) -> tuple[dict[str, float], list[str]]:
    """Parse the baseline script's "@step" and "@rc" lines into step durations and failed commands."""
    starts: dict[str, float] = {}
    durations: dict[str, float] = {}
    failed = []
    for line in output.splitlines():
        parts = line.split(" ", 3)
        if parts[0] == "@step" and len(parts) == 4:
            name, edge, moment = parts[1], parts[2], float(parts[3])
            if edge == "start":
                starts[name] = moment
            elif name in starts:
                durations[name] = round(moment - starts[name], 3)
        elif parts[0] == "@rc" and len(parts) >= 3 and parts[1] != "0":
            failed.append(line.split(" ", 2)[2] + f" (exit {parts[1]})")
    return durations, failed


def format_seconds(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for unused in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
