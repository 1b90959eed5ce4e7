# Copyright: contributors to promptlib.rollback
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stop a playbook run between two tasks when the Python wrapper requests it.

The promptlib_rollback wrapper loads this plugin through
ANSIBLE_CALLBACK_PLUGINS for every run it starts. It is not part of the
collection because it only works together with the wrapper's cancel files.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: promptlib_rollback_cancel
type: aggregate
short_description: Hold a run before its next task once the promptlib_rollback wrapper requests a cancel
description:
  - Before each task and handler starts, checks whether the file named by E(PROMPTLIB_ROLLBACK_CANCEL_FILE) exists.
  - When it does, writes the task about to start to the file named by E(PROMPTLIB_ROLLBACK_STOPPED_FILE)
    and waits there, so that no task is in progress when the wrapper stops ansible-playbook.
  - Does nothing when E(PROMPTLIB_ROLLBACK_CANCEL_FILE) is not set.
notes:
  - Only the linear strategy runs each task on all hosts before the next one starts, so only with it is
    no task in progress while the run waits.
  - The run waits until the wrapper ends it, or ends itself when the wrapper process is gone.
"""

import json  # noqa: E402 (Ansible plugins import after their documentation)
import os  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402

CANCEL_FILE_ENV = "PROMPTLIB_ROLLBACK_CANCEL_FILE"
STOPPED_FILE_ENV = "PROMPTLIB_ROLLBACK_STOPPED_FILE"
POLL_SECONDS = 0.2
# Exit status of ansible-playbook when the wrapper that should end it is gone.
ORPHANED_EXIT_STATUS = 4


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "promptlib_rollback_cancel"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cancel_file = os.environ.get(CANCEL_FILE_ENV)
        self._stopped_file = os.environ.get(STOPPED_FILE_ENV)
        self._parent_pid = os.getppid()

    def _hold_if_cancelled(self, task: Any) -> None:
        if not self._cancel_file or not os.path.exists(self._cancel_file):
            return
        role = task._role.get_name(include_role_fqcn=False) if task._role else None
        record = {"task": task.name or task.action, "role": role}
        if self._stopped_file:
            with open(self._stopped_file, "w", encoding="utf-8") as stream:
                json.dump(record, stream)
        self._display.display(f"Cancel requested: holding before task {record['task']!r} until the run is stopped.")
        while True:
            time.sleep(POLL_SECONDS)
            if os.getppid() != self._parent_pid:
                # The wrapper died, so no process will end this run.
                os._exit(ORPHANED_EXIT_STATUS)

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._hold_if_cancelled(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._hold_if_cancelled(task)
