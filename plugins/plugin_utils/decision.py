# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Load the rollback decision matrix from data/decision-matrix.yml and look rows up.

The file is the only copy of the matrix. This module needs nothing but PyYAML, so the
collection's filter plugins import it and the promptlib_rollback package loads it by
path from the collection, and both read the matrix through the same checks.
"""

from __future__ import annotations

import os
import typing as t

import yaml

MATRIX_RELATIVE_PATH = os.path.join('data', 'decision-matrix.yml')
SCHEMA_VERSION = 1

SEVERITIES = ('critical', 'high', 'medium', 'low')

# The approver roles that rollback_approver_role accepts.
APPROVER_ROLES = ('devops-lead', 'backend-lead', 'on-call-engineer', 'product-manager', 'database-administrator')

# Signals that promptlib-rollback diagnose measures and a trigger may name.
TRIGGER_SIGNALS = ('response_time_increase_percent', 'validation_failure_percent')

_cache: dict = {}


class DecisionMatrixError(ValueError):
    """The decision matrix file is missing or invalid, or an issue type is unknown."""


def default_matrix_path() -> str:
    """Return the path of data/decision-matrix.yml in the collection that contains this file."""
    collection_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(collection_root, MATRIX_RELATIVE_PATH)


def collection_root_of(matrix_path: str) -> str:
    """Return the collection root of a matrix file at <root>/data/decision-matrix.yml."""
    return os.path.dirname(os.path.dirname(os.path.abspath(matrix_path)))


def _problems_in_issue_types(data: dict) -> list[str]:
    problems = []
    rollback_types = data.get('rollback_types') if isinstance(data.get('rollback_types'), dict) else {}
    for issue_type, row in data['issue_types'].items():
        where = 'issue_types.%s' % issue_type
        if not isinstance(row, dict):
            problems.append('%s must be a mapping' % where)
            continue
        for key in ('issue', 'severity', 'rollback_type', 'max_decision_minutes'):
            if key not in row:
                problems.append('%s has no %s' % (where, key))
        if 'severity' in row and row['severity'] not in SEVERITIES:
            problems.append('%s.severity is %r, expected one of %s' % (where, row['severity'], ', '.join(SEVERITIES)))
        minutes = row.get('max_decision_minutes')
        if 'max_decision_minutes' in row and (isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1):
            problems.append('%s.max_decision_minutes must be a whole number of minutes above 0, got %r'
                            % (where, minutes))
        if 'rollback_type' in row and row['rollback_type'] not in rollback_types:
            problems.append('%s.rollback_type %r is not a key of rollback_types' % (where, row['rollback_type']))
        trigger = row.get('trigger')
        if trigger is not None:
            if not isinstance(trigger, dict) or trigger.get('signal') not in TRIGGER_SIGNALS:
                problems.append('%s.trigger.signal must be one of %s' % (where, ', '.join(TRIGGER_SIGNALS)))
            elif not isinstance(trigger.get('above'), (int, float)) or isinstance(trigger.get('above'), bool):
                problems.append('%s.trigger.above must be a number' % where)
    return problems


def _problems_in_rollback_types(data: dict) -> list[str]:
    problems = []
    authorities = data.get('authorities') if isinstance(data.get('authorities'), dict) else {}
    for type_id, spec in data['rollback_types'].items():
        where = 'rollback_types.%s' % type_id
        if not isinstance(spec, dict):
            problems.append('%s must be a mapping' % where)
            continue
        for key in ('name', 'procedure', 'playbook', 'authority', 'description', 'estimated_minutes'):
            if key not in spec:
                problems.append('%s has no %s' % (where, key))
        estimate = spec.get('estimated_minutes')
        if estimate is not None and not (isinstance(estimate, list) and len(estimate) == 2
                                         and all(isinstance(value, int) and not isinstance(value, bool)
                                                 for value in estimate)
                                         and 0 < estimate[0] <= estimate[1]):
            problems.append('%s.estimated_minutes must be null or [low, high] whole minutes, got %r'
                            % (where, estimate))
        if spec.get('authority') is not None and spec.get('authority') not in authorities:
            problems.append('%s.authority %r is not a key of authorities' % (where, spec.get('authority')))
        playbook = spec.get('playbook')
        if playbook is not None and (not isinstance(playbook, str) or os.path.isabs(playbook)):
            problems.append('%s.playbook must be a path relative to the collection root' % where)
    return problems


def _problems_in_authorities(data: dict) -> list[str]:
    problems = []
    for authority_id, spec in data['authorities'].items():
        where = 'authorities.%s' % authority_id
        if not isinstance(spec, dict):
            problems.append('%s must be a mapping' % where)
            continue
        roles = spec.get('roles')
        if not isinstance(roles, list) or not roles:
            problems.append('%s.roles must be a non-empty list' % where)
        else:
            unknown = [role for role in roles if role not in APPROVER_ROLES]
            if unknown:
                problems.append('%s.roles contains unknown roles %s; known roles are %s'
                                % (where, ', '.join(map(str, unknown)), ', '.join(APPROVER_ROLES)))
        if not isinstance(spec.get('approval_required'), bool):
            problems.append('%s.approval_required must be true or false' % where)
    return problems


def validate_matrix(data: t.Any, source: str) -> None:
    """Check the structure of a loaded matrix. Raises DecisionMatrixError listing every problem."""
    if not isinstance(data, dict):
        raise DecisionMatrixError('The decision matrix %s is not a YAML mapping.' % source)
    if data.get('schema_version') != SCHEMA_VERSION:
        raise DecisionMatrixError('The decision matrix %s has schema_version %r; this collection reads version %d.'
                                  % (source, data.get('schema_version'), SCHEMA_VERSION))
    problems = []
    for section in ('issue_types', 'rollback_types', 'authorities'):
        if not isinstance(data.get(section), dict) or not data.get(section):
            problems.append('%s must be a non-empty mapping' % section)
    if not problems:
        problems = (_problems_in_issue_types(data) + _problems_in_rollback_types(data)
                    + _problems_in_authorities(data))
    if problems:
        raise DecisionMatrixError('The decision matrix %s is invalid: %s. Fix the file.'
                                  % (source, '; '.join(problems)))


def load_matrix(path: str | None = None) -> dict:
    """Load and check the matrix at ``path`` (default: this collection's copy).

    The result is cached until the file's modification time changes.
    """
    path = os.path.abspath(path or default_matrix_path())
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as error:
        raise DecisionMatrixError('The decision matrix %s cannot be read: %s.' % (path, error.strerror)) from error
    cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        with open(path, encoding='utf-8') as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise DecisionMatrixError('The decision matrix %s cannot be read: %s' % (path, error)) from error
    validate_matrix(data, path)
    data['_path'] = path
    _cache[path] = (stamp, data)
    return data


def issue_types(matrix: dict) -> list[str]:
    """Return the issue types in the order of the matrix file."""
    return list(matrix['issue_types'])


def _describe_rollback_type(matrix: dict, type_id: str) -> dict:
    spec = matrix['rollback_types'][type_id]
    authority = matrix['authorities'][spec['authority']]
    playbook = spec['playbook']
    root = collection_root_of(matrix['_path'])
    return {
        'rollback_type': spec['name'],
        'rollback_type_id': type_id,
        'procedure': spec['procedure'],
        'playbook': playbook,
        'playbook_present': playbook is not None and os.path.isfile(os.path.join(root, playbook)),
        'description': ' '.join(str(spec['description']).split()),
        'estimated_minutes': list(spec['estimated_minutes']) if spec.get('estimated_minutes') else None,
        'rollback': not spec.get('no_rollback_reason'),
        'no_rollback_reason': ' '.join(str(spec['no_rollback_reason']).split()) if spec.get('no_rollback_reason')
        else None,
        'authority': {
            'name': authority['name'],
            'roles': list(authority['roles']),
            'approval_required': authority['approval_required'],
        },
    }


def decide(matrix: dict, issue_type: str) -> dict:
    """Return the decision for ``issue_type``: the matrix row joined with its procedure and authority.

    Raises DecisionMatrixError naming the known issue types when ``issue_type`` is not one.
    """
    rows = matrix['issue_types']
    if issue_type not in rows:
        raise DecisionMatrixError('%r is not an issue type of the decision matrix. Choose one of: %s.'
                                  % (issue_type, ', '.join(rows)))
    row = rows[issue_type]
    decision = {
        'issue_type': issue_type,
        'issue': row['issue'],
        'severity': row['severity'],
        'max_decision_minutes': row['max_decision_minutes'],
        'trigger': dict(row['trigger']) if row.get('trigger') else None,
    }
    decision.update(_describe_rollback_type(matrix, row['rollback_type']))
    return decision


def decide_procedure(matrix: dict, procedure: str) -> dict:
    """Return the rollback type and authority of a procedure name such as ``database``."""
    for type_id, spec in matrix['rollback_types'].items():
        if spec['procedure'] == procedure:
            return _describe_rollback_type(matrix, type_id)
    known = ', '.join(spec['procedure'] for spec in matrix['rollback_types'].values())
    raise DecisionMatrixError('%r is not a procedure of the decision matrix. Choose one of: %s.' % (procedure, known))
