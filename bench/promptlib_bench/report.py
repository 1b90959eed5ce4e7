"""Render the benchmark results as the Markdown tables of BENCHMARKS.md."""

from __future__ import annotations

from typing import Any

from .analysis import format_seconds, markdown_table, median, spread

TTR_TARGET_SECONDS = 20.0
TTR_TARGET_RATIO = 5.0
DB_TARGET_SECONDS = 2.0
FLEET_TARGET_RATIO = 1.5
# The rollback section's variants that run the collection, and the connection each uses.
COLLECTION_VARIANTS = {"collection": "podman", "collection-ssh": "SSH"}


def met(condition: bool | None) -> str:
    if condition is None:
        return "n/a"
    return "met" if condition else "NOT met"


def range_text(values: list[float | None], digits: int = 1) -> str:
    bounds = spread(values)
    if bounds is None:
        return "n/a"
    return f"{bounds[0]:.{digits}f} to {bounds[1]:.{digits}f}"


def render_rollback(section: dict[str, Any]) -> list[str]:
    variants = section["variants"]
    labels = section["labels"]
    baseline = median(run["seconds"] for run in variants.get("runbook", []) if "error" not in run)
    rows = []
    for key, all_runs in variants.items():
        runs = [run for run in all_runs if "error" not in run]
        if not runs:
            continue
        seconds = median(run["seconds"] for run in runs)
        healthy = median(run["healthy_after"] for run in runs)
        ratio = baseline / seconds if baseline and seconds else None
        failed_runs = len(all_runs) - len(runs)
        label = labels.get(key, key) + (f" ({failed_runs} of {len(all_runs)} runs failed)" if failed_runs else "")
        rows.append([label, format_seconds(seconds), range_text([r["seconds"] for r in runs]),
                     format_seconds(healthy), "n/a" if ratio is None else f"{ratio:.2f}x",
                     format_seconds(median(run.get("container_cpu_seconds") for run in runs)),
                     format_seconds(median(run.get("controller_cpu_seconds") for run in runs)),
                     format_seconds(median(run["load_average"] for run in runs), 2)])
    lines = ["## Time to recover: app-failure, full rollback", "",
             markdown_table(["how", "median s", "range s", "healthy through nginx after (median s)",
                             "runbook time / this", "CPU s in container", "CPU s on controller",
                             "load (1 min)"], rows), ""]
    baseline_healthy = median(run["healthy_after"] for run in variants.get("runbook", []) if "error" not in run)
    for key, connection in COLLECTION_VARIANTS.items():
        runs = [run for run in variants.get(key, []) if "error" not in run]
        ours = median(run["seconds"] for run in runs)
        healthy = median(run["healthy_after"] for run in runs)
        if baseline and ours and baseline_healthy and healthy:
            healthy_ratio = baseline_healthy / healthy
            lines += [f"Over {connection}, until healthy through nginx: target under {TTR_TARGET_SECONDS:.0f} s "
                      f"{met(healthy < TTR_TARGET_SECONDS)} ({healthy:.1f} s), target at least "
                      f"{TTR_TARGET_RATIO:.0f}x faster than the runbook {met(healthy_ratio >= TTR_TARGET_RATIO)} "
                      f"({healthy_ratio:.2f}x). Whole run, with validation and the last log preservation: "
                      f"under {TTR_TARGET_SECONDS:.0f} s {met(ours < TTR_TARGET_SECONDS)} ({ours:.1f} s), "
                      f"{TTR_TARGET_RATIO:.0f}x {met(baseline / ours >= TTR_TARGET_RATIO)} ({baseline / ours:.2f}x).",
                      ""]
    lines += runbook_step_lines(variants.get("runbook", []))
    for key, connection in COLLECTION_VARIANTS.items():
        lines += role_lines(variants.get(key, []), connection)
    literal = section.get("literal_runbook")
    if literal:
        failed = literal.get("failed_commands") or ["none"]
        lines += [f"The runbook run literally (one shell, as written) took {literal['seconds']:.1f} s, exited "
                  f"{literal['exit_status']}, and these commands failed: " + "; ".join(f"`{c}`" for c in failed)
                  + ".", ""]
    return lines


