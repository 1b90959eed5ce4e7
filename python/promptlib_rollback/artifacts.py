"""Find, load and rotate the per-run folders under an artifacts root.

Each playbook run owns ``<root>/<run id>/`` and each drill owns
``<root>/drill-<scenario>-<run id>/``, where a run id starts with the UTC start
time, so sorting folders by run id sorts them by age.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Union

from .errors import ConfigurationError, RunNotFoundError
from .results import DrillResult, RunResult

logger = logging.getLogger(__name__)

KEEP_RUNS_ENV = "PROMPTLIB_ROLLBACK_KEEP_RUNS"
# Number of run and drill folders kept under an artifacts root when neither
# the caller nor PROMPTLIB_ROLLBACK_KEEP_RUNS sets one.
DEFAULT_KEEP_RUNS = 50
# A folder without result.json or drill.json belongs to a run that is still
# going or that died. It is removed by rotation only after this many seconds
# without a change, so that rotation never removes a run in progress.
UNFINISHED_GRACE_SECONDS = 24 * 3600

RUN_ID_TEXT = r"\d{8}T\d{6}Z-[0-9a-f]{8}"
RUN_FOLDER = re.compile(rf"^(?:drill-[a-z0-9][a-z0-9-]*-)?(?P<run_id>{RUN_ID_TEXT})$")
RUN_RESULT_FILE = "result.json"
DRILL_RESULT_FILE = "drill.json"

LoadedResult = Union[RunResult, DrillResult]


def resolve_keep_runs(keep_runs: int | None) -> int:
    """Return the number of run folders to keep: ``keep_runs``, else the environment, else the default.

    0 keeps every folder.

    Raises:
        ConfigurationError: the number is negative or the variable is not an integer.
    """
    source = "keep_runs"
    if keep_runs is None:
        configured = os.environ.get(KEEP_RUNS_ENV, "").strip()
        if not configured:
            return DEFAULT_KEEP_RUNS
        source = KEEP_RUNS_ENV
        try:
            keep_runs = int(configured)
        except ValueError:
            raise ConfigurationError(
                f"{KEEP_RUNS_ENV}={configured!r} is not an integer. Set it to the number of run folders to keep, "
                "or to 0 to keep them all."
            ) from None
    if keep_runs < 0:
        raise ConfigurationError(
            f"{source}={keep_runs} is negative. Pass the number of run folders to keep, or 0 to keep them all."
        )
    return keep_runs


def run_folders(root: Path) -> list[Path]:
    """Return the run and drill folders directly under ``root``, oldest first.

    Run ids give the start time only to the second. Folders of the same second
    are ordered by their last change, because a run writes its result file into
    its folder when it ends, after the runs started before it ended.
    """
    if not root.is_dir():
        return []
    folders = []
    for entry in root.iterdir():
        match = RUN_FOLDER.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            started_second = match.group("run_id").split("-", 1)[0]
            folders.append((started_second, entry.stat().st_mtime_ns, entry.name, entry))
    return [entry for unused, unused, unused, entry in sorted(folders)]


def is_finished(folder: Path) -> bool:
    """Tell whether the run or drill in ``folder`` wrote its result file."""
    return (folder / RUN_RESULT_FILE).is_file() or (folder / DRILL_RESULT_FILE).is_file()


def rotate_artifacts(root: Path, keep_runs: int, *, now: float | None = None) -> list[Path]:
    """Remove the oldest run and drill folders under ``root`` beyond the newest ``keep_runs``.

    ``keep_runs`` 0 keeps every folder. Only folders named like a run or a
    drill are touched. An unfinished folder is kept until it has not changed
    for UNFINISHED_GRACE_SECONDS. Returns the removed folders. A folder that
    cannot be removed is logged and skipped.
    """
    if keep_runs <= 0:
        return []
    folders = run_folders(root)
    excess = folders[: max(len(folders) - keep_runs, 0)]
    moment = time.time() if now is None else now
    removed = []
    for folder in excess:
        if not is_finished(folder) and moment - folder.stat().st_mtime < UNFINISHED_GRACE_SECONDS:
            logger.debug("Keeping %s during rotation because its run has not finished", folder)
            continue
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            logger.warning("Rotation could not remove the old run folder %s: %s", folder, exc)
            continue
        removed.append(folder)
    if removed:
        logger.info("Removed %d old run folder(s) from %s, keeping the newest %d", len(removed), root, keep_runs)
    return removed


def find_run_folder(run_id: str, root: Path) -> Path:
    """Return the folder of run or drill ``run_id`` under ``root``.

    ``run_id`` is a run id (``20250101T120000Z-1a2b3c4d``) or a drill folder
    name (``drill-app-failure-20250101T120000Z-1a2b3c4d``). A drill's own
    setup and rollback runs are found inside the drill folders too.

    Raises:
        RunNotFoundError: no such folder exists.
    """
    if not RUN_FOLDER.match(run_id):
        raise RunNotFoundError(
            f"{run_id!r} is not a run id. A run id looks like 20250101T120000Z-1a2b3c4d, "
            "and the artifacts folder holds one folder per run."
        )
    direct = root / run_id
    if direct.is_dir():
        return direct
    for drill_folder in run_folders(root):
        nested = drill_folder / run_id
        if nested.is_dir():
            return nested
    raise RunNotFoundError(
        f"Run {run_id} was not found under {root}. Check the run id, and pass the artifacts folder "
        "the run wrote to (--artifacts-dir or PROMPTLIB_ROLLBACK_ARTIFACTS); rotation may have removed old runs."
    )


def load_result(run_id: str, root: Path) -> LoadedResult:
    """Load the RunResult (or, for a drill folder, the DrillResult) that run ``run_id`` wrote.

    Raises:
        RunNotFoundError: the folder or its result file does not exist, or the
            run did not finish.
        ConfigurationError: the result file cannot be parsed.
    """
    folder = find_run_folder(run_id, root)
    drill_file = folder / DRILL_RESULT_FILE
    run_file = folder / RUN_RESULT_FILE
    path = drill_file if drill_file.is_file() else run_file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunNotFoundError(
            f"{folder} has no {RUN_RESULT_FILE} or {DRILL_RESULT_FILE}, so run {run_id} is still going or died "
            "before it ended. Read stdout in that folder for what it did."
        ) from None
    try:
        if path is drill_file:
            return DrillResult.from_json(text)
        return RunResult.from_json(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigurationError(f"{path} cannot be read as a result: {exc}. The file may be damaged.") from exc
