# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for promptlib.rollback.pm2_info against a simulated `pm2 jlist`."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.promptlib.rollback.plugins.modules import pm2_info
from module_harness import run_module

SECRET = 'postgres://promptlib:never-show-this@127.0.0.1/promptlib_production'

PROCESSES = [
    {'name': 'prompt-library', 'pm_id': 0, 'pid': 0, 'monit': {'memory': 0},
     'pm2_env': {'status': 'errored', 'restart_time': 5, 'pm_uptime': 1735732800000,
                 'pm_exec_path': '/opt/prompt-library/current/server.js', 'pm_cwd': '/opt/prompt-library/current',
                 'pm_out_log_path': '/var/log/prompt-library/pm2-out.log',
                 'pm_err_log_path': '/var/log/prompt-library/pm2-error.log',
                 'env': {'DATABASE_URL': SECRET}, 'DATABASE_URL': SECRET}},
    {'name': 'worker', 'pm_id': 1, 'pid': 4242, 'monit': {'memory': 52428800},
     'pm2_env': {'status': 'online', 'restart_time': 0, 'pm_uptime': None}},
]


@pytest.fixture
def jlist(monkeypatch, module_exits):
    output = {'text': 'pm2 banner\n' + json.dumps(PROCESSES), 'rc': 0}

    def run_command(self, argv, **kwargs):
        assert argv[1:] == ['jlist']
        return output['rc'], output['text'], 'daemon not running' if output['rc'] else ''

    monkeypatch.setattr(AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(AnsibleModule, 'get_bin_path', lambda self, name, required=False, opt_dirs=None: '/usr/bin/pm2')
    return output


def test_all_processes_read(jlist):
    result, failed = run_module(pm2_info.main, {})
    assert not failed
    assert result['changed'] is False
    assert [process['name'] for process in result['processes']] == ['prompt-library', 'worker']
    assert result['online'] == 1


def test_process_fields(jlist):
    result, unused = run_module(pm2_info.main, {'name': 'prompt-library'})
    process = result['processes'][0]
    assert process['status'] == 'errored'
    assert process['restarts'] == 5
    assert process['started_at'] == '2025-01-01T12:00:00Z'
    assert process['error_log'] == '/var/log/prompt-library/pm2-error.log'
    assert process['pid'] is None


def test_missing_start_time_is_none(jlist):
    result, unused = run_module(pm2_info.main, {'name': 'worker'})
    assert result['processes'][0]['started_at'] is None


def test_environment_never_returned(jlist):
    result, unused = run_module(pm2_info.main, {})
    assert 'never-show-this' not in json.dumps(result)


def test_jlist_failure_reported(jlist):
    jlist['rc'] = 1
    result, failed = run_module(pm2_info.main, {})
    assert failed
    assert 'daemon not running' in result['msg']
    assert 'stdout' not in result


def test_empty_name_rejected(jlist):
    result, failed = run_module(pm2_info.main, {'name': ' '})
    assert failed
    assert 'name must not be empty' in result['msg']
