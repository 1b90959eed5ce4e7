# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the promptlib.rollback.release_manifest filter."""

from __future__ import annotations

import json

import pytest

from ansible_collections.promptlib.rollback.plugins.filter.release_manifest import FilterModule, release_manifest

DIGEST = 'a' * 64
MANIFEST = {
    'release_id': 'prompt-library-1.4.0',
    'version': '1.4.0',
    'schema_version': 3,
    'env_sha256': DIGEST,
    'nginx_sha256': 'b' * 64,
    'backup': {'path': '/opt/prompt-library/backup-pre-deployment.sql', 'sha256': 'c' * 64},
}


def parse(**changes):
    manifest = dict(MANIFEST)
    manifest.update(changes)
    return release_manifest(json.dumps(manifest), '/r/release-manifest.json')


def test_valid_manifest_fields():
    result = parse()
    assert result['valid'] is True
    assert result['errors'] == []
    assert result['schema_version'] == 3
    assert result['backup'] == MANIFEST['backup']


def test_backup_null_is_valid():
    result = parse(backup=None)
    assert result['valid'] is True
    assert result['backup'] is None


def test_invalid_json_named():
    result = release_manifest('{"release_id": ', '/r/release-manifest.json')
    assert result['valid'] is False
    assert result['errors'][0].startswith('/r/release-manifest.json is not valid JSON')


def test_array_rejected():
    result = release_manifest('[]')
    assert result['valid'] is False
    assert 'must hold a JSON object' in result['errors'][0]


@pytest.mark.parametrize('field, value, expected', [
    ('release_id', '', '"release_id" must be a non-empty string'),
    ('version', 14, '"version" must be a non-empty string'),
    ('schema_version', 0, '"schema_version" must be a positive integer'),
    ('schema_version', True, '"schema_version" must be a positive integer'),
    ('schema_version', '3', '"schema_version" must be a positive integer'),
    ('env_sha256', 'A' * 64, '"env_sha256" must be 64 lowercase hexadecimal digits'),
    ('nginx_sha256', None, '"nginx_sha256" must be 64 lowercase hexadecimal digits'),
    ('backup', 'backup.sql', '"backup" must be null or an object'),
    ('backup', {'path': 'relative.sql', 'sha256': DIGEST}, '"backup.path" must be an absolute path'),
    ('backup', {'path': '/b.sql', 'sha256': 'short'}, '"backup.sha256" must be 64'),
])
def test_invalid_field_named(field, value, expected):
    result = parse(**{field: value})
    assert result['valid'] is False
    assert len(result['errors']) == 1
    assert expected in result['errors'][0]
    assert result['errors'][0].startswith('/r/release-manifest.json: ')


def test_missing_fields_all_reported():
    result = release_manifest('{}')
    assert result['valid'] is False
    assert len(result['errors']) == 5
    assert result['backup'] is None


def test_filter_registered():
    assert FilterModule().filters()['release_manifest'] is release_manifest
