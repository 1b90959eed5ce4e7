#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pm2_info
short_description: Read the pm2 process list without changing anything
version_added: 0.2.0
description:
  - Runs C(pm2 jlist) and returns each process's status, restart count, start time and log paths.
  - Never returns the processes' environments, because they carry secrets such as database URLs and tokens.
author:
  - promptlib.rollback developers (@promptlib)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads only, so it runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  name:
    description:
      - Process name, numeric pm_id or V(all).
    type: str
    default: all
  pm2_home:
    description:
      - pm2 home folder of the daemon, passed to pm2 as E(PM2_HOME). Without it pm2 uses C(~/.pm2).
    type: path
  executable:
    description:
      - Path of the pm2 executable. Defaults to C(pm2) found on E(PATH).
    type: path
notes:
  - A pm2 daemon that is not running is started by C(pm2 jlist), as by every pm2 command, and then
    reports no processes.
seealso:
  - module: promptlib.rollback.pm2
'''

EXAMPLES = r'''
- name: Read the application's processes
  promptlib.rollback.pm2_info:
    name: prompt-library
  register: app_processes

- name: Show the status of each process
  ansible.builtin.debug:
    msg: "{{ app_processes.processes | map(attribute='status') | list }}"
'''

RETURN = r'''
processes:
  description: The processes that O(name) selects.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Process name., type: str, sample: prompt-library}
    pm_id: {description: pm2 process id., type: int, sample: 0}
    status: {description: "pm2 status, for example C(online), C(stopped) or C(errored).", type: str, sample: errored}
    pid: {description: 'Operating system process id, or null when not running.', type: int, sample: 4242}
    restarts: {description: Restarts pm2 counted since the process was started., type: int, sample: 15}
    exec_path: {description: Script pm2 runs., type: str, sample: /opt/prompt-library/current/server.js}
    cwd: {description: Working directory., type: str, sample: /opt/prompt-library/current}
    memory_bytes: {description: Resident memory in bytes at pm2's last sample., type: int, sample: 52428800}
    started_at:
      description: When pm2 last started the process, UTC ISO 8601, or null when pm2 does not report it.
      type: str
      sample: "2025-01-01T12:00:00Z"
    out_log: {description: Path of the process's stdout log., type: str, sample: /root/.pm2/logs/prompt-library-out.log}
    error_log:
      description: Path of the process's stderr log.
      type: str
      sample: /root/.pm2/logs/prompt-library-error.log
online:
  description: Number of selected processes whose status is C(online).
  returned: always
  type: int
  sample: 1
'''

import datetime
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.promptlib.rollback.plugins.module_utils.pm2 import (
    STATUS_ONLINE,
    Pm2Cli,
    Pm2Error,
    select_processes,
    summarize_process,
)


def describe_process(process: dict) -> dict:
    """Return the reported fields of one pm2 process, without its environment."""
    pm2_env = process.get('pm2_env') or {}
    summary = summarize_process(process)
    started_ms = pm2_env.get('pm_uptime')
    started_at = None
    if isinstance(started_ms, (int, float)) and not isinstance(started_ms, bool) and started_ms > 0:
        moment = datetime.datetime.fromtimestamp(started_ms / 1000.0, tz=datetime.timezone.utc)
        started_at = moment.strftime('%Y-%m-%dT%H:%M:%SZ')
    summary['started_at'] = started_at
    summary['out_log'] = pm2_env.get('pm_out_log_path')
    summary['error_log'] = pm2_env.get('pm_err_log_path')
    return summary


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', default='all'),
            pm2_home=dict(type='path'),
            executable=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    executable = module.params['executable']
    if executable is None:
        executable = module.get_bin_path('pm2', required=True)
    elif not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        module.fail_json(msg='The pm2 executable %s does not exist or is not executable. Fix the executable '
                             'option or leave it out to use pm2 from PATH.' % executable)
    if not module.params['name'].strip():
        module.fail_json(msg='name must not be empty. Give a pm2 process name, a pm_id or all.')

    cli = Pm2Cli(module.run_command, executable, module.params['pm2_home'])
    try:
        processes = select_processes(cli.list_processes(), module.params['name'])
    except Pm2Error as error:
        # stdout is left out because a partial `pm2 jlist` output carries process environments.
        module.fail_json(msg=str(error), rc=error.details.get('rc'), stderr=error.details.get('stderr'))
    described = [describe_process(process) for process in processes]
    module.exit_json(
        changed=False,
        processes=described,
        online=sum(1 for process in described if process['status'] == STATUS_ONLINE),
    )


if __name__ == '__main__':
    main()
