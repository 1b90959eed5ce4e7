# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the promptlib.rollback.file_facts module on real files under tmp_path."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.promptlib.rollback.plugins.modules import file_facts
from module_harness import run_module


def test_regular_file_checksum_and_content(tmp_path):
    env = tmp_path / '.env'
    env.write_text('PORT=8000\n')
    release = tmp_path / 'release.json'
    release.write_text('{"version": "1.4.0"}')
    result, failed = run_module(file_facts.main, {'checksum': [str(env)], 'read': [str(release)]})
    assert not failed
    assert result['changed'] is False
    env_facts = result['files'][str(env)]['stat']
    assert env_facts['exists'] and env_facts['isreg']
    assert env_facts['size'] == 10
    assert env_facts['checksum'] == hashlib.sha256(b'PORT=8000\n').hexdigest()
    assert 'content' not in env_facts
    assert result['files'][str(release)]['stat']['content'] == '{"version": "1.4.0"}'
    assert 'checksum' not in result['files'][str(release)]['stat']


def test_missing_path_has_only_exists(tmp_path):
    missing = str(tmp_path / 'absent')
    result, failed = run_module(file_facts.main, {'paths': [missing], 'checksum': [missing], 'read': [missing]})
    assert not failed
    assert result['files'][missing] == {'path': missing, 'stat': {'exists': False}}


def test_folder_is_not_regular(tmp_path):
    result, failed = run_module(file_facts.main, {'checksum': [str(tmp_path)]})
    assert not failed
    facts = result['files'][str(tmp_path)]['stat']
    assert facts['exists'] is True
    assert facts['isreg'] is False
    assert 'checksum' not in facts


def test_large_file_not_read(tmp_path):
    big = tmp_path / 'big.json'
    big.write_text('x' * 100)
    result, failed = run_module(file_facts.main, {'read': [str(big)], 'max_read_bytes': 10})
    assert not failed
    facts = result['files'][str(big)]['stat']
    assert 'content' not in facts
    assert 'max_read_bytes 10' in facts['read_error']


@pytest.mark.skipif(os.geteuid() == 0, reason='root reads files whatever their mode')
def test_unreadable_file_reports_error(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('x')
    secret.chmod(0)
    result, failed = run_module(file_facts.main, {'checksum': [str(secret)]})
    assert not failed
    assert 'Cannot read' in result['files'][str(secret)]['stat']['read_error']


def test_negative_max_read_bytes_rejected(tmp_path):
    result, failed = run_module(file_facts.main, {'read': [str(tmp_path)], 'max_read_bytes': -1})
    assert failed
    assert 'max_read_bytes must be 0 or more, got -1' in result['msg']
