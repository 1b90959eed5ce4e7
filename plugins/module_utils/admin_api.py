# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Client for the prompt library's admin API (``/api/admin/...``) with a Bearer token.

Every error message names the method, the URL and, for HTTP errors, the status and the
``error`` field of the response. The token is sent only in the ``Authorization`` header
and is replaced by ``********`` in any text that could reach a message.
"""

from __future__ import annotations

import json
import socket
import ssl
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

COMPONENTS = ('validation', 'cache', 'analytics')
# Status codes of the component health route that carry a body: 503 means unhealthy.
HEALTH_STATUSES = (200, 503)
REDACTED = '********'
# Maximum number of characters of a response body quoted in a message.
MAX_QUOTED_BODY = 300


class AdminApiError(Exception):
    """A request to the admin API failed. ``status`` is the HTTP status, or None without a response."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AdminApiClient:
    """Send requests to one prompt library's admin API."""

    def __init__(self, base_url: str, token: str, validate_certs: bool = True, timeout: float = 10,
                 ca_path: str | None = None) -> None:
        self.base_url = base_url.rstrip('/')
        self.token = token
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.ca_path = ca_path
        # (method, url) of every request sent, in order, for the module result.
        self.requests: list[list[str]] = []

    # --- transport -----------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def redact(self, text: str) -> str:
        """Replace the token in ``text``, so that no message can carry it."""
        return text.replace(self.token, REDACTED) if self.token else text

    def request(self, method: str, path: str, body: dict | None = None,
                accepted: tuple[int, ...] = (200,)) -> tuple[int, dict]:
        """Send one request and return ``(status, parsed JSON body)``.

        Raises:
            AdminApiError: no response, a status not in ``accepted``, or a body that is not a JSON object.
        """
        url = self.url(path)
        self.requests.append([method, url])
        headers = {'Authorization': 'Bearer %s' % self.token, 'Accept': 'application/json'}
        data = None
        if body is not None:
            data = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        try:
            # Redirects are not followed, so the token never goes to another URL, and
            # ~/.netrc is not read, because it would replace the Authorization header.
            response = open_url(url, data=data, headers=headers, method=method, timeout=self.timeout,
                                validate_certs=self.validate_certs, ca_path=self.ca_path,
                                follow_redirects='none', use_netrc=False)
            status = response.getcode()
            raw = response.read()
        except HTTPError as error:
            status = error.code
            raw = error.read() if error.fp is not None else b''
            if status not in accepted:
                raise AdminApiError(self.http_error_message(method, url, status, raw), status) from None
        except (socket.timeout, TimeoutError):
            raise AdminApiError('%s %s timed out after %s seconds. Check that the application responds, or raise '
                                'timeout.' % (method, url, self.timeout)) from None
        except URLError as error:
            raise AdminApiError(self.redact(self.connection_error_message(method, url, error.reason))) from None
        except (ssl.SSLError, ssl.CertificateError, ConnectionError) as error:
            raise AdminApiError(self.redact(self.connection_error_message(method, url, error))) from None

        if status not in accepted:
            raise AdminApiError(self.http_error_message(method, url, status, raw), status)
        return status, self.parse_body(method, url, status, raw)

    def connection_error_message(self, method: str, url: str, reason) -> str:
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return '%s %s timed out after %s seconds. Check that the application responds, or raise timeout.' % (
                method, url, self.timeout)
        if isinstance(reason, (ssl.SSLCertVerificationError, ssl.CertificateError)):
            return ('%s %s failed: the TLS certificate of the server could not be verified (%s). Install the CA '
                    'certificate on the host that runs the module, or set validate_certs to false for a test '
                    'server only.' % (method, url, reason))
        return '%s %s failed: %s. Check url and that the application is running.' % (method, url, reason)

    def http_error_message(self, method: str, url: str, status: int, raw: bytes) -> str:
        detail = self.error_detail(raw)
        advice = {
            401: (' Check the admin token: pass the ADMIN_TOKEN of the application\'s .env (the ADMIN_TOKEN '
                  'environment variable or promptlib_admin_token).'),
            403: ' The feature behind this route is disabled.',
            404: ' Check url: this route does not exist there.',
            503: ' The application or its database is unavailable, or ADMIN_TOKEN is not set in its environment.',
        }.get(status, '')
        if not advice and status >= 500:
            advice = (' The application failed to handle the request. Check the application\'s log and that its '
                      'database is reachable, then run again.')
        return self.redact('%s %s failed with HTTP status %d%s.%s' % (
            method, url, status, ': %s' % detail if detail else '', advice))

    @staticmethod
    def error_detail(raw: bytes) -> str:
        """Return the ``error`` field of a JSON error body, or the start of a body that is not JSON."""
        text = raw.decode('utf-8', errors='replace').strip()
        try:
            parsed = json.loads(text)
        except ValueError:
            return text[:MAX_QUOTED_BODY]
        if isinstance(parsed, dict) and isinstance(parsed.get('error'), str):
            return parsed['error'][:MAX_QUOTED_BODY]
        return text[:MAX_QUOTED_BODY]

    def parse_body(self, method: str, url: str, status: int, raw: bytes) -> dict:
        try:
            parsed = json.loads(raw.decode('utf-8'))
        except ValueError:
            raise AdminApiError(self.redact('%s %s returned HTTP status %d with a body that is not JSON: %r'
                                            % (method, url, status, raw[:MAX_QUOTED_BODY])), status) from None
        if not isinstance(parsed, dict):
            raise AdminApiError('%s %s returned HTTP status %d with JSON that is not an object.'
                                % (method, url, status), status)
        return parsed

    # --- routes --------------------------------------------------------------

    def get_maintenance(self) -> dict:
        """Return ``{enabled, message}``."""
        return self.request('GET', '/api/admin/maintenance')[1]

    def set_maintenance(self, enabled: bool, message: str | None) -> dict:
        body = {'enabled': enabled}
        if enabled and message is not None:
            body['message'] = message
        return self.request('POST', '/api/admin/maintenance', body)[1]

    def get_safe_mode(self) -> dict:
        """Return ``{enabled}``."""
        return self.request('GET', '/api/admin/templates/safe-mode')[1]

    def set_safe_mode(self, enabled: bool) -> dict:
        return self.request('POST', '/api/admin/templates/safe-mode', {'enabled': enabled})[1]

    def list_templates(self) -> dict:
        """Return ``{count, templates}``."""
        return self.request('GET', '/api/admin/templates')[1]

    def export_all(self) -> dict:
        """Return ``{exported_at, count, templates}``."""
        return self.request('POST', '/api/admin/templates/export-all')[1]

    def reset_defaults(self) -> dict:
        """Return ``{removed, count}``."""
        return self.request('POST', '/api/admin/templates/reset-defaults')[1]

    def component_health(self, component: str) -> dict:
        """Return ``{component, status, detail, http_status}``; status is healthy, unhealthy or disabled."""
        status, body = self.request('GET', '/api/admin/templates/health/%s' % component, accepted=HEALTH_STATUSES)
        body['http_status'] = status
        return body

    def config(self) -> dict:
        """Return the running application's configuration: flags, versions and schema versions."""
        return self.request('GET', '/api/admin/config')[1]
