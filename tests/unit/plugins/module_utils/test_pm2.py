# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the pm2 process-list parsing, waiting and ecosystem loading helpers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.promptlib.rollback.plugins.module_utils import pm2

# Start of what pm2 7 prints on its first run with a new PM2_HOME, before the JSON.
BANNER = (
    '                        -------------\n\n'
    '__/\\\\\\\\\\\\\\\\\\\\\\\\\\____/\\\\\\\\____________/\\\\\\\\____\n'
    '                        -------------\n\n'
    '\x1b[32m[PM2] \x1b[39mSpawning PM2 daemon with pm2_home=/tmp/home\n'
    '\x1b[32m[PM2] \x1b[39mPM2 Successfully daemonized\n'
)


def make_process(name='web', pm_id=0, status='online', restarts=0, pid=1234,
                 exec_path='/srv/app/current/server.js', cwd='/srv/app/current', env=None, err_log=None):
    """Build a process entry shaped like one element of `pm2 jlist` output."""
    pm2_env = {
        'status': status,
        'restart_time': restarts,
        'pm_exec_path': exec_path,
        'pm_cwd': cwd,
        'pm_id': pm_id,
        'pm_err_log_path': err_log,
        'env': dict(env or {}),
    }
    pm2_env.update(env or {})
    return {'name': name, 'pm_id': pm_id, 'pid': pid if status == 'online' else 0,
            'pm2_env': pm2_env, 'monit': {'memory': 1024, 'cpu': 0}}


