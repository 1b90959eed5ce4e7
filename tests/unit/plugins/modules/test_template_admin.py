# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the promptlib.rollback.template_admin module.

The module talks HTTP to a stand-in for the prompt library's admin API: an
``http.server`` in a thread that keeps maintenance mode, safe mode and the
templates in memory and answers as the application does. The application itself
needs Node.js and PostgreSQL, so it is exercised by the drill integration test
instead (tests/integration/drill/test_template_admin.py).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import ssl
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.promptlib.rollback.plugins.module_utils.admin_api import AdminApiClient, AdminApiError
from ansible_collections.promptlib.rollback.plugins.modules import template_admin
from module_harness import run_module

TOKEN = 'unit-test-token-0123456789abcdef'
DEFAULTS = [
    {'id': 1, 'name': 'summarize-text', 'body': 'Summarise {{text}}', 'category': 'general', 'is_default': True},
    {'id': 2, 'name': 'code-review', 'body': 'Review {{code}}', 'category': 'general', 'is_default': True},
]
CUSTOM = {'id': 3, 'name': 'drill-custom-1', 'body': 'Incident {{id}}', 'category': 'drill', 'is_default': False}


class FakeAdminApi:
    """In-memory state of the stand-in admin API and the requests it received."""

    def __init__(self):
        self.maintenance = {'enabled': False, 'message': None}
        self.safe_mode = {'enabled': False}
        self.templates = copy.deepcopy(DEFAULTS) + [dict(CUSTOM)]
        self.health = {'validation': 'unhealthy', 'cache': 'healthy', 'analytics': 'disabled'}
        self.requests = []
        self.authorizations = []
        # Set by a test to change how the server responds.
        self.delay_seconds = 0
        self.override = None

    def handle(self, method, path, body):
        """Return (status, JSON body) for one request, as the application would respond."""
        if self.override is not None:
            return self.override(method, path, body)
        routes = {
            ('GET', '/api/admin/maintenance'): lambda: (200, dict(self.maintenance)),
            ('POST', '/api/admin/maintenance'): lambda: self.set_maintenance(body),
            ('GET', '/api/admin/templates/safe-mode'): lambda: (200, dict(self.safe_mode)),
            ('POST', '/api/admin/templates/safe-mode'): lambda: self.set_safe_mode(body),
            ('GET', '/api/admin/templates'): lambda: (200, {'count': len(self.templates),
                                                            'templates': copy.deepcopy(self.templates)}),
            ('POST', '/api/admin/templates/export-all'): lambda: (200, {
                'exported_at': time.strftime('%Y-%m-%dT%H:%M:%S.000Z'), 'count': len(self.templates),
                'templates': copy.deepcopy(self.templates)}),
            ('POST', '/api/admin/templates/reset-defaults'): self.reset_defaults,
            ('GET', '/api/admin/config'): lambda: (200, {'flags': {'TEMPLATE_CREATION_ENABLED': True},
                                                         'version': '1.5.0', 'schema_version': 4}),
        }
        if method == 'GET' and path.startswith('/api/admin/templates/health/'):
            component = path.rsplit('/', 1)[1]
            status = self.health[component]
            return (503 if status == 'unhealthy' else 200), {'component': component, 'status': status,
                                                             'detail': '%s is %s' % (component, status)}
        route = routes.get((method, path))
        if route is None:
            return 404, {'error': 'not found: %s %s' % (method, path)}
        return route()

    def set_maintenance(self, body):
        enabled = body['enabled']
        self.maintenance = {'enabled': enabled, 'message': body.get('message') if enabled else None}
        return 200, dict(self.maintenance)

    def set_safe_mode(self, body):
        self.safe_mode = {'enabled': body['enabled']}
        return 200, dict(self.safe_mode)

    def reset_defaults(self):
        removed = len(self.templates) - len(DEFAULTS)
        self.templates = copy.deepcopy(DEFAULTS)
        return 200, {'removed': removed, 'count': len(self.templates)}


def make_handler(api):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, method):
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length) if length else b''
            body = json.loads(raw) if raw else {}
            api.requests.append((method, self.path))
            api.authorizations.append(self.headers.get('Authorization'))
            if api.delay_seconds:
                time.sleep(api.delay_seconds)
            if self.headers.get('Authorization') != 'Bearer %s' % TOKEN:
                status, payload = 401, {'error': 'missing or invalid bearer token'}
            else:
                status, payload = api.handle(method, self.path, body)
            headers = {}
            if isinstance(payload, tuple):
                payload, headers = payload
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode('utf-8')
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.answer('GET')

        def do_POST(self):
            self.answer('POST')

    return Handler