def runbook_step_lines(runs: list[dict[str, Any]]) -> list[str]:
    """Summarize the median duration of each runbook step."""
    steps: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in run.get("runbook_steps", {}).items():
            steps.setdefault(name, []).append(seconds)
    if not steps:
        return []
    return ["Runbook steps (median s; npm_ci is also part of restore_code): " + ", ".join(
        f"{name} {format_seconds(median(values))}" for name, values in steps.items()) + ".", ""]


def role_lines(runs: list[dict[str, Any]], connection: str) -> list[str]:
    """Summarize the median time of each role, from the task durations of the collection's runs."""
    roles: dict[str, list[float]] = {}
    for run in runs:
        per_role: dict[str, float] = {}
        for step in run.get("steps", []):
            role = step["role"] or "playbook"
            per_role[role] = per_role.get(role, 0.0) + (step["seconds"] or 0.0)
        for role, seconds in per_role.items():
            roles.setdefault(role, []).append(seconds)
    if not roles:
        return []
    tasks = median(len(run.get("steps", [])) for run in runs)
    return [f"Collection over {connection}, seconds per role (median of the sums of task durations, {tasks:.0f} task "
            "results per run): " + ", ".join(f"{role} {format_seconds(median(values))}"
                                             for role, values in roles.items()) + ".", ""]


def render_downtime(section: dict[str, Any]) -> list[str]:
    rows = []
    for key, all_runs in section["variants"].items():
        runs = [run for run in all_runs if "error" not in run]
        if not runs:
            continue
        failed = [run["failed"] for run in runs]
        refused = [run.get("refused", 0) for run in runs]
        rows.append([section["labels"].get(key, key), format_seconds(median(failed), 0),
                     f"{min(failed)} to {max(failed)}", format_seconds(median(refused), 0),
                     f"{min(refused)} to {max(refused)}",
                     format_seconds(median(run["requests"] for run in runs), 0),
                     format_seconds(median(run["seconds"] for run in runs)),
                     format_seconds(median(run["load_average"] for run in runs), 2)])
    zero = section["variants"].get("zero-downtime")
    lines = ["## Downtime: code-only rollback of a running release, 20 requests/s through nginx", "",
             markdown_table(["how", "failed requests (median)", "range", "of which refused or 5xx (median)",
                             "range", "requests sent (median)", "rollback median s", "load (1 min)"], rows), ""]
    if zero:
        lines += [f"Target zero failed requests in zero-downtime mode: "
                  f"{met(max(run['failed'] for run in zero) == 0)} "
                  f"(at most {max(run['failed'] for run in zero)} failed, "
                  f"{max(run.get('refused', 0) for run in zero)} of them refused or 5xx).", ""]
    return lines


def render_database(section: dict[str, Any]) -> list[str]:
    lines = ["## Database rollback", ""]
    rows = []
    swap_medians = []
    for size, data in section.items():
        facts = data["facts"]
        for strategy, runs in data["strategies"].items():
            unavailable = median(run["unavailable_seconds"] for run in runs)
            if strategy == "swap":
                swap_medians.append(unavailable)
            rows.append([f"{facts['database_bytes'] / 1024 / 1024:.0f} MB", strategy, format_seconds(unavailable, 2),
                         range_text([run["unavailable_seconds"] for run in runs], 2),
                         format_seconds(median(run["module_seconds"] for run in runs))])
    lines += [markdown_table(["database", "strategy", "unavailable (median s)", "range s", "restore module (median s)"],
                             rows), ""]
    if swap_medians:
        flat = max(swap_medians) <= 2 * min(swap_medians) + 0.2 if min(swap_medians) is not None else None
        lines += [f"Target swap under {DB_TARGET_SECONDS:.0f} s: {met(max(swap_medians) < DB_TARGET_SECONDS)}; "
                  f"flat in size (largest median at most twice the smallest plus 0.2 s): {met(flat)}.", ""]
    rows = []
    for size, data in section.items():
        for method, runs in data["restore"].items():
            rows.append([f"{data['facts']['database_bytes'] / 1024 / 1024:.0f} MB", method,
                         format_seconds(median(run["seconds"] for run in runs)),
                         format_seconds(median(run["mb_per_second"] for run in runs))])
    lines += ["Restore throughput into an empty database:", "",
              markdown_table(["database", "method", "median s", "median MB/s"], rows), ""]
    return lines


