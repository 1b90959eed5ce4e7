# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run promptlib.rollback.pm2 through ansible-playbook against a real pm2 on localhost.

Every test uses its own PM2_HOME in a temporary folder and kills that daemon at the
end, so no other pm2 daemon is touched. Each state runs in check mode first (nothing
may change), then for real, then again (changed must be false).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

PM2 = shutil.which('pm2')
NODE = shutil.which('node')
REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(
    PM2 is None or NODE is None,
    reason='pm2 and Node.js must be on PATH (install pm2 with "npm install -g pm2@7")',
)

APP_NAME = 'promptlib-it-web'

SERVER_JS = """\
console.log('server started, FLAG=' + process.env.FLAG);
setInterval(() => {}, 1000);
"""

CRASHING_JS = """\
console.error('fatal: cannot connect to the database at boot');
process.exit(1);
"""

# Reads .env at load time, like the application's real ecosystem file.
ECOSYSTEM_JS = """\
const fs = require('fs');
const path = require('path');
const env = {};
for (const line of fs.readFileSync(path.join(__dirname, '.env'), 'utf8').split('\\n')) {
  const separator = line.indexOf('=');
  if (separator > 0) env[line.slice(0, separator)] = line.slice(separator + 1);
}
module.exports = { apps: [{ name: '%s', script: '%s', env: env }] };
"""


def find_ansible_playbook() -> str:
    candidate = Path(sys.executable).with_name('ansible-playbook')
    if candidate.exists():
        return str(candidate)
    return shutil.which('ansible-playbook') or 'ansible-playbook'


