# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The decision matrix filters agree with the Python package and fail with clear messages."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.promptlib.rollback.plugins.filter import decision as decision_filters
from promptlib_rollback import decision as python_decision

ISSUE_TYPES = python_decision.issue_types()


def test_filters_registered():
    names = set(decision_filters.FilterModule().filters())
    assert names == {'rollback_decision', 'rollback_procedure_decision', 'rollback_playbook_path',
                     'rollback_issue_types'}


@pytest.mark.parametrize('issue_type', ISSUE_TYPES)
def test_filter_matches_python(issue_type):
    assert decision_filters.rollback_decision(issue_type) == python_decision.decide(issue_type).to_dict()


def test_issue_types_filter_matches_python():
    assert decision_filters.rollback_issue_types() == ISSUE_TYPES


@pytest.mark.parametrize('value', [None, '', '  '])
def test_missing_issue_type_explained(value):
    with pytest.raises(AnsibleFilterError) as raised:
        decision_filters.rollback_decision(value)
    assert 'rollback_issue=TYPE' in str(raised.value)
    assert 'cache-failures' in str(raised.value)


def test_unknown_issue_type_rejected():
    with pytest.raises(AnsibleFilterError) as raised:
        decision_filters.rollback_decision('disk-full')
    assert "'disk-full'" in str(raised.value)


@pytest.mark.parametrize('issue_type, playbook', [
    ('application-wont-start', 'rollback-full.yml'),
    ('security-vulnerability', 'rollback-partial.yml'),
    ('cache-failures', 'rollback-service-restart.yml'),
    ('minor-ui-issues', 'rollback-hotfix.yml'),
])
def test_playbook_path_is_absolute(issue_type, playbook):
    path = decision_filters.rollback_playbook_path(issue_type)
    assert os.path.isabs(path)
    assert os.path.basename(path) == playbook
    assert os.path.isfile(path)


@pytest.mark.parametrize('issue_type', ['', 'disk-full', None])
def test_unknown_issue_imports_unavailable(issue_type):
    path = decision_filters.rollback_playbook_path(issue_type)
    assert os.path.basename(path) == 'rollback-unavailable.yml'
    assert os.path.isfile(path)


def test_missing_playbook_imports_unavailable(monkeypatch):
    missing = {'playbook': 'playbooks/x.yml', 'playbook_present': False}
    monkeypatch.setattr(decision_filters, 'decide', lambda matrix, issue: missing)
    path = decision_filters.rollback_playbook_path('performance-degradation')
    assert os.path.basename(path) == 'rollback-unavailable.yml'


def test_procedure_filter_names_dba():
    decision = decision_filters.rollback_procedure_decision('database')
    assert decision['authority']['roles'] == ['database-administrator']
