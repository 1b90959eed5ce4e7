#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: nginx_site_test
short_description: Test an nginx site file with nginx -t before it replaces the live one
version_added: 0.1.0
description:
  - "C(nginx -t) can only test a whole configuration, so the module builds a scratch copy of the live one in a
    private temporary folder: the enabled sites (symbolic links followed), with O(candidate) in place of
    O(site), and a copy of O(main_config) whose include line for the enabled sites points at the scratch
    sites. It then runs C(nginx -t -q -c <scratch main config>) and removes the folder."
  - Nothing outside the temporary folder is written, so the module never reports a change.
  - "Fails when O(candidate) is missing or not a regular file, when O(main_config) has no line
    C(include <sites_enabled>/*;), or when nginx rejects the configuration. The message names the file and
    the fix."
author:
  - promptlib.rollback developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Runs the same test, because it writes only to its own temporary folder.
  diff_mode:
    support: none
    details: The module changes nothing.
  platform:
    platforms: posix
options:
  site:
    description:
      - Path of the live site file, in C(sites-available). Its base name is the file that O(candidate)
        replaces in the scratch copy of O(sites_enabled).
    type: path
    required: true
  candidate:
    description:
      - Path of the site file to test in place of O(site). Defaults to O(site) followed by C(.previous).
    type: path
  main_config:
    description:
      - nginx main configuration that includes the enabled sites.
    type: path
    default: /etc/nginx/nginx.conf
  sites_enabled:
    description:
      - Folder of enabled sites that O(main_config) includes with C(include <sites_enabled>/*;).
    type: path
    default: /etc/nginx/sites-enabled
notes:
  - Other include lines of O(main_config) must use absolute paths, because the scratch copy lives in another
    folder. Debian's and Ubuntu's nginx packages write absolute paths.
  - A site that is not enabled (no file or link of the same base name in O(sites_enabled)) is added to the
    scratch sites, so it is tested as if it were enabled.
seealso:
  - name: nginx command-line parameters
    description: What C(nginx -t) and C(-c) do.
    link: https://nginx.org/en/docs/switches.html
'''

EXAMPLES = r'''
- name: Test the previous site before the rollback stops anything
  promptlib.rollback.nginx_site_test:
    site: /etc/nginx/sites-available/prompt-library

- name: Test a site staged elsewhere
  promptlib.rollback.nginx_site_test:
    site: /etc/nginx/sites-available/prompt-library
    candidate: /srv/staging/prompt-library.conf
'''

RETURN = r'''
candidate:
  description: The site file that was tested.
  returned: always
  type: str
  sample: /etc/nginx/sites-available/prompt-library.previous
command:
  description: The nginx command that ran, with the path of the scratch main configuration.
  returned: always
  type: list
  elements: str
  sample: [/usr/sbin/nginx, -t, -q, -c, /tmp/promptlib-nginx-abc123/nginx.conf]
stderr:
  description: What nginx printed on standard error. Empty when the test passed quietly.
  returned: always
  type: str
  sample: ""
'''

import os  # noqa: E402 (Ansible modules import after their documentation)
import shutil  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def include_line(sites_enabled: str) -> str:
    return 'include %s/*;' % sites_enabled.rstrip('/')


def build_scratch_config(params: dict, candidate: str, scratch: str) -> str:
    """Copy the enabled sites and the main configuration into ``scratch`` and return the scratch main config."""
    sites = os.path.join(scratch, 'sites')
    # symlinks=False copies what the links of sites-enabled point to, as cp -L does.
    shutil.copytree(params['sites_enabled'], sites, symlinks=False)
    shutil.copyfile(candidate, os.path.join(sites, os.path.basename(params['site'])))
    with open(params['main_config'], encoding='utf-8') as handle:
        main = handle.read()
    line = include_line(params['sites_enabled'])
    if line not in main:
        raise ValueError(
            "%s has no line '%s', so the site cannot be tested with nginx -t. Set main_config to the file that "
            "includes the sites, or sites_enabled to the folder it includes." % (params['main_config'], line))
    scratch_main = os.path.join(scratch, 'nginx.conf')
    with open(scratch_main, 'w', encoding='utf-8') as handle:
        handle.write(main.replace(line, include_line(sites)))
    return scratch_main


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            site=dict(type='path', required=True),
            candidate=dict(type='path'),
            main_config=dict(type='path', default='/etc/nginx/nginx.conf'),
            sites_enabled=dict(type='path', default='/etc/nginx/sites-enabled'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    candidate = params['candidate'] or params['site'] + '.previous'
    result = dict(changed=False, candidate=candidate, command=[], stderr='')
    if not os.path.isfile(candidate):
        module.fail_json(msg='The site file %s to test is missing or not a regular file. Restore it from your '
                             'configuration backup, then run again.' % candidate, **result)
    for option in ('main_config', 'sites_enabled'):
        if not os.path.exists(params[option]):
            module.fail_json(msg='%s %s does not exist. Set %s to the nginx file or folder of this host.'
                                 % (option, params[option], option), **result)
    nginx = module.get_bin_path('nginx', required=True, opt_dirs=['/usr/sbin'])

    scratch = tempfile.mkdtemp(prefix='promptlib-nginx-')
    try:
        try:
            scratch_main = build_scratch_config(params, candidate, scratch)
        except ValueError as error:
            module.fail_json(msg=str(error), **result)
        except OSError as error:
            module.fail_json(msg='Failed to build a scratch nginx configuration in %s: %s. Check that %s and %s '
                                 'are readable.' % (scratch, error, params['sites_enabled'], params['main_config']),
                             **result)
        result['command'] = [nginx, '-t', '-q', '-c', scratch_main]
        rc, _stdout, stderr = module.run_command(result['command'], environ_update={'LANG': 'C', 'LC_ALL': 'C'})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result['stderr'] = stderr
    if rc != 0:
        module.fail_json(msg='The nginx site %s fails nginx -t: %s. Fix that file so nginx accepts it, then run '
                             'again.' % (candidate, stderr.strip().replace(scratch, '<scratch>') or 'no output'),
                         rc=rc, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
