# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters that read the rollback decision matrix in data/decision-matrix.yml.

The documentation of each filter is in the YAML file of the same name beside this one.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleFilterError

from ansible_collections.promptlib.rollback.plugins.plugin_utils.decision import (
    DecisionMatrixError,
    collection_root_of,
    decide,
    decide_procedure,
    issue_types,
    load_matrix,
)

# Imported in place of a procedure that cannot run. The decision play has already
# rejected the run by then, so this playbook only runs when that play was skipped.
UNAVAILABLE_PLAYBOOK = os.path.join('playbooks', 'rollback-unavailable.yml')


def _load():
    try:
        return load_matrix()
    except DecisionMatrixError as error:
        raise AnsibleFilterError(str(error)) from error


def rollback_decision(issue_type):
    """Return the decision matrix row for ``issue_type``, joined with its procedure and authority."""
    matrix = _load()
    if issue_type is None or str(issue_type).strip() == '':
        raise AnsibleFilterError('No issue type was given. Pass -e rollback_issue=TYPE with one of: %s.'
                                 % ', '.join(issue_types(matrix)))
    try:
        return decide(matrix, str(issue_type))
    except DecisionMatrixError as error:
        raise AnsibleFilterError('%s Pass it with -e rollback_issue=TYPE.' % error) from error


def rollback_procedure_decision(procedure):
    """Return the rollback type and authority of a procedure name such as ``database``."""
    try:
        return decide_procedure(_load(), str(procedure))
    except DecisionMatrixError as error:
        raise AnsibleFilterError(str(error)) from error


def rollback_playbook_path(issue_type):
    """Return the absolute path of the playbook that the matrix names for ``issue_type``.

    For an unknown issue type, or a playbook missing from this collection, it returns
    the path of playbooks/rollback-unavailable.yml instead of raising. The playbook
    import is resolved before any task runs, so raising here would stop the run before
    the decision play could reject it with its own message.
    """
    matrix = _load()
    root = collection_root_of(matrix['_path'])
    try:
        decision = decide(matrix, str(issue_type or ''))
    except DecisionMatrixError:
        return os.path.join(root, UNAVAILABLE_PLAYBOOK)
    if not decision['playbook_present']:
        return os.path.join(root, UNAVAILABLE_PLAYBOOK)
    return os.path.join(root, decision['playbook'])


def rollback_issue_types(_unused=None):
    """Return the issue types of the matrix in its order."""
    return issue_types(_load())


class FilterModule:
    """Decision matrix filters."""

    def filters(self):
        return {
            'rollback_decision': rollback_decision,
            'rollback_procedure_decision': rollback_procedure_decision,
            'rollback_playbook_path': rollback_playbook_path,
            'rollback_issue_types': rollback_issue_types,
        }
