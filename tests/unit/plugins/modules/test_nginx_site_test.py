# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the promptlib.rollback.nginx_site_test module.

nginx is not installed on the test machine, so a stand-in script plays it: it
reads the scratch configuration it is given and fails when the candidate site
contains "invalid_directive". The drill tests run the real nginx -t.
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.promptlib.rollback.plugins.modules import nginx_site_test
from module_harness import run_module

FAKE_NGINX = """#!/bin/sh
# Stand-in for nginx -t -q -c FILE: records FILE and the sites it includes.
config="$4"
[ -f "$config" ] || { echo "no configuration file given" >&2; exit 2; }
sites=$(sed -n 's/^ *include \\(.*\\)\\/\\*;$/\\1/p' "$config")
[ -n "$sites" ] || { echo "no include line in $config" >&2; exit 2; }
cat "$sites"/* > "$RECORD"
if grep -q invalid_directive "$sites"/*; then
  echo 'nginx: [emerg] unknown directive "invalid_directive" in '"$sites"'/prompt-library:3' >&2
  exit 1
fi
exit 0
"""


@pytest.fixture
def nginx_layout(tmp_path, monkeypatch):
    available = tmp_path / 'sites-available'
    enabled = tmp_path / 'sites-enabled'
    available.mkdir()
    enabled.mkdir()
    site = available / 'prompt-library'
    site.write_text('server { listen 80; } # live\n')
    (available / 'prompt-library.previous').write_text('server { listen 80; } # previous\n')
    (enabled / 'prompt-library').symlink_to(site)
    main = tmp_path / 'nginx.conf'
    main.write_text('events {}\nhttp {\n    include %s/*;\n}\n' % enabled)
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    fake = bin_dir / 'nginx'
    fake.write_text(FAKE_NGINX)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    monkeypatch.setenv('RECORD', str(tmp_path / 'tested-sites'))
    args = {'site': str(site), 'main_config': str(main), 'sites_enabled': str(enabled)}
    return tmp_path, args


def test_previous_site_tested_in_place_of_live(nginx_layout):
    tmp_path, args = nginx_layout
    result, failed = run_module(nginx_site_test.main, args)
    assert not failed, result.get('msg')
    assert result['changed'] is False
    assert result['candidate'] == args['site'] + '.previous'
    tested = (tmp_path / 'tested-sites').read_text()
    assert '# previous' in tested
    assert '# live' not in tested


def test_scratch_folder_removed(nginx_layout):
    _tmp_path, args = nginx_layout
    result, _failed = run_module(nginx_site_test.main, args)
    scratch_main = result['command'][-1]
    assert not os.path.exists(os.path.dirname(scratch_main))


def test_live_files_unchanged(nginx_layout):
    tmp_path, args = nginx_layout
    before = {path: path.read_bytes() for path in tmp_path.rglob('*') if path.is_file()}
    run_module(nginx_site_test.main, args)
    after = {path: path.read_bytes() for path in tmp_path.rglob('*') if path.is_file() and path.name != 'tested-sites'}
    assert after == before


def test_rejected_site_fails_with_nginx_output(nginx_layout):
    tmp_path, args = nginx_layout
    (tmp_path / 'sites-available' / 'prompt-library.previous').write_text('server {\n invalid_directive on;\n}\n')
    result, failed = run_module(nginx_site_test.main, args)
    assert failed
    assert 'fails nginx -t' in result['msg']
    assert 'unknown directive "invalid_directive"' in result['msg']
    assert str(tmp_path) not in result['msg'].split('fails nginx -t')[1]


def test_missing_candidate_fails(nginx_layout):
    tmp_path, args = nginx_layout
    os.unlink(tmp_path / 'sites-available' / 'prompt-library.previous')
    result, failed = run_module(nginx_site_test.main, args)
    assert failed
    assert 'prompt-library.previous to test is missing' in result['msg']


def test_main_config_without_include_fails(nginx_layout):
    tmp_path, args = nginx_layout
    (tmp_path / 'nginx.conf').write_text('events {}\nhttp {}\n')
    result, failed = run_module(nginx_site_test.main, args)
    assert failed
    assert "has no line 'include %s/*;'" % args['sites_enabled'] in result['msg']
