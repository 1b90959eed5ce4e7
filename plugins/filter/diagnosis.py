# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filter that names the decision matrix's issue type from measured signals.

The documentation is in diagnose_issue.yml beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.promptlib.rollback.plugins.plugin_utils.decision import DecisionMatrixError, load_matrix
from ansible_collections.promptlib.rollback.plugins.plugin_utils.diagnosis import diagnose


def diagnose_issue(signals):
    """Return the issue type, findings with evidence and measurements for ``signals``."""
    if not isinstance(signals, dict):
        raise AnsibleFilterError('diagnose_issue expects a dict of signals, got %s.' % type(signals).__name__)
    try:
        matrix = load_matrix()
    except DecisionMatrixError as error:
        raise AnsibleFilterError(str(error)) from error
    return diagnose(signals, matrix)


class FilterModule:
    """Diagnosis filters."""

    def filters(self):
        return {'diagnose_issue': diagnose_issue}
