# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the promptlib.rollback.pm2 module against a simulated pm2 CLI."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.promptlib.rollback.plugins.module_utils import pm2 as pm2_utils
from ansible_collections.promptlib.rollback.plugins.modules import pm2 as pm2_module
from module_harness import run_module

PM2 = '/usr/bin/pm2'
NODE = '/usr/bin/node'
SECRET = 'never-show-this-secret'
# Larger than any Linux pid_max, so the /proc working directory check finds nothing.
FIRST_PID = 90000000


class FakeTime:
    """Replacement for the time module inside module_utils.pm2: sleeping is instant."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakePm2:
    """Simulated pm2 CLI and ecosystem loader, installed as AnsibleModule.run_command.

    ``apps`` is what the ecosystem file defines. ``start_status`` is the status that
    started processes get, and ``crash_on_read`` makes every online process restart
    once per `pm2 jlist`.
    """

    def __init__(self, apps=None) -> None:
        self.processes = []
        self.apps = {app['name']: app for app in apps or []}
        self.calls = []
        self.failures = {}
        self.start_status = 'online'
        self.crash_on_read = False
        self.error_log = None
        self._next_id = 0
        self._next_pid = FIRST_PID

    # ----- state helpers -----

    def add(self, name, status='online', exec_path='/srv/app/server.js', env=None, cwd='/srv/app'):
        self.processes.append({
            'name': name, 'pm_id': self._next_id, 'pid': self._pid() if status == 'online' else 0,
            'monit': {'memory': 4096, 'cpu': 0},
            'pm2_env': {'status': status, 'restart_time': 0, 'pm_exec_path': exec_path, 'pm_cwd': cwd,
                        'pm_err_log_path': self.error_log, 'env': dict(env or {})},
        })
        self._next_id += 1

    def _pid(self):
        self._next_pid += 1
        return self._next_pid

    def status(self, name):
        return [p['pm2_env']['status'] for p in self.processes if p['name'] == name]

    def env_of(self, name):
        return [p['pm2_env']['env'] for p in self.processes if p['name'] == name][0]

    def actions(self):
        """Return the argv of every call except reads of the process list and the ecosystem."""
        return [call['argv'] for call in self.calls if call['argv'][1] not in ('jlist', '-e')]

    # ----- the CLI -----

    def __call__(self, module, argv, environ_update=None, cwd=None, check_rc=False, **kwargs):
        self.calls.append({'argv': list(argv), 'env': dict(environ_update or {}), 'cwd': cwd})
        if argv[0] == NODE:
            apps = [dict(app, script='server.js', cwd=app.get('cwd', '/srv/app')) for app in self.apps.values()]
            return 0, 'noise\n' + pm2_utils.ECOSYSTEM_MARKER + json.dumps(apps) + '\n', ''
        command = argv[1]
        if command in self.failures:
            return self.failures[command]
        if command == 'jlist':
            if self.crash_on_read:
                for process in self.processes:
                    if process['pm2_env']['status'] == 'online':
                        process['pm2_env']['restart_time'] += 1
                        process['pid'] = self._pid()
            return 0, 'banner [PM2] daemon\n' + json.dumps(self.processes), ''
        target = argv[2]
        selected = [p for p in self.processes if pm2_utils.process_matches(p, target)]
        if command == 'start' and target.endswith('.js'):
            app = self.apps[argv[argv.index('--only') + 1]]
            env = dict(environ_update or {})
            env.pop('PM2_HOME', None)
            env.update(app.get('env', {}))
            for _instance in range(app.get('instances', 1)):
                self.add(app['name'], status=self.start_status, exec_path=app['exec_path'], env=env,
                         cwd=app.get('cwd', '/srv/app'))
        elif command in ('start', 'restart', 'reload'):
            for process in selected:
                process['pm2_env']['status'] = self.start_status
                process['pid'] = self._pid()
                process['pm2_env']['restart_time'] += 1
                if '--update-env' in argv:
                    process['pm2_env']['env'].update(environ_update or {})
        elif command == 'stop':
            for process in selected:
                process['pm2_env']['status'] = 'stopped'
                process['pid'] = 0
        elif command == 'delete':
            self.processes = [p for p in self.processes if p not in selected]
        return 0, '', ''


@pytest.fixture
def fake_time(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(pm2_utils, 'time', clock)
    return clock


@pytest.fixture
def ecosystem(tmp_path):
    path = tmp_path / 'ecosystem.config.js'
    path.write_text('module.exports = { apps: [] };\n')
    return str(path)


def install(monkeypatch, fake):
    # A plain function, because an instance set on the class would not receive the module.
    def run_command(module, *args, **kwargs):
        return fake(module, *args, **kwargs)

    monkeypatch.setattr(AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(AnsibleModule, 'get_bin_path',
                        lambda module, name, required=False, opt_dirs=None: {'pm2': PM2, 'node': NODE}[name])
    return fake


def web_app(env=None, instances=1, exec_path='/srv/app/server.js'):
    return {'name': 'web', 'exec_path': exec_path, 'instances': instances,
            'env': env if env is not None else {'PORT': 8000, 'DATABASE_URL': SECRET}}


# ===========================================================================
# state=started with an ecosystem file
# ===========================================================================

def test_started_ecosystem_starts_missing(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert not failed, result['msg'] if failed else ''
    assert result['changed'] is True
    assert result['commands'] == [[PM2, 'start', ecosystem, '--only', 'web']]
    assert fake.status('web') == ['online']
    assert result['processes'][0]['name'] == 'web'
    assert result['processes'][0]['status'] == 'online'
    assert result['reasons'] == {'web': ['it is not in the pm2 process list']}


def test_started_ecosystem_runs_in_file_folder(monkeypatch, fake_time, ecosystem, tmp_path):
    fake = install(monkeypatch, FakePm2([web_app()]))
    run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    start_call = [call for call in fake.calls if call['argv'][1] == 'start'][0]
    loader_call = [call for call in fake.calls if call['argv'][0] == NODE][0]
    assert start_call['cwd'] == str(tmp_path)
    assert loader_call['cwd'] == str(tmp_path)
    assert 'LANG' not in start_call['env']


def test_started_ecosystem_unchanged(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.add('web', env={'PORT': 8000, 'DATABASE_URL': SECRET, 'HOME': '/root'})
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert not failed
    assert result['changed'] is False
    assert result['commands'] == []
    assert fake.actions() == []


def test_started_ecosystem_watches_stability(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.add('web', env={'PORT': 8000, 'DATABASE_URL': SECRET})
    run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started', 'stable_seconds': 3})
    assert fake_time.now >= 1003.0


def test_started_ecosystem_records_env_keys(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    start_call = [call for call in fake.calls if call['argv'][1] == 'start'][0]
    assert start_call['env'][pm2_utils.ENV_KEYS_VARIABLE] == 'DATABASE_URL,PORT'


def test_started_ecosystem_variable_removed(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app(env={'PORT': 8000})]))
    fake.add('web', env={'PORT': 8000, 'TEMPLATE_EDITING_ENABLED': 'true',
                         pm2_utils.ENV_KEYS_VARIABLE: 'PORT,TEMPLATE_EDITING_ENABLED'})
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert not failed, result.get('msg')
    assert result['changed'] is True
    assert result['reasons'] == {'web': ['the ecosystem file no longer sets TEMPLATE_EDITING_ENABLED']}
    assert 'TEMPLATE_EDITING_ENABLED' not in fake.env_of('web')


def test_started_ecosystem_inherited_variable_kept(monkeypatch, fake_time, ecosystem):
    # HOME came from the pm2 command's environment, not from the file, so it is no reason to act.
    fake = install(monkeypatch, FakePm2([web_app(env={'PORT': 8000})]))
    fake.add('web', env={'PORT': 8000, 'HOME': '/root', pm2_utils.ENV_KEYS_VARIABLE: 'PORT'})
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert not failed, result.get('msg')
    assert result['changed'] is False


def test_started_ecosystem_env_changed(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.add('web', env={'PORT': 8000, 'DATABASE_URL': 'postgres://failed-release'})
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert not failed
    assert result['commands'] == [[PM2, 'delete', 'web'], [PM2, 'start', ecosystem, '--only', 'web']]
    assert result['reasons'] == {'web': ['the environment differs from the ecosystem file in DATABASE_URL']}
    assert fake.env_of('web')['DATABASE_URL'] == SECRET
    assert SECRET not in json.dumps(result)
    assert 'failed-release' not in json.dumps(result)


def test_started_ecosystem_exec_path_changed(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.add('web', exec_path='/srv/failed/server.js', env={'PORT': 8000, 'DATABASE_URL': SECRET})
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert not failed
    assert result['changed'] is True
    assert 'runs /srv/failed/server.js' in result['reasons']['web'][0]
    assert result['processes'][0]['exec_path'] == '/srv/app/server.js'


def test_started_ecosystem_stopped_process(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.add('web', status='stopped', env={'PORT': 8000, 'DATABASE_URL': SECRET})
    result, _failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert result['commands'][0] == [PM2, 'delete', 'web']
    assert result['reasons']['web'] == ['pm_id 0 is stopped']


def test_started_ecosystem_instance_count(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app(instances=2)]))
    fake.add('web', env={'PORT': 8000, 'DATABASE_URL': SECRET})
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert not failed
    assert result['reasons']['web'] == ['it has 1 instances, the ecosystem file sets 2']
    assert fake.status('web') == ['online', 'online']


def test_started_ecosystem_restarts_unstable(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.add('web', env={'PORT': 8000, 'DATABASE_URL': SECRET})
    fake.crash_on_read = True
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert failed
    assert result['commands'] == [[PM2, 'delete', 'web'], [PM2, 'start', ecosystem, '--only', 'web']]
    assert 'restarted or left the online status' in result['reasons']['web'][0]
    assert 'restart count went from' in result['msg']


def test_started_ecosystem_crash_reports_log(monkeypatch, fake_time, ecosystem, tmp_path):
    log = tmp_path / 'web-error.log'
    log.write_text('Error: Cannot find module "express"\n')
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.error_log = str(log)
    fake.start_status = 'errored'
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started'})
    assert failed
    assert result['changed'] is True
    assert 'Process web (pm_id 0): status errored, 0 restarts, error log %s.' % log in result['msg']
    assert 'Cannot find module "express"' in result['msg']
    assert fake_time.now < 1030.0


def test_started_ecosystem_check_mode(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.add('web', env={'PORT': 8000, 'DATABASE_URL': 'old'})
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started',
                                                  '_ansible_check_mode': True, '_ansible_diff': True})
    assert not failed
    assert result['changed'] is True
    assert result['commands'] == [[PM2, 'delete', 'web'], [PM2, 'start', ecosystem, '--only', 'web']]
    assert fake.actions() == []
    assert fake.env_of('web')['DATABASE_URL'] == 'old'
    assert result['diff']['before'] == 'web (pm_id 0): online\n'
    assert result['diff']['after'] == 'web (instance 0): online\n'


def test_started_ecosystem_extra_env(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'started',
                                                  'env': {'FEATURE': True, 'PORT': 9999}})
    assert not failed
    env = fake.env_of('web')
    assert env['FEATURE'] == 'true'
    # The ecosystem file wins over the env option, as in pm2.
    assert env['PORT'] == 8000
    assert 'FEATURE' not in json.dumps(result['reasons'])


# ===========================================================================
# state=started, stopped, restarted, reloaded, absent by name
# ===========================================================================

def test_started_name_missing_fails(monkeypatch, fake_time):
    install(monkeypatch, FakePm2())
    result, failed = run_module(pm2_module.main, {'name': 'web', 'state': 'started'})
    assert failed
    assert 'pm2 has no process named web, so it cannot be started by name' in result['msg']


def test_started_name_starts_by_pm_id(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('api.v2', status='stopped')
    result, failed = run_module(pm2_module.main, {'name': 'api.v2', 'state': 'started'})
    assert not failed
    assert result['commands'] == [[PM2, 'start', '0']]
    assert fake.status('api.v2') == ['online']


def test_started_name_online_unchanged(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    result, _failed = run_module(pm2_module.main, {'name': 'web', 'state': 'started'})
    assert result['changed'] is False


def test_stopped_all(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    fake.add('worker', status='stopped')
    result, failed = run_module(pm2_module.main, {'name': 'all', 'state': 'stopped', '_ansible_diff': True})
    assert not failed
    assert result['commands'] == [[PM2, 'stop', 'all']]
    assert fake.status('web') == ['stopped']
    assert result['diff']['before'] == 'web (pm_id 0): online\nworker (pm_id 1): stopped\n'
    assert result['diff']['after'] == 'web (pm_id 0): stopped\nworker (pm_id 1): stopped\n'


def test_stopped_all_already_stopped(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web', status='stopped')
    result, _failed = run_module(pm2_module.main, {'name': 'all', 'state': 'stopped'})
    assert result['changed'] is False
    assert fake.actions() == []


def test_stopped_all_without_processes(monkeypatch, fake_time):
    install(monkeypatch, FakePm2())
    result, failed = run_module(pm2_module.main, {'name': 'all', 'state': 'stopped'})
    assert not failed
    assert result['changed'] is False


def test_stopped_missing_name_warns(monkeypatch, fake_time):
    install(monkeypatch, FakePm2())
    warnings = []
    monkeypatch.setattr(AnsibleModule, 'warn', lambda module, message: warnings.append(message))
    result, failed = run_module(pm2_module.main, {'name': 'web', 'state': 'stopped'})
    assert not failed
    assert result['changed'] is False
    assert warnings == ['pm2 has no process named web, so there is nothing to stop.']


def test_stopped_ecosystem_apps(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app()]))
    fake.add('web')
    fake.add('other')
    result, _failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'stopped'})
    assert result['commands'] == [[PM2, 'stop', 'web']]
    assert fake.status('other') == ['online']


@pytest.mark.parametrize('state, command', [('restarted', 'restart'), ('reloaded', 'reload')])
def test_restart_name_always_changes(monkeypatch, fake_time, state, command):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    result, failed = run_module(pm2_module.main, {'name': 'web', 'state': state,
                                                  'env': {'TEMPLATE_CREATION_ENABLED': 'false'}})
    assert not failed
    assert result['changed'] is True
    assert result['commands'] == [[PM2, command, 'web', '--update-env']]
    call = [c for c in fake.calls if c['argv'][1] == command][0]
    assert call['env']['TEMPLATE_CREATION_ENABLED'] == 'false'
    assert fake.env_of('web')['TEMPLATE_CREATION_ENABLED'] == 'false'


def test_restart_without_update_env(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    result, _failed = run_module(pm2_module.main, {'name': 'all', 'state': 'restarted', 'update_env': False})
    assert result['commands'] == [[PM2, 'restart', 'all']]


def test_restart_missing_name_fails(monkeypatch, fake_time):
    install(monkeypatch, FakePm2())
    result, failed = run_module(pm2_module.main, {'name': 'web', 'state': 'restarted'})
    assert failed
    assert 'pm2 has no process named web to restart' in result['msg']


def test_restart_ecosystem_drops_removed_variable(monkeypatch, fake_time, ecosystem):
    fake = install(monkeypatch, FakePm2([web_app(env={'PORT': 8000})]))
    fake.add('web', env={'PORT': 8000, 'REMOVED_FLAG': 'true'})
    result, failed = run_module(pm2_module.main, {'ecosystem': ecosystem, 'state': 'restarted'})
    assert not failed
    assert result['commands'] == [[PM2, 'delete', 'web'], [PM2, 'start', ecosystem, '--only', 'web']]
    assert 'REMOVED_FLAG' not in fake.env_of('web')


def test_absent_deletes(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    fake.add('web')
    result, failed = run_module(pm2_module.main, {'name': 'web', 'state': 'absent'})
    assert not failed
    assert result['commands'] == [[PM2, 'delete', 'web']]
    assert fake.processes == []
    assert result['processes'] == []


def test_absent_missing_unchanged(monkeypatch, fake_time):
    install(monkeypatch, FakePm2())
    result, _failed = run_module(pm2_module.main, {'name': 'web', 'state': 'absent'})
    assert result['changed'] is False


# ===========================================================================
# pm2 failures
# ===========================================================================

def test_failed_command_with_state_reached_warns(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web', status='stopped')
    fake.failures['stop'] = (1, '', 'some pm2 complaint')
    warnings = []
    monkeypatch.setattr(AnsibleModule, 'warn', lambda module, message: warnings.append(message))
    fake.processes[0]['pm2_env']['status'] = 'stopping'
    # pm2 fails but the process reaches stopped on its own.
    original = fake.__call__

    def call_and_settle(module, argv, **kwargs):
        outcome = original(module, argv, **kwargs)
        if argv[1] == 'stop':
            fake.processes[0]['pm2_env']['status'] = 'stopped'
        return outcome
    monkeypatch.setattr(AnsibleModule, 'run_command', call_and_settle)
    result, failed = run_module(pm2_module.main, {'name': 'web', 'state': 'stopped'})
    assert not failed
    assert len(warnings) == 1
    assert 'some pm2 complaint' in warnings[0]


def test_failed_command_and_state_missed(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    fake.failures['stop'] = (1, '', 'rpc timeout')
    result, failed = run_module(pm2_module.main, {'name': 'web', 'state': 'stopped', 'wait_timeout': 5})
    assert failed
    assert 'within 5 seconds' in result['msg']
    assert 'Process web (pm_id 0) is online, expected stopped.' in result['msg']
    assert '"/usr/bin/pm2 stop web" exited with code 1: rpc timeout' in result['msg']


def test_unparsable_process_list(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.failures['jlist'] = (0, 'Welcome to pm2, no JSON today', '')
    result, failed = run_module(pm2_module.main, {'name': 'all', 'state': 'stopped'})
    assert failed
    assert "'Welcome to pm2, no JSON today'" in result['msg']


def test_pm2_home_passed(monkeypatch, fake_time, tmp_path):
    fake = install(monkeypatch, FakePm2())
    run_module(pm2_module.main, {'name': 'all', 'state': 'stopped', 'pm2_home': str(tmp_path)})
    assert fake.calls[0]['env']['PM2_HOME'] == str(tmp_path)


# ===========================================================================
# Option checks
# ===========================================================================

@pytest.mark.parametrize('args, message', [
    ({'name': 'web', 'state': 'started', 'stable_seconds': 30}, 'must be lower than wait_timeout'),
    ({'name': 'web', 'state': 'started', 'wait_timeout': 0, 'stable_seconds': 0}, 'at least 1 second'),
    ({'name': 'web', 'state': 'started', 'stable_seconds': -1}, 'must not be negative'),
    ({'name': ' ', 'state': 'started'}, 'name must not be empty'),
    ({'name': 'web', 'state': 'restarted', 'env': {'A=B': 'x'}}, 'invalid variable name'),
    ({'name': 'web', 'state': 'restarted', 'env': {'A': None}}, 'gives no value for A'),
    ({'ecosystem': '/nonexistent/ecosystem.config.js', 'state': 'started'}, 'does not exist'),
    ({'state': 'started'}, 'one of the following is required'),
    ({'name': 'web', 'ecosystem': '/x.js', 'state': 'started'}, 'mutually exclusive'),
])
def test_invalid_options(monkeypatch, fake_time, args, message):
    install(monkeypatch, FakePm2())
    result, failed = run_module(pm2_module.main, args)
    assert failed
    assert message in result['msg']


def test_env_values_not_in_failure(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    fake.start_status = 'errored'
    result, failed = run_module(pm2_module.main, {'name': 'web', 'state': 'restarted', 'env': {'TOKEN': SECRET}})
    assert failed
    assert SECRET not in json.dumps(result)


def test_stopped_check_mode_diff(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    fake.add('web')
    result, _failed = run_module(pm2_module.main, {'name': 'web', 'state': 'stopped',
                                                   '_ansible_check_mode': True, '_ansible_diff': True})
    assert result['diff']['before'] == 'web (pm_id 0): online\nweb (pm_id 1): online\n'
    assert result['diff']['after'] == 'web (pm_id 0): stopped\nweb (pm_id 1): stopped\n'
    assert fake.status('web') == ['online', 'online']


def test_module_params_keep_env(monkeypatch, fake_time):
    fake = install(monkeypatch, FakePm2())
    fake.add('web')
    seen = {}
    original_validate = pm2_module.validate_params

    def validate_and_record(module):
        options = original_validate(module)
        seen.update(module.params)
        return options
    monkeypatch.setattr(pm2_module, 'validate_params', validate_and_record)
    run_module(pm2_module.main, {'name': 'web', 'state': 'restarted', 'env': {'PORT': 8000}})
    assert seen['env'] == {'PORT': 8000}
