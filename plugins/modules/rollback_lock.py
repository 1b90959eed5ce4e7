#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: rollback_lock
short_description: Take or release the one rollback lock of a host
version_added: 0.3.0
description:
  - Makes sure that only one rollback runs against a host at a time. The lock is a small JSON file
    that names its holder (run id, user, controller host and process, procedure and start time).
  - With O(state=present), the lock is created when no run holds it, and kept when this run
    (O(run_id)) already holds it. When another run holds it, the task fails at once and names that
    holder, unless O(takeover) gives the holder's run id.
  - With O(state=absent), the lock is removed when this run holds it. A lock held by another run is
    left alone and reported in RV(holder).
  - The lock file is written completely before it is put in place, so a run killed while taking the
    lock leaves either no lock or a whole one.
author:
  - promptlib.rollback developers (@promptlib)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the lock would be taken or released, and fails as the real run would.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description: Path of the lock file. Its folder is created when missing.
    type: path
    default: /var/lib/promptlib-rollback/rollback.lock
  state:
    description: V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description: Id of this run, recorded in the lock and compared with the holder's.
    type: str
    required: true
  procedure:
    description: Name of the procedure this run performs, recorded in the lock.
    type: str
    default: ''
  user:
    description: User who started this run, recorded in the lock.
    type: str
    default: ''
  controller:
    description: Host name of the machine this run is controlled from, recorded in the lock.
    type: str
    default: ''
  controller_pid:
    description: Process id of this run on O(controller), recorded so that a dead holder can be detected.
    type: int
    default: 0
  takeover:
    description:
      - Run id of a holder whose lock this run replaces, for a run that died without releasing it.
        Any other holder still refuses the lock. A lock file that cannot be read has the run id
        V(unreadable).
    type: str
    default: ''
'''

EXAMPLES = r'''
- name: Take the rollback lock
  promptlib.rollback.rollback_lock:
    run_id: 20261204T120000Z-1a2b3c4d
    procedure: full
    user: oncall
    controller: bastion-1
    controller_pid: 4242

- name: Take over the lock of a run that died
  promptlib.rollback.rollback_lock:
    run_id: 20261204T121500Z-9f8e7d6c
    takeover: 20261204T120000Z-1a2b3c4d

- name: Release the rollback lock
  promptlib.rollback.rollback_lock:
    run_id: 20261204T120000Z-1a2b3c4d
    state: absent
'''

RETURN = r'''
acquired:
  description: Whether this run holds the lock after the task (in check mode, whether it would).
  returned: always
  type: bool
holder:
  description:
    - The lock's holder after the task; with O(state=present) this run, unless another run holds it.
      Empty when no run holds the lock.
  returned: always
  type: dict
  sample:
    run_id: 20261204T120000Z-1a2b3c4d
    procedure: full
    user: oncall
    controller: bastion-1
    controller_pid: 4242
    started_at: '2026-12-04T12:00:00Z'
previous_holder:
  description: The holder whose lock O(takeover) replaced; empty otherwise.
  returned: always
  type: dict
path:
  description: Path of the lock file.
  returned: always
  type: str
