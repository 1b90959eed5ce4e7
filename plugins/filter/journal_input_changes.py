# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter that names the inputs of a run that differ from those of the interrupted run in a journal."""

from __future__ import annotations

import json

DOCUMENTATION = r"""
name: journal_input_changes
short_description: Name the inputs that differ from those a rollback journal recorded
version_added: 0.1.0
description:
  - Compares the inputs of this run with the inputs that the journal of an interrupted rollback recorded, and
    returns one sentence per input that differs, such as C(promptlib_backup_path is '/b.sql', the interrupted run
    used '/a.sql').
  - An input that only one side has counts as different. Values are compared as JSON, so C(true) and C('true')
    differ; pass values that are already cast, such as C(x | bool).
  - Returns an empty list when the journal recorded no inputs (V(null) or an empty dict).
options:
  _input:
    description: Inputs of this run, a dict of variable name to value.
    type: dict
    required: true
  recorded:
    description: Inputs the journal recorded.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse to resume with other inputs
  ansible.builtin.assert:
    that: changes | length == 0
    fail_msg: "{{ changes | join(' ') }}"
  vars:
    inputs: {promptlib_backup_path: /b.sql}
    changes: "{{ inputs | promptlib.rollback.journal_input_changes(promptlib_rollback_journal.inputs) }}"
"""

RETURN = r"""
_value:
  description: One sentence per input that differs, sorted by input name. Empty when all are the same.
  type: list
  elements: str
"""

MISSING = object()


def _show(value: object) -> str:
    if value is MISSING:
        return "not set"
    return json.dumps(value, sort_keys=True, default=str)


def journal_input_changes(inputs: dict | None, recorded: dict | None) -> list[str]:
    """Return a sentence for each input of ``inputs`` that differs from ``recorded``."""
    if not recorded:
        return []
    inputs = inputs or {}
    changes = []
    for name in sorted(set(inputs) | set(recorded)):
        now = inputs.get(name, MISSING)
        before = recorded.get(name, MISSING)
        if now is MISSING or before is MISSING or _show(now) != _show(before):
            changes.append("{0} is {1}, the interrupted run used {2}.".format(name, _show(now), _show(before)))
    return changes


class FilterModule:
    """Rollback journal filters."""

    def filters(self):
        return {"journal_input_changes": journal_input_changes}
