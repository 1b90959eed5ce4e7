# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests of the pg_restore module's option checks and helpers. No client tool runs."""

from __future__ import annotations

import pytest
from module_harness import run_module

from ansible_collections.promptlib.rollback.plugins.module_utils.postgres import CommandError
from ansible_collections.promptlib.rollback.plugins.modules import pg_restore

SHA = 'a' * 64


def params(**overrides):
    values = dict(db='promptlib_production', src='/b/backup.sql', format='auto', strategy='swap', shadow_db=None,
                  failed_db=None, timestamp=None, owner=None, no_owner=False, jobs=1,
                  verify_query='SELECT COUNT(*) FROM prompt_templates', min_rows=1, force=False, stage_only=False,
                  maintenance_db='postgres')
    values.update(overrides)
    return values


def errors_for(**overrides):
    values = params(**overrides)
    shadow_db, failed_db = pg_restore.database_names(values, '20240101_120000')
    return pg_restore.option_errors(values, shadow_db, failed_db)


def test_default_names():
    assert pg_restore.database_names(params(), '20240101_120000') == (
        'promptlib_production_rollback_shadow', 'promptlib_production_failed_20240101_120000')


def test_given_names():
    values = params(shadow_db='s', failed_db='f')
    assert pg_restore.database_names(values, '20240101_120000') == ('s', 'f')


def test_option_errors_none():
    assert errors_for() == []


@pytest.mark.parametrize('overrides, fragment', [
    (dict(shadow_db='promptlib_production'), 'three different names'),
    (dict(failed_db='x', shadow_db='x'), 'three different names'),
    (dict(maintenance_db='promptlib_production'), 'maintenance_db promptlib_production must not be'),
    (dict(jobs=0), 'jobs must be 1 or more, got 0.'),
    (dict(min_rows=-1), 'min_rows must be 0 or more, got -1.'),
    (dict(jobs=4, format='plain'), 'jobs: 4 needs a custom-format archive'),
    (dict(db='d' * 45), 'failed_db'),
    (dict(shadow_db='-x'), 'shadow_db'),
    (dict(stage_only=True, strategy='in_place'), 'stage_only needs strategy swap, got strategy in_place'),
])
def test_option_errors_reported(overrides, fragment):
    errors = errors_for(**overrides)
    assert len(errors) == 1
    assert fragment in errors[0]


def test_in_place_allows_shadow_equal():
    assert errors_for(strategy='in_place', shadow_db='promptlib_production') == []


def test_in_place_ignores_long_default_names():
    assert errors_for(strategy='in_place', db='d' * 60) == []


def test_in_place_checks_maintenance_db():
    errors = errors_for(strategy='in_place', maintenance_db='promptlib_production')
    assert len(errors) == 1
    assert 'maintenance_db promptlib_production must not be' in errors[0]


def test_jobs_with_auto_checked_later():
    assert errors_for(jobs=4) == []


@pytest.mark.parametrize('comment, expected', [
    (pg_restore.restore_marker('/b/backup.sql', SHA), SHA),
    (pg_restore.restore_marker('/b/odd name\nwith newline.sql', SHA), SHA),
    ('promptlib.rollback: restored from x.sql sha256 ' + 'A' * 64, None),
    ('restored from x.sql sha256 ' + SHA, None),
    ('', None),
    (None, None),
])
def test_marker_sha256(comment, expected):
    assert pg_restore.marker_sha256(comment) == expected


def test_restore_marker_uses_basename():
    marker = pg_restore.restore_marker('/var/backups/backup-pre-deployment.sql', SHA)
    assert marker == 'promptlib.rollback: restored from backup-pre-deployment.sql sha256 ' + SHA


def test_missing_roles_error():
    error = pg_restore.missing_roles_error('/b/x.dump', {'zeta', 'alpha'}, 'app')
    assert 'alpha, zeta' in error
    assert 'no_owner: true' in error
    assert '/b/x.dump' in error


def test_custom_list_error_newer():
    error = CommandError('failed', ['pg_restore'], 1, '',
                         'pg_restore: error: unsupported version (1.99) in file header\n')
    message = pg_restore.custom_list_error('/b/x.dump', error, (1, 99, 0), (15, 18))
    assert 'pg_restore 15.18 cannot read backup /b/x.dump' in message
    assert 'archive format version 1.99.0' in message
    assert 'newer pg_dump' in message


def test_custom_list_error_corrupt():
    error = CommandError('failed', ['pg_restore'], 1, '',
                         'pg_restore: error: could not read from input file: end of file\n')
    message = pg_restore.custom_list_error('/b/x.dump', error, (1, 14, 0), (15, 18))
    assert 'corrupt, truncated or not a pg_dump archive' in message
    assert 'end of file' in message


def test_main_requires_src():
    result, failed = run_module(pg_restore.main, {'db': 'demo'})
    assert failed
    assert 'src' in result['msg']


def test_main_rejects_strategy():
    result, failed = run_module(pg_restore.main, {'db': 'demo', 'src': '/b/x.sql', 'strategy': 'rename'})
    assert failed
    assert 'strategy' in result['msg']


def test_main_jobs_with_plain_format():
    result, failed = run_module(pg_restore.main, {'db': 'demo', 'src': '/b/x.sql', 'format': 'plain', 'jobs': 3})
    assert failed
    assert result['msg'].startswith('jobs: 3 needs a custom-format archive, but /b/x.sql is a plain SQL dump')


def test_main_jobs_with_detected_plain(tmp_path):
    src = tmp_path / 'x.sql'
    src.write_bytes(b'-- plain dump\n')
    result, failed = run_module(pg_restore.main, {'db': 'demo', 'src': str(src), 'jobs': 2})
    assert failed
    assert 'jobs: 2 needs a custom-format archive' in result['msg']
    assert result['commands'] == []


def test_main_missing_src(tmp_path):
    result, failed = run_module(pg_restore.main, {'db': 'demo', 'src': str(tmp_path / 'nope.sql')})
    assert failed
    assert result['msg'] == 'Backup %s not found. Check src. Nothing was changed.' % (tmp_path / 'nope.sql')


def test_main_empty_src(tmp_path):
    src = tmp_path / 'empty.sql'
    src.write_bytes(b'')
    result, failed = run_module(pg_restore.main, {'db': 'demo', 'src': str(src)})
    assert failed
    assert 'is empty' in result['msg']


def test_main_folder_src(tmp_path):
    result, failed = run_module(pg_restore.main, {'db': 'demo', 'src': str(tmp_path)})
    assert failed
    assert 'is not a regular file' in result['msg']


@pytest.mark.parametrize('content, requested, detected', [
    (b'PGDMP\x01\x0e\x00', 'plain', 'custom'),
    (b'-- plain\n', 'custom', 'plain'),
])
def test_main_format_mismatch(tmp_path, content, requested, detected):
    src = tmp_path / 'backup'
    src.write_bytes(content)
    result, failed = run_module(pg_restore.main, {'db': 'demo', 'src': str(src), 'format': requested})
    assert failed
    assert 'is a %s backup, but format is %s' % (detected, requested) in result['msg']


def test_describe_database_absent():
    assert pg_restore.describe_database('promptlib_production', None) == 'absent\n'


def test_describe_database_owner_and_comment():
    text = pg_restore.describe_database('promptlib_production', {'owner': 'promptlib', 'comment': 'restored'})
    assert text.splitlines() == ['database: promptlib_production', 'owner: promptlib', 'comment: restored']