def render_fleet(section: dict[str, Any]) -> list[str]:
    # Results with podman rows only keep the sizes at the top level.
    by_connection = {"podman": section} if "1" in section else section
    rows = []
    verdicts = []
    for connection, sizes in by_connection.items():
        if not sizes.get("1"):
            continue
        one_host = median(run["seconds"] for run in sizes["1"])
        fleet_key = next(key for key in sizes if key != "1")
        fleet = median(run["seconds"] for run in sizes[fleet_key])
        rows += [[connection, key, format_seconds(median(run["seconds"] for run in runs)),
                  range_text([run["seconds"] for run in runs]),
                  format_seconds(median(run["load_average"] for run in runs), 2)] for key, runs in sizes.items()]
        ratio = fleet / one_host if one_host and fleet else None
        verdicts.append(f"Over {connection}, {fleet_key} hosts / 1 host: {format_seconds(ratio, 2)}x. Target at most "
                        f"{FLEET_TARGET_RATIO}x: {met(ratio <= FLEET_TARGET_RATIO if ratio else None)}.")
    return ["## Fleet: full rollback on 1 and on 4 drill containers", "",
            markdown_table(["connection", "hosts", "median s", "range s", "load (1 min)"], rows), "",
            *verdicts, ""]


def render_overhead(section: dict[str, Any]) -> list[str]:
    rows = []
    for name, data in section.items():
        if name == "fact gathering":
            continue
        rows.append([name, format_seconds(median(data["per_task"]), 3), range_text(data["per_task"], 3),
                     format_seconds(median(data["empty"]), 2)])
    facts = median(section["fact gathering"]["seconds"])
    facts_min = median(section["fact gathering"].get("min_seconds", []))
    return ["## Controller overhead", "",
            markdown_table(["connection", "s per task (median)", "range", "empty play s (median)"], rows), "",
            f"Gathering all facts once over podman: {format_seconds(facts, 2)} s per host; the `min` subset "
            f"{format_seconds(facts_min, 2)} s. The playbooks set gather_facts: false and ansible.cfg sets "
            "gathering = explicit, so a rollback gathers none.", ""]


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [f"Run {results['started']} to {results.get('finished', '?')}, rounds: {results['runs']}, "
             f"`{results['command']}`.", "",
             f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), kernel {machine['kernel']}, "
             f"load average {machine['load_average_start']} at the start and "
             f"{machine.get('load_average_end', '?')} at the end.", "", "```", machine["memory"], "```", ""]
    renderers = {"rollback": render_rollback, "downtime": render_downtime, "database": render_database,
                 "fleet": render_fleet, "overhead": render_overhead}
    for name, renderer in renderers.items():
        if name in results["sections"]:
            lines += renderer(results["sections"][name])
    if "fleet" in results["sections"] and "rollback" in results["sections"]:
        fleet = results["sections"]["fleet"]
        sizes = fleet if "1" in fleet else next(iter(fleet.values()))
        hosts = max(int(key) for key in sizes)
        lines += cpu_floor_lines(results["sections"]["rollback"], hosts, int(machine["nproc"]))
    return "\n".join(lines) + "\n"


def cpu_floor_lines(rollback: dict[str, Any], hosts: int, cores: int) -> list[str]:
    """Estimate the shortest time for ``hosts`` rollbacks that ``cores`` allow, from one-host CPU seconds."""
    lines = []
    for key, connection in COLLECTION_VARIANTS.items():
        runs = [run for run in rollback["variants"].get(key, []) if "error" not in run]
        wall = median(run["seconds"] for run in runs)
        cpu = median((run.get("container_cpu_seconds") or 0) + (run.get("controller_cpu_seconds") or 0)
                     for run in runs)
        if not wall or not cpu:
            continue
        floor = hosts * cpu / cores
        lines.append(f"CPU floor over {connection}: one rollback uses {cpu:.1f} CPU s (container and controller), "
                     f"so {hosts} need at least {floor:.1f} s on {cores} cores, {floor / wall:.2f}x the one-host "
                     f"run of {wall:.1f} s in the rollback section.")
    return lines + [""] if lines else []
