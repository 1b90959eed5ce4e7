#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: template_admin
short_description: Drive the prompt library's template admin API with a Bearer token
version_added: 0.1.0
description:
  - Calls the admin API of the prompt library (C(/api/admin/...)) as the rollback runbook does with C(curl),
    one O(operation) per task.
  - O(operation=maintenance) and O(operation=safe_mode) read the current state first (C(GET
    /api/admin/maintenance), C(GET /api/admin/templates/safe-mode)) and send a change only when it differs.
  - O(operation=export) writes every template, as C(POST /api/admin/templates/export-all) returns them, to
    O(dest) on the host that runs the module, and returns the template count and the SHA-256 digest of the
    file. When O(dest) already holds the same templates, the file is left alone and the task reports no
    change.
  - O(operation=reset_defaults) deletes every custom template and writes the default ones back. The API has no
    way to read whether the templates already are the defaults, so this operation always reports a change.
  - O(operation=component_health), O(operation=list) and O(operation=config) only read, and never report a
    change.
  - To export to a path on the controller, run the task with C(delegate_to=localhost) and a O(url) that the
    controller can reach, or export on the host and copy the file with M(ansible.builtin.fetch).
author:
  - promptlib.rollback developers (@promptlib)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Sends only C(GET) requests and returns what would change. O(operation=reset_defaults) reports a change
        without sending the reset.
  diff_mode:
    support: full
    details:
      - Maintenance and safe mode show the state before and after. O(operation=export) shows the template names
        in O(dest) before and after. O(operation=reset_defaults) shows the template names before and after; in
        check mode the names after are unknown.
  platform:
    platforms: posix
options:
  operation:
    description:
      - V(maintenance) turns maintenance mode on or off, as O(enabled) says, with O(maintenance_message).
      - V(safe_mode) turns template safe mode on or off, as O(enabled) says.
      - V(export) writes all templates to O(dest).
      - V(reset_defaults) replaces all templates by the defaults.
      - V(component_health) checks each of O(components) and returns their status.
      - V(list) returns all templates.
      - V(config) returns the configuration of the running application, its feature flags included.
    type: str
    required: true
    choices: [maintenance, safe_mode, export, reset_defaults, component_health, list, config]
  enabled:
    description:
      - Whether maintenance mode or safe mode must be on. Required with O(operation=maintenance) and
        O(operation=safe_mode).
    type: bool
  maintenance_message:
    description:
      - Message that the application shows while maintenance mode is on, at most 500 characters.
      - Compared with the current message only when given. Ignored when O(enabled=false), because the
        application drops the message when maintenance ends.
    type: str
  dest:
    description:
      - Path of the export file on the host that runs the module. Its folder must exist. Required with
        O(operation=export).
      - The file holds the JSON object of the export route, C({"exported_at", "count", "templates"}).
    type: path
  mode:
    description:
      - File mode of O(dest), as an octal string such as C('0600') or a symbolic mode as M(ansible.builtin.file)
        accepts. Template bodies may hold internal text, so the default lets only the owner read the export.
    type: raw
    default: '0600'
  force:
    description:
      - Write O(dest) even when it already holds the same templates.
    type: bool
    default: false
  components:
    description:
      - Components that O(operation=component_health) checks.
    type: list
    elements: str
    choices: [validation, cache, analytics]
    default: [validation, cache, analytics]
  url:
    description:
      - Base URL of the application, without the C(/api) path.
    type: str
    default: http://127.0.0.1:8000
  token:
    description:
      - Bearer token of the admin API.
      - When not set, the E(ADMIN_TOKEN) environment variable of the process that runs the module is used. That
        is the environment on the managed host, not the controller's, unless the task is delegated to it.
    type: str
    required: true
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https) O(url). Turn it off only for a test server.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authority that signed the server certificate, when it is not in the
        system's trust store.
    type: path
  timeout:
    description:
      - Seconds to wait for each response.
    type: float
    default: 10
notes:
  - Redirects are not followed, so the token is only ever sent to O(url). A redirect fails the task with its
    HTTP status.
  - The token is never part of a message or result, and the option is C(no_log).
  - O(operation=export) compares the templates with C(GET /api/admin/templates) and calls the export route only
    when it writes O(dest). The C(exported_at) time in the file is therefore the time of the last write.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.fetch
'''

EXAMPLES = r'''
- name: Turn maintenance mode on before the gradual rollback
  promptlib.rollback.template_admin:
    operation: maintenance
    enabled: true
    maintenance_message: Template system maintenance in progress
    token: "{{ promptlib_admin_token }}"