def start_server(api, context=None):
    server = ThreadingHTTPServer(('127.0.0.1', 0), make_handler(api))
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture
def api():
    state = FakeAdminApi()
    server = start_server(state)
    state.url = 'http://127.0.0.1:%d' % server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


def run(api, check=False, diff=False, **options):
    args = {'url': api.url, 'token': TOKEN, '_ansible_check_mode': check, '_ansible_diff': diff}
    args.update(options)
    return run_module(template_admin.main, args)


def posts(api):
    return [request for request in api.requests if request[0] == 'POST']


# ===========================================================================
# Maintenance and safe mode
# ===========================================================================

def test_maintenance_check_mode_sends_no_change(api):
    result, failed = run(api, check=True, operation='maintenance', enabled=True, maintenance_message='Down for a bit')
    assert not failed
    assert result['changed'] is True
    assert result['state'] == {'enabled': True, 'message': 'Down for a bit'}
    assert api.maintenance == {'enabled': False, 'message': None}
    assert posts(api) == []
    assert result['requests'][-1] == ['POST', api.url + '/api/admin/maintenance']


def test_maintenance_on_then_unchanged(api):
    first, unused = run(api, operation='maintenance', enabled=True, maintenance_message='Down for a bit')
    second, unused = run(api, operation='maintenance', enabled=True, maintenance_message='Down for a bit')
    assert first['changed'] is True
    assert api.maintenance == {'enabled': True, 'message': 'Down for a bit'}
    assert second['changed'] is False
    assert second['previous_state'] == second['state']
    assert len(posts(api)) == 1


def test_maintenance_new_message_is_a_change(api):
    api.maintenance = {'enabled': True, 'message': 'old'}
    result, unused = run(api, operation='maintenance', enabled=True, maintenance_message='new')
    assert result['changed'] is True
    assert api.maintenance['message'] == 'new'


def test_maintenance_on_without_message_keeps_current(api):
    api.maintenance = {'enabled': True, 'message': 'kept'}
    result, unused = run(api, operation='maintenance', enabled=True)
    assert result['changed'] is False
    assert api.maintenance['message'] == 'kept'


def test_maintenance_off_ignores_message(api):
    api.maintenance = {'enabled': True, 'message': 'busy'}
    first, unused = run(api, operation='maintenance', enabled=False, maintenance_message='ignored')
    second, unused = run(api, operation='maintenance', enabled=False, maintenance_message='ignored')
    assert first['changed'] is True
    assert api.maintenance == {'enabled': False, 'message': None}
    assert second['changed'] is False


def test_maintenance_diff_shows_states(api):
    result, unused = run(api, diff=True, operation='maintenance', enabled=True, maintenance_message='m')
    assert result['diff']['before'] == 'enabled: false\nmessage: null\n'
    assert result['diff']['after'] == 'enabled: true\nmessage: "m"\n'


def test_maintenance_requires_enabled(api):
    result, failed = run(api, operation='maintenance')
    assert failed
    assert 'enabled' in result['msg']
    assert api.requests == []


def test_safe_mode_on_then_unchanged(api):
    check, unused = run(api, check=True, operation='safe_mode', enabled=True)
    assert check['changed'] is True
    assert api.safe_mode == {'enabled': False}
    first, unused = run(api, operation='safe_mode', enabled=True)
    second, unused = run(api, operation='safe_mode', enabled=True)
    assert first['changed'] is True
    assert api.safe_mode == {'enabled': True}
    assert second['changed'] is False
    assert len(posts(api)) == 1


# ===========================================================================
# Export
# ===========================================================================

def test_export_writes_file_with_count_and_sha256(api, tmp_path):
    dest = tmp_path / 'export.json'
    result, failed = run(api, operation='export', dest=str(dest))
    assert not failed
    assert result['changed'] is True
    content = dest.read_bytes()
    assert result['sha256'] == hashlib.sha256(content).hexdigest()
    assert result['count'] == 3
    assert json.loads(content)['templates'] == api.templates
    assert stat.S_IMODE(os.stat(str(dest)).st_mode) == 0o600


