# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Naming the issue type from measured signals, one case per drill fault and the edges."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.promptlib.rollback.plugins.plugin_utils.decision import load_matrix
from ansible_collections.promptlib.rollback.plugins.plugin_utils.diagnosis import diagnose

HEALTHY = {
    'app': {'health_status': 200, 'health_error': None, 'version': '1.4.0',
            'pm2': [{'name': 'prompt-library', 'status': 'online', 'restarts': 0}]},
    'database': {'queries': [
        {'name': 'template rows present', 'rc': 0, 'value': 8, 'min': 1, 'max': None, 'error': None},
        {'name': 'no empty template bodies', 'rc': 0, 'value': 0, 'min': None, 'max': 0, 'error': None},
    ]},
    'response': {'samples': [0.004, 0.005, 0.004], 'baseline_seconds': 0.004, 'baseline_source': 'file',
                 'limit_seconds': 1.0, 'min_increase_seconds': 0.1},
    'validation': {'codes': [200] * 12, 'skipped': 0},
    'cache': {'enabled': True, 'unit_state': 'active', 'direct_status': 200, 'direct_error': None,
              'component_status': 'healthy', 'component_detail': 'ok'},
}


@pytest.fixture
def matrix():
    return load_matrix()


def signals(**changes):
    data = copy.deepcopy(HEALTHY)
    for path, value in changes.items():
        section, key = path.split('__')
        data[section][key] = value
    return data


def test_healthy_host_has_no_issue(matrix):
    result = diagnose(signals(), matrix)
    assert result['issue_type'] is None
    assert result['findings'] == []
    assert set(result['measurements']) == {'application-wont-start', 'database-corruption',
                                           'performance-degradation', 'template-validation-failures',
                                           'cache-failures'}


def test_wont_start_named(matrix):
    result = diagnose(signals(app__health_status=-1, app__health_error='Connection refused',
                              app__pm2=[{'name': 'prompt-library', 'status': 'errored', 'restarts': 5}]), matrix)
    assert result['issue_type'] == 'application-wont-start'
    evidence = ' '.join(result['findings'][0]['evidence'])
    assert 'Connection refused' in evidence
    assert 'errored after 5 restarts' in evidence


def test_wont_start_skips_app_signals(matrix):
    result = diagnose(signals(app__health_status=-1, validation__codes=[422] * 12), matrix)
    assert [finding['issue_type'] for finding in result['findings']] == ['application-wont-start']
    assert result['measurements']['template-validation-failures'].startswith('not measured')


def test_corruption_named(matrix):
    queries = copy.deepcopy(HEALTHY['database']['queries'])
    queries[1]['value'] = 4
    result = diagnose(signals(database__queries=queries), matrix)
    assert result['issue_type'] == 'database-corruption'
    assert 'no empty template bodies" = 4, above the maximum 0' in result['findings'][0]['evidence'][0]


def test_failed_query_counts_as_corruption(matrix):
    queries = copy.deepcopy(HEALTHY['database']['queries'])
    queries[0].update(rc=1, value=None, error='relation "prompt_templates" does not exist')
    result = diagnose(signals(database__queries=queries), matrix)
    assert result['issue_type'] == 'database-corruption'
    assert 'does not exist' in result['findings'][0]['evidence'][0]


def test_slow_release_named(matrix):
    result = diagnose(signals(response__samples=[1.51, 1.52, 1.50]), matrix)
    assert result['issue_type'] == 'performance-degradation'
    assert 'baseline 0.004 s' in result['findings'][0]['evidence'][0]


def test_small_slowdown_ignored(matrix):
    # 80% slower but only 4 ms: below min_increase_seconds.
    result = diagnose(signals(response__samples=[0.009, 0.009, 0.009], response__baseline_seconds=0.005), matrix)
    assert result['issue_type'] is None


def test_no_baseline_uses_limit(matrix):
    slow = diagnose(signals(response__baseline_seconds=None, response__samples=[1.5]), matrix)
    fast = diagnose(signals(response__baseline_seconds=None, response__samples=[0.5]), matrix)
    assert slow['issue_type'] == 'performance-degradation'
    assert 'no recorded baseline' in slow['findings'][0]['evidence'][0]
    assert fast['issue_type'] is None


def test_validation_failures_named(matrix):
    result = diagnose(signals(validation__codes=[200, 200, 422] * 4), matrix)
    assert result['issue_type'] == 'template-validation-failures'
    assert '4 of 12 valid probe templates rejected (33%)' in result['findings'][0]['evidence'][0]


def test_validation_at_limit_not_named(matrix):
    # 1 of 10 is exactly 10%, and the matrix says more than 10%.
    result = diagnose(signals(validation__codes=[422] + [200] * 9), matrix)
    assert result['issue_type'] is None


def test_skipped_validation_not_measured(matrix):
    result = diagnose(signals(validation__codes=[], validation__skipped=12), matrix)
    assert result['issue_type'] is None
    assert 'validation is off or safe mode is on' in result['measurements']['template-validation-failures']


def test_stopped_cache_named(matrix):
    result = diagnose(signals(cache__unit_state='inactive', cache__direct_status=-1,
                              cache__direct_error='Connection refused', cache__component_status='unhealthy',
                              cache__component_detail='connect ECONNREFUSED'), matrix)
    assert result['issue_type'] == 'cache-failures'
    evidence = result['findings'][0]['evidence']
    assert 'template-cache-service is inactive' in evidence
    assert any('ECONNREFUSED' in line for line in evidence)


def test_disabled_cache_not_named(matrix):
    result = diagnose(signals(cache__enabled=False, cache__unit_state='inactive', cache__direct_status=-1), matrix)
    assert result['issue_type'] is None


def test_most_severe_named_first(matrix):
    queries = copy.deepcopy(HEALTHY['database']['queries'])
    queries[1]['value'] = 4
    result = diagnose(signals(database__queries=queries, cache__unit_state='failed'), matrix)
    assert [finding['issue_type'] for finding in result['findings']] == ['database-corruption', 'cache-failures']
    assert result['issue_type'] == 'database-corruption'


def test_templated_strings_read_as_numbers(matrix):
    result = diagnose(signals(app__health_status='200', cache__direct_status='200',
                              validation__codes=['200', '422', '200'] * 4, response__samples=['0.004']), matrix)
    assert result['issue_type'] == 'template-validation-failures'
    assert [finding['issue_type'] for finding in result['findings']] == ['template-validation-failures']


def test_undetectable_types_listed(matrix):
    assert diagnose(signals(), matrix)['not_detectable'] == ['security-vulnerability', 'minor-ui-issues']