class FakeClock:
    """Monotonic clock whose sleep advances time instantly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def sequence_reader(*lists):
    """Return a read_processes function that returns each list in turn, then the last forever."""
    remaining = list(lists)

    def read():
        if len(remaining) > 1:
            return remaining.pop(0)
        return remaining[0]
    return read


# ===========================================================================
# parse_process_list
# ===========================================================================

def test_parse_plain_json():
    processes = [make_process()]
    assert pm2.parse_process_list(json.dumps(processes)) == processes


def test_parse_after_banner():
    processes = [make_process(), make_process('worker', 1)]
    parsed = pm2.parse_process_list(BANNER + json.dumps(processes) + '\n')
    assert [p['name'] for p in parsed] == ['web', 'worker']


def test_parse_empty_list_after_banner():
    assert pm2.parse_process_list(BANNER + '[]\n') == []


def test_parse_skips_bracketed_numbers():
    output = '[1] notice from a wrapper\n[2, 3]\n' + json.dumps([make_process()])
    assert pm2.parse_process_list(output)[0]['name'] == 'web'


def test_parse_prefers_array_at_end():
    # A list of named objects in a log line must lose against the real list at the end.
    output = 'debug: [{"name": "not-a-process"}] extra\n' + json.dumps([make_process('real')])
    assert pm2.parse_process_list(output)[0]['name'] == 'real'


def test_parse_accepts_trailing_text():
    output = json.dumps([make_process()]) + '\n>>>> In-memory PM2 is out-of-date, do:\n>>>> $ pm2 update\n'
    assert pm2.parse_process_list(output)[0]['name'] == 'web'


def test_parse_failure_quotes_output():
    output = BANNER + 'no json here ' * 50
    with pytest.raises(pm2.Pm2Error) as error:
        pm2.parse_process_list(output)
    message = str(error.value)
    assert 'pm2 jlist' in message
    assert repr(output[:200]) in message
    assert repr(output[:201]) not in message


def test_parse_rejects_list_of_numbers():
    with pytest.raises(pm2.Pm2Error):
        pm2.parse_process_list('[1, 2, 3]')


# ===========================================================================
# Process fields and selection
# ===========================================================================

def test_summarize_online_process():
    summary = pm2.summarize_process(make_process(restarts=3))
    assert summary == {
        'name': 'web', 'pm_id': 0, 'status': 'online', 'pid': 1234, 'restarts': 3,
        'exec_path': '/srv/app/current/server.js', 'cwd': '/srv/app/current', 'memory_bytes': 1024,
    }


def test_summarize_stopped_has_no_pid():
    assert pm2.summarize_process(make_process(status='stopped'))['pid'] is None


def test_summarize_tolerates_missing_fields():
    summary = pm2.summarize_process({'name': 'bare'})
    assert summary['status'] is None
    assert summary['restarts'] == 0
    assert summary['memory_bytes'] is None


@pytest.mark.parametrize('target, expected', [
    ('web', True),
    ('worker', False),
    ('all', True),
    ('7', True),
    ('8', False),
])
def test_process_matches_target(target, expected):
    assert pm2.process_matches(make_process('web', pm_id=7), target) is expected


# ===========================================================================
# Environment comparison
# ===========================================================================

@pytest.mark.parametrize('value, expected', [
    ('text', 'text'),
    (8000, '8000'),
    (1.5, '1.5'),
    (True, 'true'),
    (False, 'false'),
    (None, 'null'),
    ({'a': 1}, '{"a":1}'),
    ([1, 'b'], '[1,"b"]'),
])
def test_normalize_env_value(value, expected):
    assert pm2.normalize_env_value(value) == expected


def test_env_keys_equal():
    process = make_process(env={'PORT': 8000, 'SECRET': 's3cret'})
    assert pm2.differing_env_keys(process, {'PORT': '8000', 'SECRET': 's3cret'}) == []


def test_env_keys_differ_and_missing():
    process = make_process(env={'PORT': 8000, 'SECRET': 'old'})
    differing = pm2.differing_env_keys(process, {'SECRET': 'new', 'PORT': 8000, 'ADDED': 'x'})
    assert differing == ['ADDED', 'SECRET']


def test_env_keys_never_return_values():
    process = make_process(env={'SECRET': 'old-secret-value'})
    differing = pm2.differing_env_keys(process, {'SECRET': 'new-secret-value'})
    assert 'old-secret-value' not in repr(differing)
    assert 'new-secret-value' not in repr(differing)


def test_env_keys_fall_back_to_top_level():
    process = make_process()
    process['pm2_env']['ONLY_TOP'] = 'yes'
    assert pm2.differing_env_keys(process, {'ONLY_TOP': 'yes'}) == []


def test_process_runs_in_same_folder(tmp_path):
    release = tmp_path / 'current'
    release.mkdir()
    proc = tmp_path / 'proc' / '1234'
    proc.mkdir(parents=True)
    (proc / 'cwd').symlink_to(release)
    assert pm2.process_runs_in(make_process(pid=1234), str(release), str(tmp_path / 'proc')) is True


def test_process_runs_in_swapped_folder(tmp_path):
    release = tmp_path / 'current'
    release.mkdir()
    failed = tmp_path / 'current-failed'
    failed.mkdir()
    proc = tmp_path / 'proc' / '1234'
    proc.mkdir(parents=True)
    (proc / 'cwd').symlink_to(failed)
    assert pm2.process_runs_in(make_process(pid=1234), str(release), str(tmp_path / 'proc')) is False


def test_process_runs_in_unknown_without_proc(tmp_path):
    assert pm2.process_runs_in(make_process(pid=1234), str(tmp_path), str(tmp_path / 'noproc')) is None
    assert pm2.process_runs_in(make_process(status='stopped'), str(tmp_path)) is None


# ===========================================================================
# Ecosystem files
# ===========================================================================

def loader_output(apps, noise=''):
    return noise + '\n' + pm2.ECOSYSTEM_MARKER + json.dumps(apps) + '\n'


def ecosystem_entry(name='web', instances=1, env=None):
    return {'name': name, 'script': 'server.js', 'cwd': '/srv/app', 'exec_path': '/srv/app/server.js',
            'instances': instances, 'env': env or {}}


def test_ecosystem_output_with_noise():
    apps = pm2.parse_ecosystem_output(loader_output([ecosystem_entry(env={'A': 1})], noise='loading .env\n'), 'e.js')
    assert apps == [pm2.EcosystemApp('web', 'server.js', '/srv/app', '/srv/app/server.js', 1, {'A': 1})]


def test_ecosystem_output_without_marker():
    with pytest.raises(pm2.Pm2Error) as error:
        pm2.parse_ecosystem_output('SECRET=hunter2\n', '/srv/app/ecosystem.config.js')
    assert '/srv/app/ecosystem.config.js' in str(error.value)
    assert 'hunter2' not in str(error.value)


def test_ecosystem_output_invalid_json_hides_output():
    with pytest.raises(pm2.Pm2Error) as error:
        pm2.parse_ecosystem_output(pm2.ECOSYSTEM_MARKER + '[{"env": {"SECRET": "hunter2"', 'e.js')
    assert 'hunter2' not in str(error.value)


def test_ecosystem_output_without_apps():
    with pytest.raises(pm2.Pm2Error) as error:
        pm2.parse_ecosystem_output(loader_output([]), 'e.js')
    assert 'defines no apps' in str(error.value)


def test_ecosystem_output_duplicate_names():
    with pytest.raises(pm2.Pm2Error) as error:
        pm2.parse_ecosystem_output(loader_output([ecosystem_entry(), ecosystem_entry()]), 'e.js')
    assert 'more than one app named web' in str(error.value)


def subprocess_run_command(argv, environ_update=None, cwd=None, check_rc=False):
    """Stand-in for AnsibleModule.run_command that really runs the command."""
    environment = dict(os.environ)
    environment.update(environ_update or {})
    completed = subprocess.run(argv, env=environment, cwd=cwd, capture_output=True, text=True, check=False)
    return completed.returncode, completed.stdout, completed.stderr


needs_node = pytest.mark.skipif(shutil.which('node') is None, reason='Node.js (node) is not installed')


@needs_node
def test_loader_resolves_apps(tmp_path):
    (tmp_path / 'srv').mkdir()
    (tmp_path / 'srv' / 'server.js').write_text('')
    (tmp_path / '.env').write_text('DATABASE_URL=postgres://from-dotenv\n')
    ecosystem = tmp_path / 'ecosystem.config.js'
    ecosystem.write_text(
        "const fs = require('fs');\n"
        "console.log('loading');\n"
        "const dotenv = fs.readFileSync(__dirname + '/.env', 'utf8').trim().split('=');\n"
        "module.exports = { apps: [\n"
        "  { name: 'api', script: 'server.js', cwd: 'srv', instances: 2,\n"
        "    env: { [dotenv[0]]: dotenv.slice(1).join('='), PORT: 8000, EXTRA: process.env.EXTRA } },\n"
        "  { script: './srv/server.js', instances: 'max' },\n"
        "  { name: 'shell', script: 'sh' },\n"
        "] };\n"
    )
    cli = pm2.Pm2Cli(subprocess_run_command, 'pm2')
    apps = cli.load_ecosystem(str(ecosystem), shutil.which('node'), {'EXTRA': 'from-option'})
    api, unnamed, shell = apps
    assert api.name == 'api'
    assert api.cwd == str(tmp_path / 'srv')
    assert api.exec_path == str(tmp_path / 'srv' / 'server.js')
    assert api.instances == 2
    assert api.env == {'DATABASE_URL': 'postgres://from-dotenv', 'PORT': 8000, 'EXTRA': 'from-option'}
    assert unnamed.name == 'server'
    assert unnamed.instances == (os.cpu_count() or 1)
    assert shell.exec_path == shutil.which('sh')


@needs_node
def test_loader_reads_file_fresh(tmp_path):
    ecosystem = tmp_path / 'ecosystem.config.js'
    cli = pm2.Pm2Cli(subprocess_run_command, 'pm2')
    for value in ('first', 'second'):
        ecosystem.write_text("module.exports = { apps: [{ name: 'a', script: 'a.js', env: { V: '%s' } }] };" % value)
        apps = cli.load_ecosystem(str(ecosystem), shutil.which('node'))
        assert apps[0].env == {'V': value}


@needs_node
def test_loader_reports_syntax_error(tmp_path):
    ecosystem = tmp_path / 'ecosystem.config.js'
    ecosystem.write_text('module.exports = { apps: [ ;')
    cli = pm2.Pm2Cli(subprocess_run_command, 'pm2')
    with pytest.raises(pm2.Pm2Error) as error:
        cli.load_ecosystem(str(ecosystem), shutil.which('node'))
    assert 'SyntaxError' in str(error.value)
    assert str(ecosystem) in str(error.value)


# ===========================================================================
# Pm2Cli
# ===========================================================================

class RecordingRunner:
    def __init__(self, *results):
        self.results = list(results)
        self.calls = []

    def __call__(self, argv, environ_update=None, cwd=None, check_rc=False):
        self.calls.append({'argv': argv, 'env': environ_update, 'cwd': cwd, 'check_rc': check_rc})
        return self.results.pop(0)


def test_list_processes_uses_c_locale_and_home():
    runner = RecordingRunner((0, BANNER + json.dumps([make_process()]), ''))
    cli = pm2.Pm2Cli(runner, '/usr/bin/pm2', '/tmp/pm2-home')
    assert cli.list_processes()[0]['name'] == 'web'
    call = runner.calls[0]
    assert call['argv'] == ['/usr/bin/pm2', 'jlist']
    assert call['env'] == {'PM2_HOME': '/tmp/pm2-home', 'LANG': 'C', 'LC_ALL': 'C'}
    assert call['check_rc'] is False


def test_list_processes_failure():
    runner = RecordingRunner((1, '', 'connect EACCES /root/.pm2/rpc.sock'))
    with pytest.raises(pm2.Pm2Error) as error:
        pm2.Pm2Cli(runner, '/usr/bin/pm2').list_processes()
    assert 'exited with code 1' in str(error.value)
    assert 'EACCES' in str(error.value)


def test_action_keeps_locale_and_adds_env():
    runner = RecordingRunner((0, '', ''))
    cli = pm2.Pm2Cli(runner, '/usr/bin/pm2', '/tmp/pm2-home')
    cli.run(cli.argv('restart', 'web'), extra_env={'FLAG': 'true'})
    assert runner.calls[0]['env'] == {'PM2_HOME': '/tmp/pm2-home', 'FLAG': 'true'}


# ===========================================================================
# check_expectations
# ===========================================================================

def test_expectations_met():
    processes = [make_process('web', 0), make_process('web', 1)]
    assert pm2.check_expectations(processes, [pm2.Expectation('web', 'online', count=2)]) == []


def test_expectation_count_mismatch():
    problems = pm2.check_expectations([make_process()], [pm2.Expectation('web', 'online', count=2)])
    assert problems == ['pm2 has 1 process named web, expected 2.']


def test_expectation_missing_process():
    problems = pm2.check_expectations([], [pm2.Expectation('web', 'online')])
    assert problems == ['pm2 has no process named web.']


def test_expectation_wrong_status():
    problems = pm2.check_expectations([make_process(status='errored')], [pm2.Expectation('web', 'online')])
    assert problems == ['Process web (pm_id 0) is errored, expected online.']


def test_expectation_wrong_exec_path():
    expectation = pm2.Expectation('web', 'online', exec_path='/srv/app/new.js')
    problems = pm2.check_expectations([make_process()], [expectation])
    assert problems == ['Process web (pm_id 0) runs /srv/app/current/server.js, expected /srv/app/new.js.']


def test_expectation_absent():
    problems = pm2.check_expectations([make_process(status='stopped')], [pm2.Expectation('web', 'absent')])
    assert problems == ['Process web (pm_id 0) still exists with status stopped.']
    assert pm2.check_expectations([], [pm2.Expectation('web', 'absent')]) == []


def test_expectation_all_stopped():
    processes = [make_process('a', 0, status='stopped'), make_process('b', 1, status='online')]
    problems = pm2.check_expectations(processes, [pm2.Expectation('all', 'stopped', count=2)])
    assert problems == ['Process b (pm_id 1) is online, expected stopped.']


# ===========================================================================
# wait_for_expectations and find_unstable
# ===========================================================================

def test_wait_online_after_stable_window():
    clock = FakeClock()
    reads = []

    def read():
        reads.append(clock.now)
        return [make_process()]
    outcome = pm2.wait_for_expectations(read, [pm2.Expectation('web', 'online')], timeout=30, stable_seconds=2,
                                        clock=clock, sleep=clock.sleep)
    assert outcome.ok
    assert reads[-1] - reads[0] >= 2


def test_wait_waits_for_launching():
    clock = FakeClock()
    read = sequence_reader([make_process(status='launching')], [make_process(status='launching')], [make_process()])
    outcome = pm2.wait_for_expectations(read, [pm2.Expectation('web', 'online')], timeout=30, stable_seconds=1,
                                        clock=clock, sleep=clock.sleep)
    assert outcome.ok


def test_wait_detects_crash_loop():
    clock = FakeClock()
    restarts = iter(range(1000))

    def read():
        return [make_process(restarts=next(restarts))]
    outcome = pm2.wait_for_expectations(read, [pm2.Expectation('web', 'online')], timeout=5, stable_seconds=2,
                                        clock=clock, sleep=clock.sleep)
    assert not outcome.ok
    assert outcome.timed_out
    assert any('restart count went from' in problem for problem in outcome.problems)


def test_wait_stops_at_errored():
    clock = FakeClock()
    read = sequence_reader([make_process(restarts=1)], [make_process(status='errored', restarts=15)])
    outcome = pm2.wait_for_expectations(read, [pm2.Expectation('web', 'online')], timeout=30, stable_seconds=2,
                                        clock=clock, sleep=clock.sleep)
    assert not outcome.ok
    assert not outcome.timed_out
    assert clock.now < 1010
    assert 'Process web (pm_id 0) is errored, expected online.' in outcome.problems


def test_wait_stopped_needs_no_window():
    clock = FakeClock()
    read = sequence_reader([make_process(status='stopped')])
    outcome = pm2.wait_for_expectations(read, [pm2.Expectation('web', 'stopped')], timeout=30, stable_seconds=2,
                                        clock=clock, sleep=clock.sleep)
    assert outcome.ok
    assert clock.now == 1000.0


def test_wait_absent_times_out():
    clock = FakeClock()
    read = sequence_reader([make_process()])
    outcome = pm2.wait_for_expectations(read, [pm2.Expectation('web', 'absent')], timeout=3, stable_seconds=2,
                                        clock=clock, sleep=clock.sleep)
    assert not outcome.ok
    assert outcome.timed_out
    assert clock.now == pytest.approx(1003.0)


def test_find_unstable_reports_restarting():
    clock = FakeClock()
    read = sequence_reader(
        [make_process('web', 0), make_process('worker', 1, restarts=4)],
        [make_process('web', 0), make_process('worker', 1, restarts=5)],
    )
    unstable, processes = pm2.find_unstable(read, ['web', 'worker'], 2, clock=clock, sleep=clock.sleep)
    assert unstable == ['worker']
    assert clock.now >= 1002.0
    assert len(processes) == 2


def test_find_unstable_all_stable():
    clock = FakeClock()
    unstable, _processes = pm2.find_unstable(sequence_reader([make_process()]), ['web'], 2,
                                             clock=clock, sleep=clock.sleep)
    assert unstable == []


# ===========================================================================
# Failure reports
# ===========================================================================

def test_log_tail_last_lines(tmp_path):
    log = tmp_path / 'web-error.log'
    log.write_text(''.join('line %d\n' % number for number in range(100)))
    tail = pm2.read_log_tail(str(log))
    assert tail.splitlines() == ['line %d' % number for number in range(80, 100)]


def test_log_tail_reads_only_end(tmp_path):
    log = tmp_path / 'web-error.log'
    log.write_text('x' * 100 + '\nlast\n')
    assert pm2.read_log_tail(str(log), max_bytes=20) == 'last'


def test_log_tail_missing_file(tmp_path):
    assert pm2.read_log_tail(str(tmp_path / 'missing.log')) is None
    assert pm2.read_log_tail(None) is None


def test_failure_message_names_process_and_log(tmp_path):
    log = tmp_path / 'web-error.log'
    log.write_text('Error: Cannot find module express\n')
    process = make_process(status='errored', restarts=15, err_log=str(log))
    outcome = pm2.WaitOutcome(False, [process], ['Process web (pm_id 0) is errored, expected online.'])
    message = pm2.describe_failure(outcome, [pm2.Expectation('web', 'online')], 30)
    assert 'because a process errored' in message
    assert 'Process web (pm_id 0): status errored, 15 restarts, error log %s.' % log in message
    assert 'Error: Cannot find module express' in message


def test_failure_message_for_timeout():
    outcome = pm2.WaitOutcome(False, [], ['pm2 has no process named web.'], timed_out=True)
    message = pm2.describe_failure(outcome, [pm2.Expectation('web', 'online')], 30)
    assert message.startswith('The pm2 processes did not reach the expected state within 30 seconds.')
    assert 'pm2 has no process named web.' in message


@pytest.mark.parametrize('pm2_env, expected', [
    ({'env': {'A': '1', pm2.ENV_KEYS_VARIABLE: 'A,B'}}, ['B']),
    ({pm2.ENV_KEYS_VARIABLE: 'A,B,C', 'env': {}}, ['B', 'C']),
    ({'env': {'A': '1', 'B': '2'}}, []),
    ({'env': {pm2.ENV_KEYS_VARIABLE: ''}}, []),
    ({}, []),
])
def test_removed_env_keys(pm2_env, expected):
    assert pm2.removed_env_keys({'pm2_env': pm2_env}, {'A': '1'}) == expected
