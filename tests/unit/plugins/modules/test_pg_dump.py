# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests of the pg_dump module's option checks and of keeping an existing file. No client tool runs."""

from __future__ import annotations

import pytest
from module_harness import run_module

from ansible_collections.promptlib.rollback.plugins.modules import pg_dump


def params(**overrides):
    values = dict(db='promptlib_production', dest='/nonexistent/backup.dump', format='custom', verify=True,
                  overwrite=False, min_free_ratio=1.2, mode='0600')
    values.update(overrides)
    return values


def test_option_errors_none():
    assert pg_dump.option_errors(params()) == []


@pytest.mark.parametrize('overrides, fragment', [
    (dict(db='-x'), 'db'),
    (dict(db='a' * 64), '63 bytes'),
    (dict(min_free_ratio=-0.5), 'min_free_ratio must be 0 or more, got -0.5'),
    (dict(dest='/var/backups/'), 'is a folder'),
])
def test_option_errors_reported(overrides, fragment):
    errors = pg_dump.option_errors(params(**overrides))
    assert len(errors) == 1
    assert fragment in errors[0]


def test_option_errors_existing_folder(tmp_path):
    errors = pg_dump.option_errors(params(dest=str(tmp_path)))
    assert errors == ['dest %s is a folder. Give the path of the backup file to write.' % tmp_path]


def test_space_enough():
    assert pg_dump.space_error('/b', 'db', 100 * 1024 * 1024, 1.2, 120 * 1024 * 1024) is None


def test_space_ratio_zero_skips():
    assert pg_dump.space_error('/b', 'db', 100 * 1024 * 1024, 0, 0) is None


def test_space_short_names_numbers():
    error = pg_dump.space_error('/var/backups', 'promptlib_production', 100 * 1024 * 1024, 1.2, 50 * 1024 * 1024)
    assert error is not None
    assert '50.0 MB free' in error
    assert '120.0 MB required' in error
    assert 'database size 100.0 MB' in error
    assert '/var/backups' in error
    assert 'promptlib_production' in error


def test_main_requires_db():
    result, failed = run_module(pg_dump.main, {'dest': '/tmp/x.dump'})
    assert failed
    assert 'db' in result['msg']


def test_main_rejects_format():
    result, failed = run_module(pg_dump.main, {'db': 'demo', 'dest': '/tmp/x.dump', 'format': 'tar'})
    assert failed
    assert 'format' in result['msg']


def test_main_rejects_negative_ratio():
    result, failed = run_module(pg_dump.main, {'db': 'demo', 'dest': '/tmp/x.dump', 'min_free_ratio': -1})
    assert failed
    assert result['msg'] == 'min_free_ratio must be 0 or more, got -1.0.'


def test_main_missing_folder(tmp_path):
    dest = str(tmp_path / 'missing' / 'x.dump')
    result, failed = run_module(pg_dump.main, {'db': 'demo', 'dest': dest})
    assert failed
    assert result['msg'] == 'The folder %s of dest does not exist. Create it first.' % (tmp_path / 'missing')


def test_main_existing_dest_fails_verification(tmp_path):
    dest = tmp_path / 'x.sql'
    dest.write_bytes(b'-- not a complete dump\n')
    result, failed = run_module(pg_dump.main, {'db': 'demo', 'dest': str(dest), 'format': 'plain'})
    assert failed
    assert 'exists but failed verification' in result['msg']
    assert 'trailer is missing' in result['msg']
    assert dest.read_bytes() == b'-- not a complete dump\n'


def test_main_keeps_verified_plain_dest(tmp_path):
    dest = tmp_path / 'x.sql'
    dest.write_bytes(b'COPY public.t (id) FROM stdin;\n1\n\\.\n--\n-- PostgreSQL database dump complete\n--\n')
    dest.chmod(0o600)
    result, failed = run_module(pg_dump.main, {'db': 'demo', 'dest': str(dest), 'format': 'plain'})
    assert not failed
    assert result['changed'] is False
    assert result['verified'] is True
    assert result['table_count'] == 1
    assert result['command'] is None


def test_main_existing_dest_wrong_format(tmp_path):
    dest = tmp_path / 'x.dump'
    dest.write_bytes(b'-- plain\n')
    result, failed = run_module(pg_dump.main, {'db': 'demo', 'dest': str(dest), 'verify': False})
    assert failed
    assert 'is not in custom format' in result['msg']


PLAIN_DUMP = b'COPY public.t (id) FROM stdin;\n1\n\\.\n--\n-- PostgreSQL database dump complete\n--\n'


def test_describe_backup_absent(tmp_path):
    assert pg_dump.describe_backup(str(tmp_path / 'missing.dump')) == 'absent\n'


def test_describe_backup_fields(tmp_path):
    dest = tmp_path / 'x.sql'
    dest.write_bytes(PLAIN_DUMP)
    dest.chmod(0o640)
    lines = pg_dump.describe_backup(str(dest)).splitlines()
    assert lines[0] == 'format: plain'
    assert lines[1] == 'size_bytes: %d' % len(PLAIN_DUMP)
    assert lines[2].startswith('sha256: ')
    assert lines[3] == 'mode: 0640'


def test_main_check_diff_mode_change(tmp_path):
    dest = tmp_path / 'x.sql'
    dest.write_bytes(PLAIN_DUMP)
    dest.chmod(0o644)
    result, failed = run_module(pg_dump.main, {'db': 'demo', 'dest': str(dest), 'format': 'plain',
                                               '_ansible_check_mode': True, '_ansible_diff': True})
    assert not failed, result.get('msg')
    assert result['changed'] is True
    assert 'mode: 0644' in result['diff']['before']
    assert 'mode: 0600' in result['diff']['after']
    assert dest.stat().st_mode & 0o777 == 0o644


def test_main_diff_unchanged(tmp_path):
    dest = tmp_path / 'x.sql'
    dest.write_bytes(PLAIN_DUMP)
    dest.chmod(0o600)
    result, failed = run_module(pg_dump.main, {'db': 'demo', 'dest': str(dest), 'format': 'plain',
                                               '_ansible_diff': True})
    assert not failed, result.get('msg')
    assert result['changed'] is False
    assert result['diff']['before'] == result['diff']['after']
