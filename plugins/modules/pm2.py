#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pm2
short_description: Start, stop, restart, reload or delete pm2 processes and wait until they are stable
version_added: 0.1.0
description:
  - Manages Node.js processes run by L(pm2,https://pm2.keymetrics.io/), either by process name or from
    an ecosystem file.
  - Reads the process list with C(pm2 jlist) before acting, acts only when the processes are not in the
    requested state, and afterwards waits until they are. Processes expected online must also keep the
    same restart count and pid for O(stable_seconds), because a release that crashes at boot shows as
    online before pm2 marks it errored.
  - With O(ecosystem), a process that must be started again is deleted and started from the ecosystem
    file, so that pm2 runs the script path and environment that the file defines now, not the ones it
    stored when it started the failed release.
  - On failure the message names each process that is not in the expected state, with its status,
    restart count, error log path and the last lines of that log.
author:
  - promptlib.rollback developers (@promptlib)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the process list and the ecosystem file and returns the commands it would run.
  diff_mode:
    support: full
    details: Returns the status of each affected process before and after, one line per process.
  platform:
    platforms: posix
options:
  name:
    description:
      - Name of the pm2 process to manage, its numeric pm_id, or V(all) for every process of this
        pm2 home.
      - Exactly one of O(name) and O(ecosystem) is required.
    type: str
  ecosystem:
    description:
      - Path of a pm2 ecosystem file (C(.js), C(.cjs) or C(.json)) on the managed host. The module
        manages every app defined in it.
      - The file is loaded with Node.js on every run, in its own folder, because it may read a C(.env)
        file when it is loaded. pm2 commands that take the file also run in that folder.
      - Exactly one of O(name) and O(ecosystem) is required.
    type: path
  state:
    description:
      - V(started) starts processes that are not online. With O(ecosystem) an app is also started
        again when its running script, working directory, instance count or the environment keys
        that the file sets differ from the file, when the file no longer sets a variable that it set
        when the module started the app, or when the app restarts within O(stable_seconds).
      - V(stopped) stops processes that are not stopped. A missing process counts as stopped and
        gives a warning, so that an interrupted rollback can run again.
      - V(restarted) and V(reloaded) always act. With O(ecosystem) they delete and start each app
        from the file, because that is the only way pm2 drops a variable removed from the file.
        This gives up the zero-downtime property of a reload.
      - V(absent) deletes the processes from pm2.
    type: str
    required: true
    choices: [started, stopped, restarted, reloaded, absent]
  env:
    description:
      - Extra environment variables for the pm2 command that starts, restarts or reloads processes.
        pm2 copies its own environment into the processes it starts.
      - With O(ecosystem), variables set in the file take precedence, as in pm2.
      - Values that are not strings are converted, so V(true) becomes the string C(true).
      - Not logged, because values may be secrets. Only the names of differing variables are returned.
    type: dict
  update_env:
    description:
      - Whether V(restarted) and V(reloaded) by O(name) pass C(--update-env), so that the processes get
        the current environment of the pm2 command, O(env) included. V(started) by O(name) passes it
        only when O(env) is set.
    type: bool
    default: true
  wait_timeout:
    description:
      - Maximum time in seconds to wait after the pm2 commands until the processes are in the requested
        state and stable.
    type: int
    default: 30
  stable_seconds:
    description:
      - Time in seconds that a process expected online must stay online with an unchanged restart
        count and pid to count as up. Must be lower than O(wait_timeout).
      - V(started) with O(ecosystem) also watches running apps for this long before it reports no change.
    type: float
    default: 2
  pm2_home:
    description:
      - pm2 home folder of the daemon to manage, passed to pm2 as E(PM2_HOME). Without it pm2 uses
        C(~/.pm2) of the remote user.
    type: path
  executable:
    description:
      - Path of the pm2 executable. Defaults to C(pm2) found on E(PATH).
      - Node.js, needed to load O(ecosystem), is looked up first in the folder of this executable.
    type: path
notes:
  - Commands whose output is parsed run with E(LANG=C). Commands that start processes keep the
    locale of the remote user, because pm2 copies it into the processes.
  - The working directory check reads C(/proc/<pid>/cwd) and is skipped where that is not readable.
  - The module does not run C(pm2 save). Run it afterwards when pm2 restores processes at boot.
  - Ecosystem files in YAML are not supported.
  - Apps started from O(ecosystem) get the variable E(PROMPTLIB_ROLLBACK_ENV_KEYS) with the names, not the
    values, of the variables that the file set, because pm2 records no such list. A later run compares it
    with the file to find removed variables. Apps started another way have no such record, so a variable
    removed from the file is then noticed only by V(restarted) and V(reloaded).
seealso:
  - name: pm2 ecosystem file reference
    description: The format of the file that O(ecosystem) points to.
    link: https://pm2.keymetrics.io/docs/usage/application-declaration/
'''

EXAMPLES = r'''
- name: Stop every process before the release is switched
  promptlib.rollback.pm2:
    name: all
    state: stopped

- name: Start the restored release from its ecosystem file
  promptlib.rollback.pm2:
    ecosystem: /opt/prompt-library/current/ecosystem.config.js
    state: started
    wait_timeout: 60
    stable_seconds: 5

- name: Restart with template creation disabled
  promptlib.rollback.pm2:
    name: prompt-library
    state: restarted
    env:
      TEMPLATE_CREATION_ENABLED: "false"

- name: Remove a process left over from the failed release
  promptlib.rollback.pm2:
    name: prompt-library-worker
    state: absent
    pm2_home: /home/deploy/.pm2
'''

RETURN = r'''
processes:
  description:
    - The processes that O(name) or the apps of O(ecosystem) select, as read after the commands ran.
    - In check mode, as read before.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Process name.
      type: str
      sample: prompt-library
    pm_id:
      description: pm2 process id.
      type: int
      sample: 0
    status:
      description: pm2 status, for example C(online), C(stopped), C(errored) or C(launching).
      type: str
      sample: online
    pid:
      description: Operating system process id, or null when the process is not running.
      type: int
      sample: 4242
    restarts:
      description: Number of restarts that pm2 counted since the process was started.
      type: int
      sample: 0
    exec_path:
      description: Absolute path of the script that pm2 runs.
      type: str
      sample: /opt/prompt-library/current/server.js
    cwd:
      description: Working directory that pm2 starts the process in.
      type: str
      sample: /opt/prompt-library/current
    memory_bytes:
      description: Resident memory in bytes at pm2's last sample.
      type: int
      sample: 52428800
commands:
  description: The pm2 commands that ran, or that would run in check mode, as argument lists.
  returned: always
  type: list
  elements: list
  sample: [["/usr/bin/pm2", "delete", "prompt-library"],
           ["/usr/bin/pm2", "start", "/opt/prompt-library/current/ecosystem.config.js", "--only", "prompt-library"]]
reasons:
  description:
    - For each process name or app that the module acts on, why it acts. Environment values are never
      included, only variable names.
  returned: always
  type: dict
  sample: {"prompt-library": ["the environment differs from the ecosystem file in DATABASE_URL"]}
'''

import os  # noqa: E402 (Ansible modules import after their documentation)

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.promptlib.rollback.plugins.module_utils.pm2 import (  # noqa: E402
    ALL_PROCESSES,
    EXPECT_ABSENT,
    EXPECT_ONLINE,
    EXPECT_STOPPED,
    ENV_KEYS_VARIABLE,
    STATUS_ONLINE,
    STATUS_STOPPED,
    Expectation,
    Pm2Cli,
    Pm2Error,
    describe_failure,
    differing_env_keys,
    find_unstable,
    normalize_env_value,
    process_runs_in,
    removed_env_keys,
    select_processes,
    status_of,
    summarize_process,
    wait_for_expectations,
)

RESTART_STATES = ('restarted', 'reloaded')


def restart_command(state: str) -> str:
    """Return the pm2 subcommand for state=restarted or state=reloaded."""
    return 'reload' if state == 'reloaded' else 'restart'


class Plan:
    """Commands to run, expected state afterwards, and why, for one module run."""

    def __init__(self) -> None:
        self.steps = []          # (argv, cwd, pass_env, step_env)
        self.expectations = []
        self.reasons = {}
        self.warnings = []
        self.targets = []        # process names or targets whose processes are reported
        self.recreated = set()   # app names that are deleted and started again

    def add(self, argv: list, cwd: str | None = None, pass_env: bool = False, step_env: dict | None = None) -> None:
        """Add a command. ``pass_env`` passes the env option to it, ``step_env`` adds variables of its own."""
        self.steps.append((argv, cwd, pass_env, step_env or {}))

    def explain(self, target: str, reason: str) -> None:
        self.reasons.setdefault(target, []).append(reason)


# ===========================================================================
# Plans by process name
# ===========================================================================

def plan_by_name(params: dict, cli: Pm2Cli, before: list) -> Plan:
    plan = Plan()
    target = params['name']
    state = params['state']
    matching = select_processes(before, target)
    plan.targets = [target]

    if state == 'started':
        if not matching and target != ALL_PROCESSES:
            raise Pm2Error(
                'pm2 has no process named %s, so it cannot be started by name. Start it from its '
                'ecosystem file with the ecosystem option, or check the name and pm2_home.' % target
            )
        for process in matching:
            if status_of(process) == STATUS_ONLINE:
                continue
            plan.explain(process['name'], 'pm_id %s is %s' % (process.get('pm_id'), status_of(process)))
            # The numeric pm_id makes pm2 restart the known process. A name that contains
            # a dot or a slash would be taken for a script path.
            argv = cli.argv('start', str(process.get('pm_id')))
            if params['env'] and params['update_env']:
                argv.append('--update-env')
            plan.add(argv, pass_env=True)
        if plan.steps:
            plan.expectations.append(Expectation(target, EXPECT_ONLINE, count=len(matching)))

    elif state == 'stopped':
        if not matching and target != ALL_PROCESSES:
            plan.warnings.append('pm2 has no process named %s, so there is nothing to stop.' % target)
        running = [process for process in matching if status_of(process) != STATUS_STOPPED]
        for process in running:
            plan.explain(process['name'], 'pm_id %s is %s' % (process.get('pm_id'), status_of(process)))
        if running:
            plan.add(cli.argv('stop', target))
            plan.expectations.append(Expectation(target, EXPECT_STOPPED, count=len(matching)))

    elif state in RESTART_STATES:
        if not matching:
            missing_label = 'processes' if target == ALL_PROCESSES else 'process named %s' % target
            raise Pm2Error(
                'pm2 has no %s to %s. Start the processes first, for example with state=started and '
                'the ecosystem option, or check the name and pm2_home.' % (missing_label, restart_command(state))
            )
        argv = cli.argv(restart_command(state), target)
        if params['update_env']:
            argv.append('--update-env')
        plan.add(argv, pass_env=True)
        plan.explain(target, 'state=%s always acts' % state)
        plan.expectations.append(Expectation(target, EXPECT_ONLINE, count=len(matching)))

    elif state == 'absent':
        if matching:
            plan.add(cli.argv('delete', target))
            plan.explain(target, '%d process(es) exist' % len(matching))
            plan.expectations.append(Expectation(target, EXPECT_ABSENT))

    return plan


# ===========================================================================
# Plans from an ecosystem file
# ===========================================================================

def reasons_to_restart(app, matching: list, extra_env: dict) -> list:
    """Return why a running app differs from its definition in the ecosystem file."""
    if not matching:
        return ['it is not in the pm2 process list']
    reasons = []
    for process in matching:
        if status_of(process) != STATUS_ONLINE:
            reasons.append('pm_id %s is %s' % (process.get('pm_id'), status_of(process)))
    if len(matching) != app.instances:
        reasons.append('it has %d instances, the ecosystem file sets %d' % (len(matching), app.instances))
    for process in matching:
        exec_path = (process.get('pm2_env') or {}).get('pm_exec_path')
        if exec_path != app.exec_path:
            reasons.append('pm_id %s runs %s, the ecosystem file starts %s' % (
                process.get('pm_id'), exec_path, app.exec_path))
        elif process_runs_in(process, app.cwd) is False:
            reasons.append('pm_id %s runs in a folder that is no longer %s, for example a release that was '
                           'swapped out' % (process.get('pm_id'), app.cwd))
    # pm2 lets the variables of the ecosystem file override those of its own environment.
    expected_env = dict(extra_env)
    expected_env.update(app.env)
    differing = set()
    removed = set()
    for process in matching:
        differing.update(differing_env_keys(process, expected_env))
        removed.update(removed_env_keys(process, expected_env))
    if differing:
        reasons.append('the environment differs from the ecosystem file in %s' % ', '.join(sorted(differing)))
    if removed:
        reasons.append('the ecosystem file no longer sets %s' % ', '.join(sorted(removed)))
    return reasons


def plan_from_ecosystem(params: dict, cli: Pm2Cli, before: list, apps: list, read_processes) -> Plan:
    plan = Plan()
    state = params['state']
    ecosystem = params['ecosystem']
    folder = os.path.dirname(ecosystem)
    plan.targets = [app.name for app in apps]

    def start_again(app, matching):
        plan.recreated.add(app.name)
        if matching:
            plan.add(cli.argv('delete', app.name))
        plan.add(cli.argv('start', ecosystem, '--only', app.name), cwd=folder, pass_env=True,
                 step_env={ENV_KEYS_VARIABLE: ','.join(sorted(app.env))})
        plan.expectations.append(Expectation(app.name, EXPECT_ONLINE, count=app.instances, exec_path=app.exec_path))

    if state == 'started':
        healthy = []
        for app in apps:
            reasons = reasons_to_restart(app, select_processes(before, app.name), params['env'])
            for reason in reasons:
                plan.explain(app.name, reason)
            if not reasons:
                healthy.append(app.name)
        if healthy and params['stable_seconds'] > 0:
            unstable, _processes = find_unstable(read_processes, healthy, params['stable_seconds'])
            for name in unstable:
                plan.explain(name, 'it restarted or left the online status within %s seconds'
                             % params['stable_seconds'])
        for app in apps:
            if app.name in plan.reasons:
                start_again(app, select_processes(before, app.name))

    elif state == 'stopped':
        for app in apps:
            matching = select_processes(before, app.name)
            if not matching:
                plan.warnings.append('pm2 has no process named %s, so there is nothing to stop.' % app.name)
                continue
            running = [process for process in matching if status_of(process) != STATUS_STOPPED]
            if running:
                plan.explain(app.name, ', '.join('pm_id %s is %s' % (p.get('pm_id'), status_of(p)) for p in running))
                plan.add(cli.argv('stop', app.name))
                plan.expectations.append(Expectation(app.name, EXPECT_STOPPED, count=len(matching)))

    elif state in RESTART_STATES:
        for app in apps:
            plan.explain(app.name, 'state=%s with an ecosystem file deletes and starts each app' % state)
            start_again(app, select_processes(before, app.name))

    elif state == 'absent':
        for app in apps:
            matching = select_processes(before, app.name)
            if matching:
                plan.explain(app.name, '%d process(es) exist' % len(matching))
                plan.add(cli.argv('delete', app.name))
                plan.expectations.append(Expectation(app.name, EXPECT_ABSENT))

    return plan


# ===========================================================================
# Reporting
# ===========================================================================

def reported_processes(processes: list, targets: list) -> list:
    selected = []
    seen = set()
    for target in targets:
        for process in select_processes(processes, target):
            if process.get('pm_id') not in seen:
                seen.add(process.get('pm_id'))
                selected.append(process)
    return selected


def status_lines(processes: list) -> str:
    lines = ['%s (pm_id %s): %s' % (p.get('name'), p.get('pm_id'), status_of(p)) for p in processes]
    return '\n'.join(sorted(lines)) + '\n' if lines else ''


def predicted_status_lines(plan: Plan, before: list) -> str:
    """Describe the statuses that the plan leads to, for the diff in check mode.

    Apps that are deleted and started again get new pm_ids, so they are listed by
    instance number instead.
    """
    expected = {expectation.target: expectation for expectation in plan.expectations}
    lines = []
    for target in plan.targets:
        matching = select_processes(before, target)
        expectation = expected.get(target)
        if expectation is None:
            lines.extend('%s (pm_id %s): %s' % (p.get('name'), p.get('pm_id'), status_of(p)) for p in matching)
        elif expectation.state == EXPECT_ABSENT:
            continue
        elif target in plan.recreated:
            lines.extend('%s (instance %d): %s' % (target, index, expectation.state)
                         for index in range(expectation.count))
        else:
            lines.extend('%s (pm_id %s): %s' % (p.get('name'), p.get('pm_id'), expectation.state) for p in matching)
    return '\n'.join(sorted(lines)) + '\n' if lines else ''


# ===========================================================================
# Module
# ===========================================================================

def validate_params(module: AnsibleModule) -> dict:
    """Check the options and return a copy of them with env values as strings and an
    absolute ecosystem path. module.params stays as given, so no_log masking still
    matches the values that Ansible registered."""
    params = dict(module.params)

    if params['wait_timeout'] < 1:
        module.fail_json(msg='wait_timeout must be at least 1 second, got %d.' % params['wait_timeout'])
    if params['stable_seconds'] < 0:
        module.fail_json(msg='stable_seconds must not be negative, got %s.' % params['stable_seconds'])
    if params['stable_seconds'] >= params['wait_timeout']:
        module.fail_json(msg='stable_seconds (%s) must be lower than wait_timeout (%d), or no process can count '
                             'as stable in time. Raise wait_timeout.'
                             % (params['stable_seconds'], params['wait_timeout']))
    if params['name'] is not None and not params['name'].strip():
        module.fail_json(msg='name must not be empty. Give a pm2 process name, a pm_id or all.')

    environment = {}
    for key, value in (params['env'] or {}).items():
        if not key or '=' in key or '\0' in key:
            module.fail_json(msg='The env option contains an invalid variable name %r. Names must be non-empty '
                                 'and contain no "=" or NUL character.' % key)
        if value is None:
            module.fail_json(msg='The env option gives no value for %s. Set a string value or remove the '
                                 'variable.' % key)
        environment[key] = normalize_env_value(value)
    params['env'] = environment

    if params['ecosystem'] is not None:
        params['ecosystem'] = os.path.abspath(params['ecosystem'])
        if not os.path.isfile(params['ecosystem']):
            module.fail_json(msg='The ecosystem file %s does not exist or is not a file. Check the ecosystem '
                                 'option.' % params['ecosystem'])
    return params


def find_executables(module: AnsibleModule, params: dict) -> tuple:
    executable = params['executable']
    if executable is None:
        executable = module.get_bin_path('pm2', required=True)
    elif not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        module.fail_json(msg='The pm2 executable %s does not exist or is not executable. Fix the executable '
                             'option or leave it out to use pm2 from PATH.' % executable)
    node = None
    if params['ecosystem'] is not None:
        node = module.get_bin_path('node', required=True, opt_dirs=[os.path.dirname(executable)])
    return executable, node


def run_plan(cli: Pm2Cli, plan: Plan, extra_env: dict) -> list:
    """Run every step, even after a failure, and return the failures as messages."""
    failures = []
    for argv, cwd, pass_env, step_env in plan.steps:
        environment = dict(extra_env) if pass_env else {}
        environment.update(step_env)
        rc, stdout, stderr = cli.run(argv, extra_env=environment or None, cwd=cwd)
        if rc != 0:
            output = (stderr.strip() or stdout.strip())[-1000:]
            failures.append('"%s" exited with code %d: %s' % (' '.join(argv), rc, output))
    return failures


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str'),
            ecosystem=dict(type='path'),
            state=dict(type='str', required=True, choices=['started', 'stopped', 'restarted', 'reloaded', 'absent']),
            env=dict(type='dict', no_log=True),
            update_env=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=30),
            stable_seconds=dict(type='float', default=2.0),
            pm2_home=dict(type='path'),
            executable=dict(type='path'),
        ),
        mutually_exclusive=[('name', 'ecosystem')],
        required_one_of=[('name', 'ecosystem')],
        supports_check_mode=True,
    )
    params = validate_params(module)
    executable, node = find_executables(module, params)
    cli = Pm2Cli(module.run_command, executable, params['pm2_home'])
    result = dict(changed=False, commands=[], processes=[], reasons={})

    try:
        before = cli.list_processes()
        if params['ecosystem'] is not None:
            apps = cli.load_ecosystem(params['ecosystem'], node, params['env'])
            plan = plan_from_ecosystem(params, cli, before, apps, cli.list_processes)
        else:
            plan = plan_by_name(params, cli, before)
    except Pm2Error as error:
        module.fail_json(msg=str(error), **dict(result, **error.details))

    for warning in plan.warnings:
        module.warn(warning)
    result['commands'] = [step[0] for step in plan.steps]
    result['reasons'] = plan.reasons
    result['changed'] = bool(plan.steps)
    if module._diff:
        result['diff'] = dict(before_header='pm2 processes', after_header='pm2 processes',
                              before=status_lines(reported_processes(before, plan.targets)))

    if module.check_mode or not plan.steps:
        result['processes'] = [summarize_process(p) for p in reported_processes(before, plan.targets)]
        if module._diff:
            result['diff']['after'] = predicted_status_lines(plan, before)
        module.exit_json(**result)

    failures = run_plan(cli, plan, params['env'])
    # Check the processes whatever the exit codes were, because pm2 can fail a command
    # after it has acted, and succeed while the process crashes afterwards.
    try:
        outcome = wait_for_expectations(cli.list_processes, plan.expectations,
                                        params['wait_timeout'], params['stable_seconds'])
    except Pm2Error as error:
        module.fail_json(msg=str(error), **dict(result, **error.details))

    result['processes'] = [summarize_process(p) for p in reported_processes(outcome.processes, plan.targets)]
    if module._diff:
        result['diff']['after'] = status_lines(reported_processes(outcome.processes, plan.targets))
    if not outcome.ok:
        message = describe_failure(outcome, plan.expectations, params['wait_timeout'])
        if failures:
            message += '\npm2 commands that failed:\n' + '\n'.join(failures)
        module.fail_json(msg=message, **result)
    for failure in failures:
        module.warn('A pm2 command failed but the processes reached the expected state: %s' % failure)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
