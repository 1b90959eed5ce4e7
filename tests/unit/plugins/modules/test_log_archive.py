# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for promptlib.rollback.log_archive on real files and a local HTTP server."""

from __future__ import annotations

import http.server
import stat
import tarfile
import threading

import pytest

from ansible_collections.promptlib.rollback.plugins.modules import log_archive
from module_harness import run_module


class Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200 if self.path == '/metrics' else 404
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'promptlib_database_up 1\n' if status == 200 else b'not found')

    def log_message(self, *args):
        pass


@pytest.fixture
def metrics_url():
    server = http.server.HTTPServer(('127.0.0.1', 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def logs(tmp_path):
    folder = tmp_path / 'log'
    folder.mkdir()
    (folder / 'application.log').write_text('line 1\nline 2\nline 3\n')
    (folder / 'nginx.log').write_text('GET / 200\n')
    return folder


def members(path):
    with tarfile.open(path) as archive:
        return {member.name: archive.extractfile(member).read() for member in archive.getmembers()}


def test_files_archived(module_exits, tmp_path, logs):
    dest = tmp_path / 'out.tar.gz'
    result, failed = run_module(log_archive.main, {'dest': str(dest), 'paths': [str(logs / '*.log')]})
    assert not failed
    assert [item['path'] for item in result['files']] == [str(logs / 'application.log'), str(logs / 'nginx.log')]
    archived = members(dest)
    assert archived[str(logs / 'application.log').lstrip('/')] == b'line 1\nline 2\nline 3\n'
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_long_file_keeps_end(module_exits, tmp_path, logs):
    dest = tmp_path / 'out.tar.gz'
    args = {'dest': str(dest), 'paths': [str(logs / 'application.log')], 'max_bytes': 7}
    result, unused = run_module(log_archive.main, args)
    assert members(dest)[str(logs / 'application.log').lstrip('/')] == b'line 3\n'
    assert result['files'][0]['truncated'] is True
    assert result['files'][0]['size'] == 21


def test_missing_pattern_reported(module_exits, tmp_path, logs):
    result, failed = run_module(log_archive.main, {'dest': str(tmp_path / 'out.tar.gz'),
                                                   'paths': [str(logs / 'none*.log'), str(logs / 'nginx.log')]})
    assert not failed
    assert result['missing'] == [str(logs / 'none*.log')]
    assert len(result['files']) == 1


def test_unreadable_file_reported(module_exits, tmp_path, logs, monkeypatch):
    def refuse(path, max_bytes):
        raise PermissionError(13, 'Permission denied')

    monkeypatch.setattr(log_archive, 'read_tail', refuse)
    result, failed = run_module(log_archive.main, {'dest': str(tmp_path / 'out.tar.gz'),
                                                   'paths': [str(logs / 'nginx.log')]})
    assert not failed
    assert result['unreadable'] == [{'path': str(logs / 'nginx.log'), 'error': 'Permission denied'}]


def test_generated_members(module_exits, tmp_path, metrics_url):
    dest = tmp_path / 'out.tar.gz'
    result, failed = run_module(log_archive.main, {
        'dest': str(dest),
        'contents': {'notes.txt': 'before the switch'},
        'urls': {'metrics/app.prom': metrics_url + '/metrics', 'metrics/gone.json': metrics_url + '/gone'},
        'commands': {'metrics/echo.txt': ['echo', 'hello']},
    })
    assert not failed
    archived = members(dest)
    assert archived['notes.txt'] == b'before the switch'
    assert archived['metrics/app.prom'] == b'promptlib_database_up 1\n'
    assert b'"status": 200' in archived['metrics/app.prom.status.json']
    assert b'"status": 404' in archived['metrics/gone.json.status.json']
    assert archived['metrics/echo.txt'] == b'hello\n'
    assert 'metrics/echo.txt' in result['generated']


def test_check_mode_writes_nothing(module_exits, tmp_path, logs):
    dest = tmp_path / 'out.tar.gz'
    result, failed = run_module(log_archive.main, {'dest': str(dest), 'paths': [str(logs / '*.log')],
                                                   '_ansible_check_mode': True})
    assert not failed
    assert len(result['files']) == 2
    assert not dest.exists()


@pytest.mark.parametrize('name', ['/etc/passwd', '../escape.txt', ''])
def test_member_name_outside_rejected(module_exits, tmp_path, name):
    result, failed = run_module(log_archive.main, {'dest': str(tmp_path / 'out.tar.gz'), 'contents': {name: 'x'}})
    assert failed
    assert 'member name' in result['msg']


def test_missing_dest_folder_rejected(module_exits, tmp_path):
    result, failed = run_module(log_archive.main, {'dest': str(tmp_path / 'no' / 'out.tar.gz')})
    assert failed
    assert 'does not exist' in result['msg']


@pytest.mark.parametrize('check_mode', [False, True])
def test_folder_dest_rejected(module_exits, tmp_path, logs, check_mode):
    dest = tmp_path / 'out.tar.gz'
    dest.mkdir()
    result, failed = run_module(log_archive.main, {'dest': str(dest), 'paths': [str(logs / '*.log')],
                                                   '_ansible_check_mode': check_mode})
    assert failed
    assert str(dest) in result['msg']
    assert 'is a directory' in result['msg']
    assert list(dest.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ['log', 'out.tar.gz']


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('argv', ['df -P /', [], [['df'], '-P'], ['df', None]])
def test_invalid_command_rejected_first(module_exits, tmp_path, monkeypatch, argv, check_mode):
    requested = []

    def record_request(url, timeout, max_bytes):
        requested.append(url)
        return b'', {'url': url, 'status': 200, 'error': None}

    monkeypatch.setattr(log_archive, 'fetch_url', record_request)
    dest = tmp_path / 'out.tar.gz'
    result, failed = run_module(log_archive.main, {
        'dest': str(dest),
        'urls': {'metrics/app.prom': 'http://127.0.0.1:9/metrics'},
        'commands': {'metrics/disk.txt': argv},
        '_ansible_check_mode': check_mode,
    })
    assert failed
    assert 'metrics/disk.txt' in result['msg']
    assert repr(argv) in result['msg']
    assert requested == []
    assert not dest.exists()


def test_existing_archive_kept(module_exits, tmp_path, logs):
    dest = tmp_path / 'out.tar.gz'
    first, failed = run_module(log_archive.main, {'dest': str(dest), 'paths': [str(logs / '*.log')]})
    assert not failed
    assert first['changed'] is True
    assert first['kept'] is False
    (logs / 'application.log').write_text('written after the snapshot\n')
    archived = members(dest)

    again, failed = run_module(log_archive.main, {'dest': str(dest), 'paths': [str(logs / '*.log')]})
    assert not failed
    assert again['changed'] is False
    assert again['kept'] is True
    assert members(dest) == archived


def test_force_replaces_archive(module_exits, tmp_path, logs):
    dest = tmp_path / 'out.tar.gz'
    dest.write_text('not an archive')
    result, failed = run_module(log_archive.main, {'dest': str(dest), 'paths': [str(logs / '*.log')], 'force': True})
    assert not failed
    assert result['changed'] is True
    assert str(logs / 'nginx.log').lstrip('/') in members(dest)
