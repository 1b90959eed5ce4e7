# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The decision matrix file and its parser: every runbook row, the authority table, bad files."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from ansible_collections.promptlib.rollback.plugins.plugin_utils.decision import (
    DecisionMatrixError,
    decide,
    decide_procedure,
    default_matrix_path,
    issue_types,
    load_matrix,
)

# The runbook's decision matrix, row by row: severity, rollback type, maximum
# decision time in minutes, and the procedure and playbook that carry it out.
RUNBOOK_ROWS = {
    'application-wont-start': ('critical', 'Immediate Full', 5, 'full', 'playbooks/rollback-full.yml'),
    'database-corruption': ('critical', 'Immediate Full', 10, 'full', 'playbooks/rollback-full.yml'),
    'security-vulnerability': ('critical', 'Immediate Partial', 15, 'partial', 'playbooks/rollback-partial.yml'),
    'performance-degradation': ('high', 'Gradual', 30, 'gradual', 'playbooks/rollback-gradual.yml'),
    'template-validation-failures': ('high', 'Feature Disable', 15, 'feature', 'playbooks/rollback-feature.yml'),
    'cache-failures': ('medium', 'Service Restart', 10, 'service-restart', 'playbooks/rollback-service-restart.yml'),
    'minor-ui-issues': ('low', 'Hotfix', 120, 'hotfix', 'playbooks/rollback-hotfix.yml'),
}

# The runbook's rollback authority table.
AUTHORITY = {
    'full': (['devops-lead', 'backend-lead', 'on-call-engineer'], False),
    'partial': (['devops-lead', 'backend-lead', 'on-call-engineer'], False),
    'service-restart': (['devops-lead', 'backend-lead', 'on-call-engineer'], False),
    'hotfix': (['devops-lead', 'backend-lead', 'on-call-engineer'], False),
    'gradual': (['product-manager'], True),
    'feature': (['backend-lead', 'product-manager'], True),
    'database': (['database-administrator'], True),
}


@pytest.fixture
def matrix():
    return load_matrix()


@pytest.fixture
def matrix_data():
    with open(default_matrix_path(), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def write_matrix(tmp_path, data):
    folder = tmp_path / 'data'
    folder.mkdir(exist_ok=True)
    path = folder / 'decision-matrix.yml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    return str(path)


def test_matrix_lists_runbook_issue_types(matrix):
    assert issue_types(matrix) == list(RUNBOOK_ROWS)


@pytest.mark.parametrize('issue_type', sorted(RUNBOOK_ROWS))
def test_decide_matches_runbook_row(matrix, issue_type):
    severity, rollback_type, minutes, procedure, playbook = RUNBOOK_ROWS[issue_type]
    decision = decide(matrix, issue_type)
    assert decision['severity'] == severity
    assert decision['rollback_type'] == rollback_type
    assert decision['max_decision_minutes'] == minutes
    assert decision['procedure'] == procedure
    assert decision['playbook'] == playbook


@pytest.mark.parametrize('issue_type', sorted(RUNBOOK_ROWS))
def test_decide_names_runbook_authority(matrix, issue_type):
    decision = decide(matrix, issue_type)
    roles, approval_required = AUTHORITY[decision['procedure']]
    assert decision['authority']['roles'] == roles
    assert decision['authority']['approval_required'] is approval_required


def test_database_procedure_needs_dba(matrix):
    decision = decide_procedure(matrix, 'database')
    assert decision['authority']['roles'] == ['database-administrator']
    assert decision['authority']['approval_required'] is True
    assert decision['playbook'] == 'playbooks/rollback-database.yml'


def test_hotfix_answers_no_rollback(matrix):
    decision = decide(matrix, 'minor-ui-issues')
    assert decision['rollback'] is False
    assert 'hotfix' in decision['no_rollback_reason']


@pytest.mark.parametrize('issue_type', ['application-wont-start', 'security-vulnerability', 'cache-failures'])
def test_rollback_rows_have_no_reason(matrix, issue_type):
    decision = decide(matrix, issue_type)
    assert decision['rollback'] is True
    assert decision['no_rollback_reason'] is None


@pytest.mark.parametrize('procedure', ['full', 'partial', 'service-restart', 'hotfix'])
def test_own_procedures_have_playbooks(matrix, procedure):
    assert decide_procedure(matrix, procedure)['playbook_present'] is True


def test_triggers_hold_runbook_limits(matrix):
    assert decide(matrix, 'performance-degradation')['trigger'] == {
        'signal': 'response_time_increase_percent', 'above': 50}
    assert decide(matrix, 'template-validation-failures')['trigger'] == {
        'signal': 'validation_failure_percent', 'above': 10}


def test_unknown_issue_type_lists_known(matrix):
    with pytest.raises(DecisionMatrixError) as raised:
        decide(matrix, 'disk-full')
    assert "'disk-full'" in str(raised.value)
    assert 'application-wont-start' in str(raised.value)


def test_unknown_procedure_rejected(matrix):
    with pytest.raises(DecisionMatrixError) as raised:
        decide_procedure(matrix, 'reboot')
    assert "'reboot'" in str(raised.value)


def test_missing_file_rejected(tmp_path):
    with pytest.raises(DecisionMatrixError) as raised:
        load_matrix(str(tmp_path / 'none.yml'))
    assert 'none.yml' in str(raised.value)


def test_changed_file_read_again(tmp_path, matrix_data):
    path = write_matrix(tmp_path, matrix_data)
    assert decide(load_matrix(path), 'cache-failures')['max_decision_minutes'] == 10
    changed = copy.deepcopy(matrix_data)
    changed['issue_types']['cache-failures']['max_decision_minutes'] = 20
    write_matrix(tmp_path, changed)
    stamp = os.stat(path).st_mtime_ns + 10**9
    os.utime(path, ns=(stamp, stamp))
    assert decide(load_matrix(path), 'cache-failures')['max_decision_minutes'] == 20


def break_severity(data):
    data['issue_types']['cache-failures']['severity'] = 'urgent'


def break_reference(data):
    data['issue_types']['cache-failures']['rollback_type'] = 'reboot'


def break_authority_role(data):
    data['authorities']['gradual']['roles'] = ['cto']


def break_minutes(data):
    data['issue_types']['cache-failures']['max_decision_minutes'] = 0


def break_schema(data):
    data['schema_version'] = 2


def break_estimate(data):
    data['rollback_types']['gradual']['estimated_minutes'] = [45, 30]


def break_trigger(data):
    data['issue_types']['performance-degradation']['trigger'] = {'signal': 'cpu', 'above': 50}


def drop_authority(data):
    del data['rollback_types']['gradual']['authority']


@pytest.mark.parametrize('breaker, expected', [
    (break_severity, "'urgent'"),
    (break_reference, "'reboot' is not a key of rollback_types"),
    (break_authority_role, 'unknown roles cto'),
    (break_minutes, 'max_decision_minutes'),
    (break_schema, 'schema_version 2'),
    (break_estimate, 'estimated_minutes'),
    (break_trigger, 'trigger.signal'),
    (drop_authority, 'rollback_types.gradual has no authority'),
])
def test_invalid_matrix_rejected(tmp_path, matrix_data, breaker, expected):
    broken = copy.deepcopy(matrix_data)
    breaker(broken)
    with pytest.raises(DecisionMatrixError) as raised:
        load_matrix(write_matrix(tmp_path, broken))
    assert expected in str(raised.value)