- name: Export the custom templates before the reset
  promptlib.rollback.template_admin:
    operation: export
    dest: /var/backups/prompt-library/custom-templates-{{ rollback_timestamp }}.json
    token: "{{ promptlib_admin_token }}"
  register: export

- name: Reset to the default templates
  promptlib.rollback.template_admin:
    operation: reset_defaults
    token: "{{ promptlib_admin_token }}"

- name: Turn safe mode on
  promptlib.rollback.template_admin:
    operation: safe_mode
    enabled: true
    token: "{{ promptlib_admin_token }}"

- name: Check the template components
  promptlib.rollback.template_admin:
    operation: component_health
    token: "{{ promptlib_admin_token }}"
  register: health

- name: Name the unhealthy components
  ansible.builtin.debug:
    msg: "Unhealthy: {{ health.unhealthy | join(', ') or 'none' }}"

- name: Export from the controller over HTTPS with a private CA
  promptlib.rollback.template_admin:
    operation: export
    url: https://prompts.example.com
    ca_path: /etc/pki/internal-ca.pem
    dest: "{{ playbook_dir }}/exports/templates.json"
    token: "{{ promptlib_admin_token }}"
  delegate_to: localhost
'''

RETURN = r'''
operation:
  description: The operation that ran.
  returned: always
  type: str
  sample: maintenance
requests:
  description:
    - Method and URL of each request sent, in order. In check mode, the C(GET) requests sent and the change
      that would be sent.
  returned: always
  type: list
  elements: list
  sample: [[GET, "http://127.0.0.1:8000/api/admin/maintenance"], [POST, "http://127.0.0.1:8000/api/admin/maintenance"]]
state:
  description: Maintenance or safe mode state after the task, or in check mode the state it would set.
  returned: when O(operation) is V(maintenance) or V(safe_mode)
  type: dict
  sample: {"enabled": true, "message": "Template system maintenance in progress"}
previous_state:
  description: Maintenance or safe mode state before the task.
  returned: when O(operation) is V(maintenance) or V(safe_mode)
  type: dict
  sample: {"enabled": false, "message": null}
dest:
  description: Path of the export file.
  returned: when O(operation=export)
  type: str
  sample: /var/backups/prompt-library/custom-templates-20240501_101500.json
count:
  description:
    - With O(operation=export), the number of templates in O(dest). With O(operation=list), the number of
      templates. With O(operation=reset_defaults), the number of templates after the reset.
  returned: when O(operation) is V(export), V(list) or V(reset_defaults) outside check mode
  type: int
  sample: 8
sha256:
  description: SHA-256 digest of O(dest) as hexadecimal. V(null) in check mode when the file would be written.
  returned: when O(operation=export)
  type: str
  sample: 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
removed:
  description: Number of templates that the reset deleted. V(null) in check mode.
  returned: when O(operation=reset_defaults)
  type: int
  sample: 3
templates:
  description: All templates, each with C(id), C(name), C(body), C(category), C(is_default) and timestamps.
  returned: when O(operation=list)
  type: list
  elements: dict
components:
  description: Health of each checked component, with C(status) (V(healthy), V(unhealthy) or V(disabled)),
    C(detail) and C(http_status).
  returned: when O(operation=component_health)
  type: dict
  sample: {"validation": {"status": "unhealthy", "detail": "validator rejects valid templates", "http_status": 503}}
unhealthy:
  description: Names of the checked components whose status is V(unhealthy).
  returned: when O(operation=component_health)
  type: list
  elements: str
  sample: [validation]
disabled:
  description: Names of the checked components that are disabled by their feature flag.
  returned: when O(operation=component_health)
  type: list
  elements: str
  sample: [analytics]
config:
  description: Configuration of the running application, as C(GET /api/admin/config) returns it.
  returned: when O(operation=config)
  type: dict
  sample: {"flags": {"TEMPLATE_CREATION_ENABLED": false}, "version": "1.4.0", "schema_version": 3}