def test_export_again_unchanged(api, tmp_path):
    dest = tmp_path / 'export.json'
    first, unused = run(api, operation='export', dest=str(dest))
    second, unused = run(api, operation='export', dest=str(dest))
    assert second['changed'] is False
    assert second['sha256'] == first['sha256']
    assert posts(api) == [('POST', '/api/admin/templates/export-all')]


def test_export_rewritten_when_templates_change(api, tmp_path):
    dest = tmp_path / 'export.json'
    run(api, operation='export', dest=str(dest))
    api.templates[2]['body'] = 'Incident {{id}} changed'
    result, unused = run(api, diff=True, operation='export', dest=str(dest))
    assert result['changed'] is True
    assert json.loads(dest.read_text())['templates'][2]['body'] == 'Incident {{id}} changed'
    assert result['diff']['after'] == 'summarize-text\ncode-review\ndrill-custom-1\n'


def test_export_check_mode_writes_nothing(api, tmp_path):
    dest = tmp_path / 'export.json'
    result, unused = run(api, check=True, operation='export', dest=str(dest))
    assert result['changed'] is True
    assert result['count'] == 3
    assert result['sha256'] is None
    assert not dest.exists()
    assert posts(api) == []


def test_export_missing_folder_fails_first(api, tmp_path):
    result, failed = run(api, operation='export', dest=str(tmp_path / 'absent' / 'export.json'))
    assert failed
    assert 'does not exist' in result['msg']
    assert api.requests == []


def test_export_keeps_foreign_file(api, tmp_path):
    dest = tmp_path / 'notes.txt'
    dest.write_text('not an export')
    result, failed = run(api, operation='export', dest=str(dest))
    assert failed
    assert 'force' in result['msg']
    assert dest.read_text() == 'not an export'


def test_export_force_rewrites(api, tmp_path):
    dest = tmp_path / 'export.json'
    run(api, operation='export', dest=str(dest))
    result, unused = run(api, operation='export', dest=str(dest), force=True)
    assert result['changed'] is True
    assert len(posts(api)) == 2


# ===========================================================================
# Reset, component health, list and config
# ===========================================================================

def test_reset_defaults_always_changes(api):
    first, unused = run(api, operation='reset_defaults')
    second, unused = run(api, operation='reset_defaults')
    assert first['changed'] is True
    assert first['removed'] == 1
    assert first['count'] == 2
    assert second['changed'] is True
    assert second['removed'] == 0


def test_reset_defaults_check_mode_sends_nothing(api):
    result, unused = run(api, check=True, diff=True, operation='reset_defaults')
    assert result['changed'] is True
    assert result['removed'] is None
    assert len(api.templates) == 3
    assert posts(api) == []
    assert 'drill-custom-1' in result['diff']['before']


def test_component_health_names_unhealthy(api):
    result, failed = run(api, operation='component_health')
    assert not failed
    assert result['changed'] is False
    assert result['unhealthy'] == ['validation']
    assert result['disabled'] == ['analytics']
    assert result['components']['validation']['http_status'] == 503
    assert result['components']['cache']['status'] == 'healthy'


def test_component_health_subset(api):
    result, unused = run(api, operation='component_health', components=['cache'])
    assert list(result['components']) == ['cache']
    assert result['unhealthy'] == []


def test_list_returns_templates(api):
    result, unused = run(api, operation='list')
    assert result['count'] == 3
    names = [template['name'] for template in result['templates']]
    assert names == ['summarize-text', 'code-review', 'drill-custom-1']


def test_config_returns_flags(api):
    result, unused = run(api, operation='config')
    assert result['config']['flags'] == {'TEMPLATE_CREATION_ENABLED': True}


# ===========================================================================
# Errors and the token
# ===========================================================================

def test_wrong_token_names_url_and_status(api):
    result, failed = run(api, operation='list', token='wrong-token-value-123')
    assert failed
    assert result['msg'].startswith('GET %s/api/admin/templates failed with HTTP status 401' % api.url)
    assert 'Nothing was changed.' in result['msg']
    assert result['status'] == 401
    assert 'wrong-token-value-123' not in json.dumps(result)


def test_wrong_token_names_where_the_token_comes_from(api):
    result, failed = run(api, operation='list', token='wrong-token-value-123')
    assert failed
    assert "pass the ADMIN_TOKEN of the application's .env" in result['msg']


