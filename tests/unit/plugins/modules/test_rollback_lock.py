# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for promptlib.rollback.rollback_lock on real lock files."""

from __future__ import annotations

import json
import threading

from ansible_collections.promptlib.rollback.plugins.modules import rollback_lock
from module_harness import run_module

FIRST = '20261204T120000Z-1a2b3c4d'
SECOND = '20261204T121500Z-9f8e7d6c'


def take(path, run_id=FIRST, **options):
    args = {'path': str(path), 'run_id': run_id, 'procedure': 'full', 'user': 'oncall',
            'controller': 'bastion-1', 'controller_pid': 4242, **options}
    return run_module(rollback_lock.main, args)


def release(path, run_id=FIRST, **options):
    return run_module(rollback_lock.main, {'path': str(path), 'run_id': run_id, 'state': 'absent', **options})


def test_free_lock_taken(tmp_path):
    path = tmp_path / 'state' / 'rollback.lock'
    result, failed = take(path)
    assert not failed
    assert result['changed']
    assert result['acquired']
    holder = json.loads(path.read_text())
    assert holder['run_id'] == FIRST
    assert holder['user'] == 'oncall'
    assert holder['controller'] == 'bastion-1'
    assert holder['controller_pid'] == 4242
    assert holder['started_at'].endswith('Z')


def test_own_lock_kept(tmp_path):
    path = tmp_path / 'rollback.lock'
    take(path)
    before = path.read_text()
    result, failed = take(path)
    assert not failed
    assert not result['changed']
    assert result['acquired']
    assert path.read_text() == before


def test_other_holder_refused_by_name(tmp_path):
    path = tmp_path / 'rollback.lock'
    take(path)
    result, failed = take(path, SECOND)
    assert failed
    assert not result['acquired']
    assert result['holder']['run_id'] == FIRST
    assert FIRST in result['msg']
    assert 'oncall' in result['msg']
    assert 'started 20' in result['msg']
    assert 'promptlib_lock_takeover=%s' % FIRST in result['msg']
    assert json.loads(path.read_text())['run_id'] == FIRST


def test_takeover_needs_holder_run_id(tmp_path):
    path = tmp_path / 'rollback.lock'
    take(path)
    result, failed = take(path, SECOND, takeover='20261204T000000Z-00000000')
    assert failed
    assert json.loads(path.read_text())['run_id'] == FIRST


def test_takeover_replaces_named_holder(tmp_path):
    path = tmp_path / 'rollback.lock'
    take(path)
    result, failed = take(path, SECOND, takeover=FIRST)
    assert not failed
    assert result['changed']
    assert result['previous_holder']['run_id'] == FIRST
    assert json.loads(path.read_text())['run_id'] == SECOND


def test_unreadable_lock_named_and_taken_over(tmp_path):
    path = tmp_path / 'rollback.lock'
    path.write_text('{"run_id": ')
    result, failed = take(path)
    assert failed
    assert 'unreadable lock' in result['msg']
    assert 'promptlib_lock_takeover=unreadable' in result['msg']
    result, failed = take(path, takeover='unreadable')
    assert not failed
    assert json.loads(path.read_text())['run_id'] == FIRST


def test_check_mode_writes_nothing(tmp_path):
    path = tmp_path / 'rollback.lock'
    result, failed = take(path, _ansible_check_mode=True)
    assert not failed
    assert result['changed']
    assert not path.exists()


def test_check_mode_refused_when_held(tmp_path):
    path = tmp_path / 'rollback.lock'
    take(path)
    result, failed = take(path, SECOND, _ansible_check_mode=True)
    assert failed
    assert result['holder']['run_id'] == FIRST


def test_release_removes_own_lock(tmp_path):
    path = tmp_path / 'rollback.lock'
    take(path)
    result, failed = release(path)
    assert not failed
    assert result['changed']
    assert not path.exists()
    result, failed = release(path)
    assert not failed
    assert not result['changed']


def test_release_keeps_other_holder(tmp_path):
    path = tmp_path / 'rollback.lock'
    take(path)
    result, failed = release(path, SECOND)
    assert not failed
    assert not result['changed']
    assert result['holder']['run_id'] == FIRST
    assert path.exists()


def test_invalid_run_id_rejected(tmp_path):
    path = tmp_path / 'rollback.lock'
    result, failed = take(path, ' ')
    assert failed
    assert "run_id ' ' is invalid" in result['msg']
    assert not path.exists()


def test_only_one_of_racing_runs_wins(tmp_path):
    path = tmp_path / 'rollback.lock'
    holders = []

    def write(run_id):
        holder = {'run_id': run_id}
        holders.append((run_id, rollback_lock.write_lock(str(path), holder, replace=False)))

    threads = [threading.Thread(target=write, args=('run-%d' % number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [run_id for run_id, written in holders if written]
    assert len(winners) == 1
    assert json.loads(path.read_text())['run_id'] == winners[0]
    assert sorted(item.name for item in tmp_path.iterdir()) == ['rollback.lock']
