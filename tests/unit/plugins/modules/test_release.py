# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the promptlib.rollback.release module on real folders under tmp_path."""

from __future__ import annotations

import datetime
import errno
import json
import os
import shutil
import stat

import pytest

from ansible_collections.promptlib.rollback.plugins.module_utils.common import is_valid_timestamp, utc_timestamp
from ansible_collections.promptlib.rollback.plugins.modules import release
from module_harness import run_module

TIMESTAMP = '20240501_101500'


def write_release(folder, version=None, files=None):
    """Create a release folder with package.json, an optional release.json and ``files``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'package.json').write_text('{"name": "prompt-library"}\n')
    if version is not None:
        (folder / 'release.json').write_text(json.dumps({'version': version}))
    for relative, content in (files or {}).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return folder


@pytest.fixture
def app_root(tmp_path):
    root = tmp_path / 'prompt-library'
    previous = write_release(root / 'previous-stable', '1.0.0', {'server.js': 'good();\n', 'lib/util.js': 'u\n'})
    os.symlink('lib/util.js', str(previous / 'util-link.js'))
    os.chmod(str(previous / 'server.js'), 0o750)
    os.utime(str(previous / 'server.js'), (1_600_000_000, 1_600_000_000))
    write_release(root / 'current', '2.0.0', {'server.js': 'broken();\n'})
    return root


def switch(root, **options):
    args = {'path': str(root), 'timestamp': TIMESTAMP}
    args.update(options)
    return run_module(release.main, args)


def names(root):
    return sorted(os.listdir(str(root)))


# ===========================================================================
# Timestamps
# ===========================================================================

def test_utc_timestamp_converts_to_utc():
    moment = datetime.datetime(2024, 5, 1, 12, 15, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert utc_timestamp(moment) == '20240501_101500'


def test_utc_timestamp_default_is_valid():
    assert is_valid_timestamp(utc_timestamp())


# ===========================================================================
# Fingerprints
# ===========================================================================

def test_fingerprint_equal_for_copy(app_root, tmp_path):
    copy = tmp_path / 'copy'
    release.copy_release(str(app_root / 'previous-stable'), str(copy))
    source_print = release.fingerprint_tree(str(app_root / 'previous-stable'))
    assert release.fingerprint_tree(str(copy)).digest == source_print.digest


def test_fingerprint_ignores_mtime(app_root):
    before = release.fingerprint_tree(str(app_root / 'previous-stable')).digest
    os.utime(str(app_root / 'previous-stable' / 'package.json'), (1, 1))
    assert release.fingerprint_tree(str(app_root / 'previous-stable')).digest == before


@pytest.mark.parametrize('change', ['content', 'mode', 'link', 'new file', 'rename'])
def test_fingerprint_detects_change(app_root, change):
    folder = app_root / 'previous-stable'
    before = release.fingerprint_tree(str(folder)).digest
    if change == 'content':
        (folder / 'server.js').write_text('other();\n')
    elif change == 'mode':
        os.chmod(str(folder / 'server.js'), 0o755)
    elif change == 'link':
        os.unlink(str(folder / 'util-link.js'))
        os.symlink('server.js', str(folder / 'util-link.js'))
    elif change == 'new file':
        (folder / 'lib' / 'extra.js').write_text('')
    else:
        os.rename(str(folder / 'lib' / 'util.js'), str(folder / 'lib' / 'util2.js'))
    assert release.fingerprint_tree(str(folder)).digest != before


def test_fingerprint_counts_size_and_specials(tmp_path):
    folder = tmp_path / 'release'
    folder.mkdir()
    (folder / 'a').write_bytes(b'12345')
    os.mkfifo(str(folder / 'pipe'))
    fingerprint = release.fingerprint_tree(str(folder))
    assert fingerprint.size_bytes == 5
    assert fingerprint.special_files == [str(folder / 'pipe')]


def test_fingerprint_non_utf8_name(tmp_path):
    folder = tmp_path / 'release'
    folder.mkdir()
    with open(os.path.join(os.fsencode(str(folder)), b'caf\xe9.js'), 'wb') as handle:
        handle.write(b'x')
    assert release.fingerprint_tree(str(folder)).digest.startswith('sha256:')


@pytest.mark.parametrize('content, expected', [
    ('{"version": "1.2.3"}', '1.2.3'),
    ('{"version": 7}', '7'),
    ('{"name": "x"}', None),
    ('not json', None),
    ('[1]', None),
])
def test_read_release_version(tmp_path, content, expected):
    (tmp_path / 'release.json').write_text(content)
    assert release.read_release_version(str(tmp_path)) == expected


# ===========================================================================
# Copying and renameat2
# ===========================================================================

def test_copy_keeps_links_modes_mtimes(app_root, tmp_path):
    copy = tmp_path / 'copy'
    release.copy_release(str(app_root / 'previous-stable'), str(copy))
    assert os.readlink(str(copy / 'util-link.js')) == 'lib/util.js'
    assert stat.S_IMODE(os.stat(str(copy / 'server.js')).st_mode) == 0o750
    assert os.stat(str(copy / 'server.js')).st_mtime == 1_600_000_000


@pytest.mark.skipif(os.geteuid() != 0, reason='changing owners needs root')
def test_copy_keeps_owner_and_setgid(tmp_path):
    source = tmp_path / 'source'
    (source / 'shared').mkdir(parents=True)
    os.chown(str(source / 'shared'), 1234, 2345)
    os.chmod(str(source / 'shared'), 0o2775)
    release.copy_release(str(source), str(tmp_path / 'copy'))
    copied = os.stat(str(tmp_path / 'copy' / 'shared'))
    assert (copied.st_uid, copied.st_gid) == (1234, 2345)
    assert stat.S_IMODE(copied.st_mode) == 0o2775


def test_rename_exchange_swaps(tmp_path):
    first = tmp_path / 'first'
    second = tmp_path / 'second'
    first.mkdir()
    (first / 'marker-first').write_text('')
    second.write_text('a file')
    try:
        release.rename_exchange(str(first), str(second))
    except release.ExchangeUnsupported as error:
        pytest.skip('RENAME_EXCHANGE is not supported here: %s' % error)
    assert first.is_file()
    assert (second / 'marker-first').exists()


def test_rename_exchange_missing_path(tmp_path):
    (tmp_path / 'exists').mkdir()
    try:
        release.rename_exchange(str(tmp_path / 'missing'), str(tmp_path / 'exists'))
    except release.ExchangeUnsupported as error:
        pytest.skip('RENAME_EXCHANGE is not supported here: %s' % error)
    except OSError as error:
        assert error.errno == errno.ENOENT
    else:
        pytest.fail('rename_exchange accepted a missing path')


# ===========================================================================
# Checks before anything changes
# ===========================================================================

def test_missing_previous_fails(tmp_path):
    write_release(tmp_path / 'current')
    result, failed = switch(tmp_path)
    assert failed
    assert result['msg'].startswith('No previous release to roll back to: %s does not exist.'
                                    % (tmp_path / 'previous-stable'))
    assert 'set the previous option' in result['msg']


def test_previous_not_folder_fails(tmp_path):
    (tmp_path / 'previous-stable').write_text('')
    result, failed = switch(tmp_path)
    assert failed
    assert 'is not a folder' in result['msg']


def test_empty_previous_fails(tmp_path):
    (tmp_path / 'previous-stable').mkdir()
    result, failed = switch(tmp_path)
    assert failed
    assert 'previous-stable is empty' in result['msg']


def test_incomplete_previous_fails(app_root):
    current_before = release.fingerprint_tree(str(app_root / 'current')).digest
    result, failed = switch(app_root, required_files=['package.json', 'node_modules', 'ecosystem.config.js'])
    assert failed
    assert 'is incomplete: node_modules, ecosystem.config.js are missing' in result['msg']
    assert release.fingerprint_tree(str(app_root / 'current')).digest == current_before


def write_package(app_root, manifest):
    (app_root / 'previous-stable' / 'package.json').write_text(json.dumps(manifest))


def test_missing_dependency_fails(app_root):
    write_package(app_root, {'name': 'prompt-library', 'main': 'server.js', 'dependencies': {'pg': '^8.11.0'}})
    current_before = release.fingerprint_tree(str(app_root / 'current')).digest
    result, failed = switch(app_root)
    assert failed
    assert 'is incomplete: node_modules/pg is missing' in result['msg']
    assert release.fingerprint_tree(str(app_root / 'current')).digest == current_before


def test_previous_without_entry_point_fails(app_root):
    write_package(app_root, {'name': 'prompt-library', 'main': 'index.js'})
    result, failed = switch(app_root)
    assert failed
    assert 'is incomplete: index.js is missing' in result['msg']


def test_installed_dependencies_switch(app_root):
    write_release(app_root / 'previous-stable', files={'node_modules/pg/package.json': '{"name": "pg"}'})
    write_package(app_root, {'name': 'prompt-library', 'main': 'server.js', 'dependencies': {'pg': '^8.11.0'}})
    result, failed = switch(app_root)
    assert not failed, result['msg']
    assert result['changed']


def test_dependency_check_can_be_turned_off(app_root):
    write_package(app_root, {'name': 'prompt-library', 'dependencies': {'pg': '^8.11.0'}})
    result, failed = switch(app_root, check_dependencies=False)
    assert not failed, result['msg']


def test_unreadable_package_json_fails(app_root):
    (app_root / 'previous-stable' / 'package.json').write_text('{"name": ')
    result, failed = switch(app_root)
    assert failed
    assert 'has an unreadable package.json' in result['msg']
    assert 'check_dependencies to false' in result['msg']


@pytest.mark.parametrize('required', ['/etc/passwd', '../current/package.json', ''])
def test_required_file_outside_release_fails(app_root, required):
    result, failed = switch(app_root, required_files=[required])
    assert failed
    assert 'must be a path relative to the release' in result['msg']


def test_special_file_in_previous_fails(app_root):
    os.mkfifo(str(app_root / 'previous-stable' / 'app.sock'))
    result, failed = switch(app_root)
    assert failed
    assert 'cannot be copied' in result['msg']
    assert 'app.sock' in result['msg']


@pytest.mark.parametrize('timestamp', ['2024-05-01', '20240501_1015', '20240501_101500\n', 'now'])
def test_invalid_timestamp_fails(app_root, timestamp):
    result, failed = switch(app_root, timestamp=timestamp)
    assert failed
    assert 'The timestamp %r is invalid' % timestamp in result['msg']


@pytest.mark.parametrize('option, value', [('current', 'a/b'), ('current', '..'), ('failed_prefix', 'x/y-')])
def test_invalid_names_fail(app_root, option, value):
    result, failed = switch(app_root, **{option: value})
    assert failed
    assert 'The %s option must be a plain folder name' % option in result['msg']


def test_missing_root_fails(tmp_path):
    result, failed = switch(tmp_path / 'nope')
    assert failed
    assert 'The application root %s does not exist' % (tmp_path / 'nope') in result['msg']


def test_previous_is_current_fails(app_root):
    result, failed = switch(app_root, previous='current')
    assert failed
    assert 'is the live release' in result['msg']


def test_current_is_file_fails(app_root):
    shutil.rmtree(str(app_root / 'current'))
    (app_root / 'current').write_text('')
    result, failed = switch(app_root)
    assert failed
    assert 'exists but is not a folder' in result['msg']


def test_existing_failed_name_fails(app_root):
    write_release(app_root / ('current-failed-' + TIMESTAMP), 'other')
    before = names(app_root)
    result, failed = switch(app_root)
    assert failed
    assert 'already exists' in result['msg']
    assert 'Nothing was changed' in result['msg']
    assert names(app_root) == before
    assert release.read_release_version(str(app_root / 'current')) == '2.0.0'


def test_not_enough_space_fails(app_root, monkeypatch):
    class Usage:
        free = 10
    monkeypatch.setattr(release.shutil, 'disk_usage', lambda path: Usage())
    result, failed = switch(app_root)
    assert failed
    assert 'Not enough free space' in result['msg']


# ===========================================================================
# Switching
# ===========================================================================

def test_switch_replaces_current(app_root):
    previous_print = release.fingerprint_tree(str(app_root / 'previous-stable')).digest
    result, failed = switch(app_root)
    assert not failed, result.get('msg')
    assert result['changed'] is True
    failed_path = app_root / ('current-failed-' + TIMESTAMP)
    assert result['failed_path'] == str(failed_path)
    assert result['fingerprint'] == previous_print
    assert result['current_version_before'] == '2.0.0'
    assert result['current_version_after'] == '1.0.0'
    assert result['switch_method'] in ('exchange', 'rename')
    assert (app_root / 'current' / 'server.js').read_text() == 'good();\n'
    assert (failed_path / 'server.js').read_text() == 'broken();\n'
    assert release.fingerprint_tree(str(app_root / 'current')).digest == previous_print
    assert (app_root / 'previous-stable' / 'server.js').read_text() == 'good();\n'
    assert names(app_root) == ['current', 'current-failed-' + TIMESTAMP, 'previous-stable']


def test_switch_twice_unchanged(app_root):
    switch(app_root)
    result, failed = switch(app_root, timestamp='20240501_111111')
    assert not failed
    assert result['changed'] is False
    assert result['failed_path'] is None
    assert result['switch_method'] is None
    assert names(app_root) == ['current', 'current-failed-' + TIMESTAMP, 'previous-stable']


def test_switch_check_mode(app_root):
    before = names(app_root)
    result, failed = switch(app_root, _ansible_check_mode=True, _ansible_diff=True)
    assert not failed
    assert result['changed'] is True
    assert result['failed_path'] == str(app_root / ('current-failed-' + TIMESTAMP))
    assert names(app_root) == before
    assert release.read_release_version(str(app_root / 'current')) == '2.0.0'
    assert result['diff']['before'] == '2.0.0\n'
    assert result['diff']['after'] == '1.0.0\n'


def test_diff_uses_fingerprint_without_version(app_root):
    os.unlink(str(app_root / 'previous-stable' / 'release.json'))
    result, _failed = switch(app_root, _ansible_check_mode=True, _ansible_diff=True)
    assert result['diff']['after'] == result['fingerprint'] + '\n'
    assert result['current_version_after'] == result['fingerprint']


def test_switch_without_current(app_root):
    os.rename(str(app_root / 'current'), str(app_root / 'elsewhere'))
    result, failed = switch(app_root)
    assert not failed
    assert result['switch_method'] == 'create'
    assert result['failed_path'] is None
    assert result['current_version_before'] is None
    assert (app_root / 'current' / 'server.js').read_text() == 'good();\n'


def test_switch_removes_leftover_staging(app_root):
    leftover = app_root / '.current-staging-20240430_000000'
    write_release(leftover, 'partial')
    result, failed = switch(app_root)
    assert not failed
    assert result['removed_staging'] == [str(leftover)]
    assert not leftover.exists()


def test_switch_fallback_without_exchange(app_root, monkeypatch):
    def unsupported(first, second):
        raise release.ExchangeUnsupported('test')
    monkeypatch.setattr(release, 'rename_exchange', unsupported)
    result, failed = switch(app_root)
    assert not failed
    assert result['switch_method'] == 'rename'
    assert (app_root / 'current' / 'server.js').read_text() == 'good();\n'
    assert (app_root / ('current-failed-' + TIMESTAMP) / 'server.js').read_text() == 'broken();\n'
    assert names(app_root) == ['current', 'current-failed-' + TIMESTAMP, 'previous-stable']


def test_interrupted_exchange_resumes(app_root, monkeypatch):
    def broken(first, second):
        raise OSError(errno.EIO, 'simulated I/O error')
    monkeypatch.setattr(release, 'rename_exchange', broken)
    result, failed = switch(app_root)
    assert failed
    assert 'simulated I/O error' in result['msg']
    assert (app_root / 'current' / 'server.js').read_text() == 'broken();\n'
    monkeypatch.undo()
    result, failed = switch(app_root)
    assert not failed, result.get('msg')
    assert (app_root / 'current' / 'server.js').read_text() == 'good();\n'
    assert (app_root / ('current-failed-' + TIMESTAMP) / 'server.js').read_text() == 'broken();\n'
    assert names(app_root) == ['current', 'current-failed-' + TIMESTAMP, 'previous-stable']


def test_copy_failure_leaves_current(app_root, monkeypatch):
    def failing_copy(source, destination):
        os.mkdir(destination)
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(release, 'copy_release', failing_copy)
    result, failed = switch(app_root)
    assert failed
    assert 'Failed to copy the previous release' in result['msg']
    assert 'No space left on device' in result['msg']
    assert names(app_root) == ['current', 'previous-stable']


def test_switch_repeatable_after_new_deploy(app_root):
    switch(app_root)
    # A new deploy replaces current again, and the rollback runs again.
    os.rename(str(app_root / 'current'), str(app_root / 'tmp'))
    write_release(app_root / 'current', '3.0.0', {'server.js': 'broken-again();\n'})
    result, failed = switch(app_root, timestamp='20240502_090000')
    assert not failed
    assert result['current_version_before'] == '3.0.0'
    assert (app_root / 'current-failed-20240502_090000' / 'server.js').read_text() == 'broken-again();\n'


def test_default_timestamp_is_utc_form(app_root):
    result, failed = run_module(release.main, {'path': str(app_root)})
    assert not failed
    assert os.path.basename(result['failed_path']).startswith('current-failed-')
    assert len(os.path.basename(result['failed_path'])) == len('current-failed-') + len(TIMESTAMP)