def test_server_error_names_the_fix(api):
    api.override = lambda method, path, body: (500, {'error': 'database connection lost'})
    result, failed = run(api, operation='list')
    assert failed
    assert 'failed with HTTP status 500: database connection lost.' in result['msg']
    assert "Check the application's log and that its database is reachable" in result['msg']


def test_token_in_error_body_redacted(api):
    api.override = lambda method, path, body: (500, {'error': 'boom near %s' % TOKEN})
    result, failed = run(api, operation='list')
    assert failed
    assert TOKEN not in result['msg']
    assert '********' in result['msg']


def test_body_not_json_rejected(api):
    api.override = lambda method, path, body: (200, b'<html>proxy page</html>')
    result, failed = run(api, operation='config')
    assert failed
    assert 'not JSON' in result['msg']


def test_timeout_names_url(api):
    api.delay_seconds = 1.5
    result, failed = run(api, operation='list', timeout=0.3)
    assert failed
    assert 'timed out after 0.3 seconds' in result['msg']
    assert api.url in result['msg']


def test_timeout_on_change_warns_it_may_have_landed(api):
    api.delay_seconds = 1.5
    client = AdminApiClient(api.url, TOKEN, timeout=0.3)
    with pytest.raises(AdminApiError) as raised:
        client.set_safe_mode(True)
    note = template_admin.failure_note('safe_mode', client.requests, raised.value)
    assert 'may have reached the application' in note


def test_connection_refused_names_url():
    result, failed = run_module(template_admin.main, {'url': 'http://127.0.0.1:9', 'token': TOKEN,
                                                      'operation': 'list'})
    assert failed
    assert 'http://127.0.0.1:9/api/admin/templates failed' in result['msg']
    assert 'Check url' in result['msg']


def test_redirect_not_followed(api):
    other = FakeAdminApi()
    other_server = start_server(other)
    try:
        location = 'http://127.0.0.1:%d/api/admin/templates' % other_server.server_address[1]
        api.override = lambda method, path, body: (302, ({'error': 'moved'}, {'Location': location}))
        result, failed = run(api, operation='list')
    finally:
        other_server.shutdown()
        other_server.server_close()
    assert failed
    assert 'HTTP status 302' in result['msg']
    assert other.requests == []


def test_token_from_environment(api, monkeypatch):
    monkeypatch.setenv('ADMIN_TOKEN', TOKEN)
    result, failed = run_module(template_admin.main, {'url': api.url, 'operation': 'list'})
    assert not failed
    assert api.authorizations == ['Bearer %s' % TOKEN]


def test_token_sent_only_as_header(api):
    run(api, operation='maintenance', enabled=True, maintenance_message='m')
    assert all(TOKEN not in path for _method, path in api.requests)
    assert set(api.authorizations) == {'Bearer %s' % TOKEN}


@pytest.mark.parametrize('options, expected', [
    ({'token': '  '}, 'token is empty'),
    ({'url': 'ftp://example.com'}, 'url must start with http:// or https://'),
    ({'timeout': 0}, 'timeout must be more than 0'),
    ({'maintenance_message': 'x' * 501, 'operation': 'maintenance', 'enabled': True}, 'at most 500'),
])
def test_invalid_options_fail_before_requests(api, options, expected):
    args = {'operation': 'list'}
    args.update(options)
    result, failed = run(api, **args)
    assert failed
    assert expected in result['msg']
    assert api.requests == []


# ===========================================================================
# TLS
# ===========================================================================

@pytest.fixture(scope='module')
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp('tls')
    cert, key = folder / 'cert.pem', folder / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
                    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', str(key), '-out', str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_api(certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    state = FakeAdminApi()
    server = start_server(state, context)
    state.url = 'https://127.0.0.1:%d' % server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


def test_tls_self_signed_rejected(tls_api):
    result, failed = run(tls_api, operation='list')
    assert failed
    assert 'certificate' in result['msg']
    assert 'validate_certs' in result['msg']
    assert tls_api.requests == []


def test_tls_with_ca_path_accepted(tls_api, certificate):
    result, failed = run(tls_api, operation='list', ca_path=str(certificate[0]))
    assert not failed
    assert result['count'] == 3


def test_tls_without_validation_accepted(tls_api):
    result, failed = run(tls_api, operation='list', validate_certs=False)
    assert not failed
    assert result['count'] == 3