'''

import datetime
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

UNREADABLE_RUN_ID = 'unreadable'


def read_holder(path: str) -> dict | None:
    """Return the holder recorded in the lock file, or None when there is no lock file.

    A lock file that is not a JSON object with a run id gives a holder with the run id
    ``unreadable`` and the reason, so that it can still be named and taken over.
    """
    try:
        with open(path, 'rb') as lock_file:
            data = lock_file.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        return {'run_id': UNREADABLE_RUN_ID, 'error': str(error)}
    try:
        holder = json.loads(data)
    except ValueError as error:
        return {'run_id': UNREADABLE_RUN_ID, 'error': 'not JSON: %s' % error}
    if not isinstance(holder, dict) or not isinstance(holder.get('run_id'), str) or not holder['run_id']:
        return {'run_id': UNREADABLE_RUN_ID, 'error': 'no run_id in the lock file'}
    return holder


def describe(holder: dict) -> str:
    """Return one line that names a holder for an operator."""
    if holder['run_id'] == UNREADABLE_RUN_ID:
        return 'an unreadable lock (%s)' % holder.get('error', 'unknown error')
    return 'run %s by %s on %s (pid %s), procedure %s, started %s' % (
        holder['run_id'],
        holder.get('user') or 'an unknown user',
        holder.get('controller') or 'an unknown controller',
        holder.get('controller_pid') or 'unknown',
        holder.get('procedure') or 'unknown',
        holder.get('started_at') or 'at an unknown time')


def write_lock(path: str, holder: dict, replace: bool) -> bool:
    """Put a lock file naming ``holder`` at ``path``; return False when ``replace`` is false and one exists.

    The file is written and synced under a temporary name first. Without ``replace`` it is linked
    into place, which fails when a lock exists, so two runs cannot both take a free lock.
    """
    folder = os.path.dirname(path) or '.'
    os.makedirs(folder, mode=0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix='.rollback-lock-', dir=folder)
    try:
        with os.fdopen(handle, 'w') as lock_file:
            json.dump(holder, lock_file, sort_keys=True)
            lock_file.write('\n')
            lock_file.flush()
            os.fsync(lock_file.fileno())
        os.chmod(temporary, 0o644)
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/var/lib/promptlib-rollback/rollback.lock'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            run_id=dict(type='str', required=True),
            procedure=dict(type='str', default=''),
            user=dict(type='str', default=''),
            controller=dict(type='str', default=''),
            controller_pid=dict(type='int', default=0),
            takeover=dict(type='str', default=''),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params['path']
    run_id = params['run_id'].strip()
    result = dict(changed=False, acquired=False, holder={}, previous_holder={}, path=path)
    if not run_id or run_id == UNREADABLE_RUN_ID:
        module.fail_json(
            msg="run_id '%s' is invalid: give the id of this run, such as 20261204T120000Z-1a2b3c4d."
                % params['run_id'],
            **result)

    holder = read_holder(path)

    if params['state'] == 'absent':
        if holder is None:
            module.exit_json(**result)
        if holder['run_id'] != run_id:
            result['holder'] = holder
            module.warn('The lock %s was left in place: it is held by %s, not by run %s.'
                        % (path, describe(holder), run_id))
            module.exit_json(**result)
        result['changed'] = True
        if not module.check_mode:
            os.unlink(path)
        module.exit_json(**result)

    if holder is not None and holder['run_id'] == run_id:
        result.update(acquired=True, holder=holder)
        module.exit_json(**result)

    if holder is not None and params['takeover'] != holder['run_id']:
        result['holder'] = holder
        module.fail_json(
            msg='Another rollback holds the lock %s: %s. Wait for it to end. If it has died, take the lock over '
                'with -e promptlib_lock_takeover=%s.' % (path, describe(holder), holder['run_id']),
            **result)

    new_holder = dict(
        run_id=run_id, procedure=params['procedure'], user=params['user'], controller=params['controller'],
        controller_pid=params['controller_pid'],
        started_at=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))
    result.update(changed=True, acquired=True, holder=new_holder, previous_holder=holder or {})
    if module.check_mode:
        module.exit_json(**result)
    try:
        written = write_lock(path, new_holder, replace=holder is not None)
    except OSError as error:
        module.fail_json(
            msg='Could not write the lock %s: %s. Check that the folder is writable by the remote user.'
                % (path, error),
            **result)
    if not written:
        # Another run took the free lock between the read and the link.
        holder = read_holder(path) or {'run_id': UNREADABLE_RUN_ID, 'error': 'removed while being read'}
        result.update(changed=False, acquired=False, holder=holder, previous_holder={})
        module.fail_json(
            msg='Another rollback took the lock %s first: %s. Wait for it to end.' % (path, describe(holder)), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
