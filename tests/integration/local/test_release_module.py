# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run promptlib.rollback.release through ansible-playbook on real folders on localhost.

The switch runs in check mode first (nothing may change), then for real, then again
(changed must be false).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TIMESTAMP = '20240501_101500'


def find_ansible_playbook() -> str:
    candidate = Path(sys.executable).with_name('ansible-playbook')
    if candidate.exists():
        return str(candidate)
    return shutil.which('ansible-playbook') or 'ansible-playbook'


def run_task(tmp_path: Path, args: dict, check: bool = False, diff: bool = False) -> dict:
    """Run the release module in a one-task playbook and return the task result."""
    playbook = tmp_path / 'playbook.json'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost',
        'gather_facts': False,
        'tasks': [{'name': 'Switch the release', 'promptlib.rollback.release': args}],
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


def snapshot(root: Path) -> dict:
    """Map every path under ``root`` to its type, mode, link target or content."""
    entries = {}
    for folder, folders, files in os.walk(str(root)):
        for name in folders + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if os.path.islink(path):
                entries[path] = ('link', os.readlink(path))
            elif os.path.isdir(path):
                entries[path] = ('dir', oct(info.st_mode))
            else:
                with open(path, 'rb') as handle:
                    entries[path] = ('file', oct(info.st_mode), info.st_mtime, handle.read())
    return entries


@pytest.fixture
def app_root(tmp_path):
    root = tmp_path / 'prompt-library'
    previous = root / 'previous-stable'
    (previous / 'node_modules' / 'express').mkdir(parents=True)
    (previous / 'package.json').write_text('{"name": "prompt-library", "version": "1.4.2"}\n')
    (previous / 'release.json').write_text('{"version": "1.4.2"}\n')
    (previous / 'server.js').write_text('require("express");\n')
    (previous / 'node_modules' / 'express' / 'index.js').write_text('module.exports = {};\n')
    os.symlink('node_modules/express/index.js', str(previous / 'express.js'))
    os.chmod(str(previous / 'server.js'), 0o750)
    os.utime(str(previous / 'server.js'), (1_600_000_000, 1_600_000_000))

    current = root / 'current'
    current.mkdir()
    (current / 'package.json').write_text('{"name": "prompt-library", "version": "1.5.0"}\n')
    (current / 'release.json').write_text('{"version": "1.5.0"}\n')
    (current / 'server.js').write_text('throw new Error("1.5.0 does not boot");\n')
    return root


def test_switch_check_apply_repeat(tmp_path, app_root):
    args = {'path': str(app_root), 'timestamp': TIMESTAMP, 'required_files': ['package.json', 'node_modules']}
    before = snapshot(app_root)

    checked = run_task(tmp_path, args, check=True, diff=True)
    assert not checked.get('failed'), checked.get('msg')
    assert checked['changed'] is True
    assert checked['failed_path'] == str(app_root / ('current-failed-' + TIMESTAMP))
    assert checked['diff']['before'] == '1.5.0\n'
    assert checked['diff']['after'] == '1.4.2\n'
    assert snapshot(app_root) == before

    applied = run_task(tmp_path, args, diff=True)
    assert not applied.get('failed'), applied.get('msg')
    assert applied['changed'] is True
    assert applied['current_version_before'] == '1.5.0'
    assert applied['current_version_after'] == '1.4.2'
    assert applied['switch_method'] in ('exchange', 'rename')
    current = app_root / 'current'
    assert (current / 'server.js').read_text() == 'require("express");\n'
    assert os.readlink(str(current / 'express.js')) == 'node_modules/express/index.js'
    assert oct(os.stat(str(current / 'server.js')).st_mode & 0o7777) == oct(0o750)
    assert os.stat(str(current / 'server.js')).st_mtime == 1_600_000_000
    failed = app_root / ('current-failed-' + TIMESTAMP)
    assert (failed / 'server.js').read_text() == 'throw new Error("1.5.0 does not boot");\n'
    assert (app_root / 'previous-stable' / 'server.js').exists()
    assert sorted(os.listdir(str(app_root))) == ['current', 'current-failed-' + TIMESTAMP, 'previous-stable']

    after_apply = snapshot(app_root)
    again = run_task(tmp_path, dict(args, timestamp='20240501_111111'))
    assert not again.get('failed'), again.get('msg')
    assert again['changed'] is False
    assert again['failed_path'] is None
    assert again['fingerprint'] == applied['fingerprint']
    assert snapshot(app_root) == after_apply


def test_missing_previous_fails_before_change(tmp_path, app_root):
    shutil.rmtree(str(app_root / 'previous-stable'))
    before = snapshot(app_root)
    result = run_task(tmp_path, {'path': str(app_root), 'timestamp': TIMESTAMP})
    assert result.get('failed') is True
    assert result['msg'].startswith('No previous release to roll back to: %s does not exist.'
                                    % (app_root / 'previous-stable'))
    assert snapshot(app_root) == before


def test_leftover_staging_is_replaced(tmp_path, app_root):
    leftover = app_root / '.current-staging-20240430_235959'
    leftover.mkdir()
    (leftover / 'package.json').write_text('{"partial": true}')
    result = run_task(tmp_path, {'path': str(app_root), 'timestamp': TIMESTAMP})
    assert not result.get('failed'), result.get('msg')
    assert result['removed_staging'] == [str(leftover)]
    assert not leftover.exists()
    assert (app_root / 'current' / 'release.json').read_text() == '{"version": "1.4.2"}\n'


def test_invalid_timestamp_fails(tmp_path, app_root):
    result = run_task(tmp_path, {'path': str(app_root), 'timestamp': '2024-05-01 10:15'})
    assert result.get('failed') is True
    assert "The timestamp '2024-05-01 10:15' is invalid" in result['msg']