def run_task(tmp_path: Path, args: dict, check: bool = False, diff: bool = False) -> dict:
    """Run the pm2 module in a one-task playbook and return the task result."""
    playbook = tmp_path / 'playbook.json'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost',
        'gather_facts': False,
        'tasks': [{'name': 'Run the pm2 module', 'promptlib.rollback.pm2': args}],
    }]))
    argv = [find_ansible_playbook(), '-i', 'localhost,', '-c', 'local',
            '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)]
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    environment = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='json',
                       ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    completed = subprocess.run(argv, cwd=str(REPO), env=environment, capture_output=True, text=True,
                               timeout=300, check=False)
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        pytest.fail('ansible-playbook printed no JSON (rc %d): %s %s'
                    % (completed.returncode, completed.stdout[-2000:], completed.stderr[-2000:]))
    return report['plays'][0]['tasks'][0]['hosts']['localhost']


class Pm2Home:
    """A private pm2 daemon for one test, read with the real pm2 CLI."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def environment(self) -> dict:
        return dict(os.environ, PM2_HOME=str(self.home))

    def processes(self) -> list:
        completed = subprocess.run([PM2, 'jlist'], env=self.environment(), capture_output=True, text=True,
                                   timeout=60, check=True)
        output = completed.stdout
        return json.loads(output[output.rindex('\n[') + 1:] if not output.startswith('[') else output)

    def process(self, name: str = APP_NAME) -> dict | None:
        matching = [process for process in self.processes() if process['name'] == name]
        return matching[0] if matching else None

    def status(self, name: str = APP_NAME) -> str | None:
        process = self.process(name)
        return process['pm2_env']['status'] if process else None

    def process_environment(self, name: str = APP_NAME) -> dict:
        """Read the environment of the running process from /proc, not from pm2."""
        pid = self.process(name)['pid']
        raw = Path('/proc/%d/environ' % pid).read_bytes()
        return dict(item.split('=', 1) for item in raw.decode('utf-8', 'replace').split('\0') if '=' in item)

    def kill(self) -> None:
        subprocess.run([PM2, 'kill'], env=self.environment(), capture_output=True, timeout=60, check=False)


@pytest.fixture
def pm2_home(tmp_path):
    daemon = Pm2Home(tmp_path / 'pm2-home')
    yield daemon
    daemon.kill()


@pytest.fixture
def app(tmp_path):
    folder = tmp_path / 'app'
    folder.mkdir()
    (folder / 'server.js').write_text(SERVER_JS)
    (folder / 'crash.js').write_text(CRASHING_JS)
    (folder / '.env').write_text('FLAG=one\nDATABASE_URL=postgres://secret-password@db/promptlib\n')
    (folder / 'ecosystem.config.js').write_text(ECOSYSTEM_JS % (APP_NAME, 'server.js'))
    return folder


def module_args(pm2_home: Pm2Home, **args) -> dict:
    args.update(pm2_home=str(pm2_home.home), executable=PM2, wait_timeout=30, stable_seconds=1)
    return args


def start_app(tmp_path, pm2_home, app):
    result = run_task(tmp_path, module_args(pm2_home, ecosystem=str(app / 'ecosystem.config.js'), state='started'))
    assert not result.get('failed'), result.get('msg')
    return result


def test_started_from_ecosystem(tmp_path, pm2_home, app):
    args = module_args(pm2_home, ecosystem=str(app / 'ecosystem.config.js'), state='started')

    checked = run_task(tmp_path, args, check=True, diff=True)
    assert not checked.get('failed'), checked.get('msg')
    assert checked['changed'] is True
    assert checked['commands'] == [[PM2, 'start', str(app / 'ecosystem.config.js'), '--only', APP_NAME]]
    assert pm2_home.process() is None

    applied = run_task(tmp_path, args)
    assert not applied.get('failed'), applied.get('msg')
    assert applied['changed'] is True
    assert pm2_home.status() == 'online'
    assert pm2_home.process()['pm2_env']['pm_exec_path'] == str(app / 'server.js')
    assert pm2_home.process_environment()['FLAG'] == 'one'
    assert applied['processes'][0]['status'] == 'online'
    assert 'secret-password' not in json.dumps(applied)

    again = run_task(tmp_path, args)
    assert not again.get('failed'), again.get('msg')
    assert again['changed'] is False
    assert again['commands'] == []


def test_started_picks_up_env_file(tmp_path, pm2_home, app):
    start_app(tmp_path, pm2_home, app)
    pid_before = pm2_home.process()['pid']
    (app / '.env').write_text('FLAG=two\nDATABASE_URL=postgres://secret-password@db/promptlib\n')
    args = module_args(pm2_home, ecosystem=str(app / 'ecosystem.config.js'), state='started')

    checked = run_task(tmp_path, args, check=True)
    assert checked['changed'] is True
    assert checked['reasons'] == {APP_NAME: ['the environment differs from the ecosystem file in FLAG']}
    assert pm2_home.process()['pid'] == pid_before

    applied = run_task(tmp_path, args)
    assert not applied.get('failed'), applied.get('msg')
    assert applied['changed'] is True
    assert pm2_home.process_environment()['FLAG'] == 'two'

    again = run_task(tmp_path, args)
    assert again['changed'] is False


def test_started_after_release_swap(tmp_path, pm2_home, tmp_path_factory):
    # The app runs from root/current. Replacing that folder (as the release module does)
    # leaves pm2 with the same path string, but the process still runs the old folder.
    root = tmp_path_factory.mktemp('root')
    current = root / 'current'
    current.mkdir()
    (current / 'server.js').write_text(SERVER_JS)
    (current / '.env').write_text('FLAG=old\n')
    (current / 'ecosystem.config.js').write_text(ECOSYSTEM_JS % (APP_NAME, 'server.js'))
    start_app(tmp_path, pm2_home, current)

    os.rename(str(current), str(root / 'current-failed'))
    shutil.copytree(str(root / 'current-failed'), str(current))
    args = module_args(pm2_home, ecosystem=str(current / 'ecosystem.config.js'), state='started')
    applied = run_task(tmp_path, args)
    assert not applied.get('failed'), applied.get('msg')
    assert applied['changed'] is True
    assert 'runs in a folder that is no longer' in applied['reasons'][APP_NAME][0]
    pid = pm2_home.process()['pid']
    assert os.readlink('/proc/%d/cwd' % pid) == str(current)


def test_stopped_all(tmp_path, pm2_home, app):
    start_app(tmp_path, pm2_home, app)
    args = module_args(pm2_home, name='all', state='stopped')

    checked = run_task(tmp_path, args, check=True, diff=True)
    assert checked['changed'] is True
    assert checked['diff']['before'] == '%s (pm_id 0): online\n' % APP_NAME
    assert checked['diff']['after'] == '%s (pm_id 0): stopped\n' % APP_NAME
    assert pm2_home.status() == 'online'

    applied = run_task(tmp_path, args)
    assert not applied.get('failed'), applied.get('msg')
    assert applied['changed'] is True
    assert pm2_home.status() == 'stopped'

    again = run_task(tmp_path, args)
    assert again['changed'] is False


def test_restarted_drops_removed_variable(tmp_path, pm2_home, app):
    (app / '.env').write_text('FLAG=one\nTEMPLATE_EDITING_ENABLED=true\n')
    start_app(tmp_path, pm2_home, app)
    assert pm2_home.process_environment()['TEMPLATE_EDITING_ENABLED'] == 'true'
    (app / '.env').write_text('FLAG=one\n')
    args = module_args(pm2_home, ecosystem=str(app / 'ecosystem.config.js'), state='restarted')

    checked = run_task(tmp_path, args, check=True)
    assert checked['changed'] is True
    assert 'TEMPLATE_EDITING_ENABLED' in pm2_home.process_environment()

    applied = run_task(tmp_path, args)
    assert not applied.get('failed'), applied.get('msg')
    assert 'TEMPLATE_EDITING_ENABLED' not in pm2_home.process_environment()
    assert pm2_home.status() == 'online'


def test_restarted_by_name_with_env(tmp_path, pm2_home, app):
    start_app(tmp_path, pm2_home, app)
    args = module_args(pm2_home, name=APP_NAME, state='restarted',
                       env={'TEMPLATE_CREATION_ENABLED': 'false', 'ADMIN_TOKEN': 'token-secret-value'})
    pid_before = pm2_home.process()['pid']

    checked = run_task(tmp_path, args, check=True)
    assert checked['changed'] is True
    assert pm2_home.process()['pid'] == pid_before

    applied = run_task(tmp_path, args)
    assert not applied.get('failed'), applied.get('msg')
    assert pm2_home.process()['pid'] != pid_before
    assert pm2_home.process_environment()['TEMPLATE_CREATION_ENABLED'] == 'false'
    assert pm2_home.process_environment()['ADMIN_TOKEN'] == 'token-secret-value'
    assert 'token-secret-value' not in json.dumps(applied)


def test_absent(tmp_path, pm2_home, app):
    start_app(tmp_path, pm2_home, app)
    args = module_args(pm2_home, name=APP_NAME, state='absent')

    checked = run_task(tmp_path, args, check=True)
    assert checked['changed'] is True
    assert pm2_home.process() is not None

    applied = run_task(tmp_path, args)
    assert applied['changed'] is True
    assert pm2_home.process() is None

    again = run_task(tmp_path, args)
    assert again['changed'] is False


def test_crashing_release_fails_with_log(tmp_path, pm2_home, app):
    (app / 'ecosystem.config.js').write_text(ECOSYSTEM_JS % (APP_NAME, 'crash.js'))
    started = time.monotonic()
    result = run_task(tmp_path, module_args(pm2_home, ecosystem=str(app / 'ecosystem.config.js'), state='started'))
    assert result.get('failed') is True
    assert 'Process %s (pm_id 0): status' % APP_NAME in result['msg']
    assert 'fatal: cannot connect to the database at boot' in result['msg']
    assert '%s-error.log' % APP_NAME in result['msg']
    assert time.monotonic() - started < 120
