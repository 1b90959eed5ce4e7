# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The notify callback's delivery thread and outcome rules.

Deliveries go to a real HTTP server on 127.0.0.1 that the test starts.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from types import SimpleNamespace

import pytest

from ansible_collections.promptlib.rollback.plugins.callback import notify


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        length = int(self.headers['Content-Length'])
        type(self).received.append((self.path, json.loads(self.rfile.read(length)), dict(self.headers)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    Receiver.status = 200
    server = http.server.HTTPServer(('127.0.0.1', 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def deliver(targets):
    records = []
    deliverer = notify.Deliverer(2.0, records.append)
    for target in targets:
        deliverer.submit(target, 'start', {'event': 'start'})
    deliverer.close()
    return records


def test_delivery_posts_json(receiver):
    records = deliver([{'name': 'ops', 'format': 'json', 'url': receiver + '/hook', 'headers': {'X-Team': 'web'}}])
    assert records[0]['status'] == 'delivered'
    assert records[0]['http_status'] == 200
    path, body, headers = Receiver.received[0]
    assert path == '/hook'
    assert body == {'event': 'start'}
    assert headers['Content-Type'] == 'application/json'
    assert headers['X-Team'] == 'web'


def test_refused_connection_recorded():
    records = deliver([{'name': 'dead', 'format': 'json', 'url': 'http://127.0.0.1:%d/' % closed_port()}])
    assert records[0]['status'] == 'failed'
    assert 'refused' in records[0]['error'].lower()


def test_http_error_recorded(receiver):
    Receiver.status = 500
    records = deliver([{'name': 'flaky', 'format': 'slack', 'url': receiver + '/'}])
    assert records[0]['status'] == 'failed'
    assert records[0]['http_status'] == 500


def test_record_omits_url(receiver):
    records = deliver([{'name': 'ops', 'format': 'json', 'url': receiver + '/secret-part'}])
    assert 'secret-part' not in json.dumps(records)


def make_stats(processed, failures=None, dark=None, custom=None):
    return SimpleNamespace(processed={host: 1 for host in processed}, failures=failures or {}, dark=dark or {},
                           custom={'_run': custom or {}})


@pytest.mark.parametrize('stats, outcome', [
    (make_stats([]), 'no_hosts'),
    (make_stats(['web1'], custom={'promptlib_rollback_refused': {'web1': 'backup missing'}}), 'refused'),
    (make_stats(['web1'], failures={'web1': 1}), 'failed'),
    (make_stats(['web1'], dark={'web1': 1}), 'failed'),
    (make_stats(['web1', 'web2'], custom={'promptlib_rollback_completed': {'web1': {}}}), 'failed'),
    (make_stats(['web1'], custom={'promptlib_rollback_completed': {'web1': {}}}), 'succeeded'),
])
def test_outcome_rules(stats, outcome):
    assert notify.CallbackModule()._outcome(stats)[0] == outcome


def test_refusal_reason_in_detail():
    stats = make_stats(['web1'], custom={'promptlib_rollback_refused': {'web1': 'backup missing'}})
    assert notify.CallbackModule()._outcome(stats)[1] == 'backup missing'