'''

import hashlib  # noqa: E402 (Ansible modules import after their documentation)
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, env_fallback  # noqa: E402
from ansible_collections.promptlib.rollback.plugins.module_utils.admin_api import (  # noqa: E402
    COMPONENTS,
    AdminApiClient,
    AdminApiError,
)

# Operations whose POST changes the application. The export route only reads.
CHANGING_OPERATIONS = ('maintenance', 'safe_mode', 'reset_defaults')


def argument_spec() -> dict:
    return dict(
        operation=dict(type='str', required=True,
                       choices=['maintenance', 'safe_mode', 'export', 'reset_defaults', 'component_health',
                                'list', 'config']),
        enabled=dict(type='bool'),
        maintenance_message=dict(type='str'),
        dest=dict(type='path'),
        mode=dict(type='raw', default='0600'),
        force=dict(type='bool', default=False),
        components=dict(type='list', elements='str', choices=list(COMPONENTS), default=list(COMPONENTS)),
        url=dict(type='str', default='http://127.0.0.1:8000'),
        token=dict(type='str', required=True, no_log=True, fallback=(env_fallback, ['ADMIN_TOKEN'])),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        timeout=dict(type='float', default=10),
    )


def option_errors(params: dict) -> list[str]:
    """Return the problems with option values that the argument spec cannot catch."""
    errors = []
    url = params['url']
    if not url.startswith(('http://', 'https://')):
        errors.append('url must start with http:// or https://, got %r.' % url)
    if params['timeout'] <= 0:
        errors.append('timeout must be more than 0 seconds, got %s.' % params['timeout'])
    if not params['token'].strip():
        errors.append('token is empty. Pass the admin token, or set ADMIN_TOKEN where the module runs.')
    message = params['maintenance_message']
    if message is not None and len(message) > 500:
        errors.append('maintenance_message is %d characters long; the application accepts at most 500.' % len(message))
    if params['operation'] == 'export':
        folder = os.path.dirname(params['dest']) or '.'
        if not os.path.isdir(folder):
            errors.append('The folder %s of dest does not exist. Create it first.' % folder)
        elif os.path.isdir(params['dest']):
            errors.append('dest %s is a folder. Give the path of the export file.' % params['dest'])
    return errors


def state_lines(state: dict) -> str:
    return ''.join('%s: %s\n' % (key, json.dumps(state[key])) for key in sorted(state))


def template_names(templates: list) -> str:
    return ''.join('%s\n' % template.get('name') for template in templates)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b''):
            digest.update(chunk)
    return digest.hexdigest()


def read_export(path: str) -> dict | None:
    """Return the parsed export in ``path``, or None when it is missing or not an export."""
    try:
        with open(path, 'rb') as handle:
            parsed = json.loads(handle.read().decode('utf-8'))
    except (OSError, ValueError):
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get('templates'), list):
        return parsed
    return None


class TemplateAdmin:
    """Run one operation of the module against the admin API."""

    def __init__(self, module: AnsibleModule, client: AdminApiClient) -> None:
        self.module = module
        self.client = client
        self.params = module.params
        self.check_mode = module.check_mode
        self.result = dict(changed=False, operation=self.params['operation'], requests=client.requests)

    def planned(self, method: str, path: str) -> None:
        """Record a request that check mode does not send."""
        self.client.requests.append([method, self.client.url(path)])

    def set_diff(self, before: str, after: str, header: str) -> None:
        if self.module._diff:
            self.result['diff'] = dict(before=before, after=after, before_header=header, after_header=header)

    # --- operations ------------------------------------------------------------

    def maintenance(self) -> None:
        current = self.client.get_maintenance()
        previous = dict(enabled=bool(current.get('enabled')), message=current.get('message'))
        enabled = self.params['enabled']
        # The application drops the message when maintenance ends, so it only counts when turning on.
        message = self.params['maintenance_message'] if enabled else None
        differs = previous['enabled'] != enabled or (enabled and message is not None and message != previous['message'])
        expected = dict(enabled=enabled, message=message)
        self.apply_mode(previous, expected, differs, 'maintenance mode', '/api/admin/maintenance',
                        lambda: self.client.set_maintenance(enabled, message))

    def safe_mode(self) -> None:
        current = self.client.get_safe_mode()
        previous = dict(enabled=bool(current.get('enabled')))
        expected = dict(enabled=self.params['enabled'])
        self.apply_mode(previous, expected, previous != expected, 'template safe mode',
                        '/api/admin/templates/safe-mode', lambda: self.client.set_safe_mode(expected['enabled']))

    def apply_mode(self, previous: dict, expected: dict, differs: bool, header: str, path: str, send) -> None:
        state = previous
        if differs:
            if self.check_mode:
                self.planned('POST', path)
                state = expected
            else:
                response = send()
                state = {key: response.get(key) for key in expected}
        self.result.update(changed=differs, previous_state=previous, state=state)
        self.set_diff(state_lines(previous), state_lines(state), header)

    def export(self) -> None:
        dest = self.params['dest']
        existing = read_export(dest)
        if existing is None and os.path.exists(dest) and not self.params['force']:
            self.module.fail_json(msg='dest %s exists but is not an export of this module, so it was left alone. '
                                  'Choose another dest, or set force to true to replace it.' % dest,
                                  requests=self.client.requests)
        current = self.client.list_templates().get('templates', [])
        same = existing is not None and existing['templates'] == current and not self.params['force']
        before = template_names(existing['templates']) if existing is not None else ''
        self.result.update(dest=dest)

        if same:
            mode_changed = self.module.set_mode_if_different(dest, self.params['mode'], False)
            self.result.update(changed=mode_changed, count=len(existing['templates']), sha256=sha256_of(dest))
            self.set_diff(before, before, dest)
            return

        if self.check_mode:
            self.planned('POST', '/api/admin/templates/export-all')
            self.result.update(changed=True, count=len(current), sha256=None)
            self.set_diff(before, template_names(current), dest)
            return

        exported = self.client.export_all()
        templates = exported.get('templates')
        if not isinstance(templates, list):
            self.module.fail_json(msg='POST %s returned no "templates" list, so nothing was written to %s.'
                                  % (self.client.url('/api/admin/templates/export-all'), dest),
                                  requests=self.client.requests)
        self.write_atomically(dest, (json.dumps(exported, indent=2, sort_keys=True) + '\n').encode('utf-8'))
        self.module.set_mode_if_different(dest, self.params['mode'], True)
        self.result.update(changed=True, count=len(templates), sha256=sha256_of(dest))
        self.set_diff(before, template_names(templates), dest)

    def write_atomically(self, dest: str, content: bytes) -> None:
        """Write ``content`` to a temporary file beside ``dest`` and rename it into place."""
        descriptor, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest),
                                                 dir=os.path.dirname(dest) or '.')
        try:
            with os.fdopen(descriptor, 'wb') as handle:
                handle.write(content)
            self.module.atomic_move(temporary, dest)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def reset_defaults(self) -> None:
        before = self.client.list_templates().get('templates', [])
        if self.check_mode:
            self.planned('POST', '/api/admin/templates/reset-defaults')
            self.result.update(changed=True, removed=None)
            self.set_diff(template_names(before), '(the default templates, listed once the reset has run)\n',
                          'templates')
            return
        outcome = self.client.reset_defaults()
        self.result.update(changed=True, removed=outcome.get('removed'), count=outcome.get('count'))
        if self.module._diff:
            after = self.client.list_templates().get('templates', [])
            self.set_diff(template_names(before), template_names(after), 'templates')

    def component_health(self) -> None:
        components = {}
        for name in self.params['components']:
            health = self.client.component_health(name)
            components[name] = dict(status=health.get('status'), detail=health.get('detail'),
                                    http_status=health.get('http_status'))
        self.result.update(
            components=components,
            unhealthy=[name for name, value in components.items() if value['status'] == 'unhealthy'],
            disabled=[name for name, value in components.items() if value['status'] == 'disabled'],
        )

    def list_templates(self) -> None:
        listing = self.client.list_templates()
        templates = listing.get('templates', [])
        self.result.update(templates=templates, count=listing.get('count', len(templates)))

    def read_config(self) -> None:
        self.result.update(config=self.client.config())

    def run(self) -> dict:
        operations = {
            'maintenance': self.maintenance,
            'safe_mode': self.safe_mode,
            'export': self.export,
            'reset_defaults': self.reset_defaults,
            'component_health': self.component_health,
            'list': self.list_templates,
            'config': self.read_config,
        }
        operations[self.params['operation']]()
        return self.result


def failure_note(operation: str, requests: list, error: AdminApiError) -> str:
    """Say what a failed request may have changed, for the end of the error message."""
    if operation not in CHANGING_OPERATIONS:
        return ' Nothing was changed.'
    if requests and requests[-1][0] == 'POST' and error.status is None:
        return (' The request may have reached the application before the failure, so check its state before '
                'running the task again.')
    if any(method == 'POST' for method, _url in requests[:-1]):
        return ''
    return ' Nothing was changed.'


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[
            ('operation', 'maintenance', ['enabled']),
            ('operation', 'safe_mode', ['enabled']),
            ('operation', 'export', ['dest']),
        ],
        supports_check_mode=True,
    )
    errors = option_errors(module.params)
    if errors:
        module.fail_json(msg=' '.join(errors))

    params = module.params
    client = AdminApiClient(params['url'], params['token'], validate_certs=params['validate_certs'],
                            timeout=params['timeout'], ca_path=params['ca_path'])
    admin = TemplateAdmin(module, client)
    try:
        result = admin.run()
    except AdminApiError as error:
        module.fail_json(msg='%s%s' % (error, failure_note(params['operation'], client.requests, error)),
                         status=error.status, requests=client.requests, operation=params['operation'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
