# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Notification configuration, payloads, ETA and the customer notice."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.promptlib.rollback.plugins.plugin_utils import notifications
from ansible_collections.promptlib.rollback.plugins.plugin_utils.decision import (
    collection_root_of,
    decide,
    default_matrix_path,
    load_matrix,
)

STARTED = datetime.datetime(2025, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
SECRET_URL = 'https://hooks.example.invalid/services/T000/B000/secret-part'


def notice_template():
    path = os.path.join(collection_root_of(default_matrix_path()), notifications.NOTICE_RELATIVE_PATH)
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def make_context(event='start', **changes):
    decision = decide(load_matrix(), 'application-wont-start')
    context = {
        'event': event, 'run_id': '20250101T120000Z-1a2b3c4d', 'playbook': 'rollback.yml', 'procedure': 'full',
        'decision': decision, 'hosts': ['web1', 'web2'], 'started_at': STARTED,
        'sent_at': STARTED + datetime.timedelta(minutes=16), 'elapsed_seconds': 960.0,
        'eta': notifications.estimate_eta(decision, STARTED), 'approval': None,
        'progress': {'current_task': 'restore_code : Put the previous stable release in place of current',
                     'tasks_done': 40, 'changed': 5, 'failed_hosts': []},
        'customer_notice': None,
    }
    context.update(changes)
    return context


def test_config_reads_targets():
    config = notifications.parse_config({
        'interval_minutes': 0.5,
        'targets': [{'name': 'ops', 'format': 'slack', 'url_env': 'OPS_WEBHOOK'},
                    {'name': 'log', 'url': 'http://127.0.0.1:9000/hook', 'events': ['end']}],
        'status_page': {'url': 'http://127.0.0.1:9000/status', 'component': 'Prompt templates'},
    }, 'notify.yml', environ={'OPS_WEBHOOK': SECRET_URL})
    assert [target['format'] for target in config['targets']] == ['slack', 'json', 'statuspage']
    assert config['targets'][0]['url'] == SECRET_URL
    assert config['targets'][1]['events'] == ['end']
    assert config['component'] == 'Prompt templates'
    assert config['interval_minutes'] == 0.5


def test_config_defaults_interval():
    config = notifications.parse_config({'targets': []}, 'notify.yml', environ={})
    assert config['interval_minutes'] == 15.0
    assert config['timeout_seconds'] == 5.0


@pytest.mark.parametrize('spec, expected', [
    ({'name': 'a', 'format': 'teams', 'url': 'http://127.0.0.1/x'}, "its format 'teams' is invalid. Use one of"),
    ({'name': 'a'}, 'it has no url or url_env'),
    ({'name': 'a', 'url_env': 'UNSET_VARIABLE'}, 'UNSET_VARIABLE, which is not set. Set UNSET_VARIABLE'),
    ({'name': 'a', 'url': 'ftp://x'}, "its URL has scheme 'ftp'. Use an http:// or https:// URL"),
    ({'name': 'a', 'url': 'file:///tmp/hook'}, "its URL has scheme 'file'"),
    ({'name': 'a', 'url': 'http://x', 'events': ['middle']}, "its events ['middle'] are invalid"),
    ({'name': 'a', 'url': 'http://x', 'headers_env': {'X-Token': 'UNSET_TOKEN'}}, 'UNSET_TOKEN, which is not set'),
])
def test_invalid_target_skipped(spec, expected):
    valid = {'name': 'good', 'url': 'http://127.0.0.1:9000/hook'}
    config = notifications.parse_config({'targets': [spec, valid]}, 'notify.yml', environ={})
    assert [target['name'] for target in config['targets']] == ['good']
    assert len(config['warnings']) == 1
    assert config['warnings'][0]['target'] == 'a'
    assert 'target a in notify.yml is skipped' in config['warnings'][0]['message']
    assert expected in config['warnings'][0]['message']


def test_invalid_status_page_skipped():
    config = notifications.parse_config({'status_page': {'url_env': 'UNSET_STATUS'}}, 'notify.yml', environ={})
    assert config['targets'] == []
    assert config['warnings'][0]['target'] == 'status page'


@pytest.mark.parametrize('data, expected', [
    ({'interval_minutes': 0}, 'interval_minutes must be a number above 0, got 0. Using 15.0'),
    ({'timeout_seconds': 'soon'}, "timeout_seconds must be a number above 0, got 'soon'"),
    ({'targets': 'http://x'}, 'targets in notify.yml must be a list'),
    ({'customer_notice': 'text'}, 'customer_notice in notify.yml must be a mapping'),
])
def test_invalid_setting_warned(data, expected):
    config = notifications.parse_config(data, 'notify.yml', environ={})
    assert [warning['target'] for warning in config['warnings']] == [None]
    assert expected in config['warnings'][0]['message']


def test_config_not_mapping_rejected():
    with pytest.raises(notifications.NotifyConfigError) as raised:
        notifications.parse_config(['targets'], 'notify.yml', environ={})
    assert 'notify.yml is not a YAML mapping' in str(raised.value)


def test_skipped_target_hides_url():
    config = notifications.parse_config({'targets': [{'name': 'a', 'url': 'gopher://secret-part'}]}, 'n.yml',
                                        environ={})
    assert 'secret-part' not in config['warnings'][0]['message']


def test_missing_config_file_named(tmp_path):
    with pytest.raises(notifications.NotifyConfigError) as raised:
        notifications.load_config(str(tmp_path / 'none.yml'))
    assert 'none.yml' in str(raised.value)


def test_eta_uses_high_estimate():
    decision = decide(load_matrix(), 'application-wont-start')
    assert notifications.estimate_eta(decision, STARTED) == '12:15 UTC'
    assert notifications.estimate_eta(decision, STARTED, 'by 14:00 CET') == 'by 14:00 CET'
    assert notifications.estimate_eta(decide(load_matrix(), 'minor-ui-issues'), STARTED) is None


def test_generic_payload_start():
    payload = notifications.generic_payload(make_context('start'))
    assert payload['event'] == 'start'
    assert payload['issue_type'] == 'application-wont-start'
    assert payload['rollback_type'] == 'Immediate Full'
    assert payload['hosts'] == ['web1', 'web2']
    assert payload['eta'] == '12:15 UTC'
    assert 'outcome' not in payload
    assert payload['summary'].startswith('Immediate Full rollback for Application won\'t start (critical) started')


def test_generic_payload_progress():
    payload = notifications.generic_payload(make_context('progress'))
    assert payload['progress']['tasks_done'] == 40
    assert 'running for 16 min' in payload['summary']
    assert 'restore_code' in payload['summary']


def test_generic_payload_end():
    payload = notifications.generic_payload(make_context('end', outcome='failed', outcome_detail='failed on web2'))
    assert payload['outcome'] == 'failed'
    assert payload['outcome_detail'] == 'failed on web2'
    assert 'failed after 960 s' in payload['summary']


def test_slack_payload_shape():
    payload = notifications.slack_payload(make_context('end', outcome='succeeded'))
    assert payload['text'].startswith(':white_check_mark: Rollback succeeded')
    assert payload['blocks'][0]['type'] == 'section'
    assert payload['blocks'][0]['text']['type'] == 'mrkdwn'
    assert '20250101T120000Z-1a2b3c4d' in payload['blocks'][1]['elements'][0]['text']


def test_statuspage_follows_outcome():
    running = notifications.statuspage_payload(make_context('start'), 'Template system')
    done = notifications.statuspage_payload(make_context('end', outcome='succeeded'), 'Template system')
    failed = notifications.statuspage_payload(make_context('end', outcome='failed'), 'Template system')
    assert (running['status'], running['component_status']) == ('identified', 'major_outage')
    assert (done['status'], done['component_status']) == ('monitoring', 'operational')
    assert (failed['status'], failed['component_status']) == ('identified', 'major_outage')


def test_notice_has_impact_and_eta():
    notice = notifications.render_notice(notice_template(), make_context('start'), 'Templates cannot be saved.',
                                         'Template system')
    assert notice['subject'] == 'Service Maintenance - Template system'
    assert 'Impact: Templates cannot be saved.' in notice['body']
    assert 'ETA: 12:15 UTC' in notice['body']


def test_notice_after_success():
    notice = notifications.render_notice(notice_template(), make_context('end', outcome='succeeded'), None,
                                         'Template system')
    assert 'is complete' in notice['body']
    assert notifications.DEFAULT_IMPACT in notice['body']


def test_notice_template_sandboxed():
    with pytest.raises(Exception):
        notifications.render_notice("{{ ''.__class__.__mro__[1].__subclasses__() }}", make_context(), None, 'x')


def test_notice_undefined_name_rejected():
    with pytest.raises(Exception) as raised:
        notifications.render_notice('{{ customer_name }}', make_context(), None, 'x')
    assert 'customer_name' in str(raised.value)
