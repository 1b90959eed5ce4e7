#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: log_archive
short_description: Pack the tails of log files and generated snapshots into one tar.gz on the host
version_added: 0.2.0
description:
  - Writes a gzip-compressed tar archive to O(dest) with the last O(max_bytes) bytes of every file
    that O(paths) matches, plus one member per entry of O(contents).
  - Files keep their absolute path, without the leading C(/), as member name. A pattern that matches
    nothing and a file that cannot be read are reported, not errors, so one missing log never stops
    the others from being preserved.
  - Can also add the answers of HTTP GET requests (O(urls)) and the output of commands (O(commands)) run on
    the host, such as a metrics snapshot, so that one task collects everything.
  - The archive is created with mode C(0600), because logs can contain personal data.
  - An archive is evidence of one moment, so an existing O(dest) is kept and the task reports no change,
    unless O(force=true). Give each snapshot its own O(dest), for example with a timestamp in the name.
  - Invalid options, such as a directory as O(dest) or a command that is not an argument list, fail the task
    before any file is read, URL requested or command run.
author:
  - promptlib.rollback developers (@promptlib)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Lists the files it would archive, and neither requests the URLs, runs the commands nor writes.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  dest:
    description:
      - Path of the archive to write. An existing file is kept as it is, unless O(force=true).
    type: path
    required: true
  force:
    description:
      - Replace an existing O(dest) with a new archive.
    type: bool
    default: false
  paths:
    description:
      - Files or shell-style patterns (C(*), C(?), C([...])) to archive.
    type: list
    elements: str
    default: []
  contents:
    description:
      - Extra members as name and text, such as a metrics snapshot read by an earlier task. Names are
        relative paths inside the archive.
    type: dict
    default: {}
  urls:
    description:
      - Extra members as name and URL. The body of a GET request to the URL is stored under the name, and
        C(<name>.status.json) records the HTTP status or the error. A failed request is recorded, not an error.
    type: dict
    default: {}
  commands:
    description:
      - Extra members as name and argument list. The command runs without a shell, with E(LANG=C), and its
        standard output is stored under the name; a failing command stores its error output instead.
    type: dict
    default: {}
  timeout:
    description: Timeout of each request in O(urls), in seconds.
    type: int
    default: 10
  max_bytes:
    description:
      - Largest number of bytes kept per file; a longer file keeps its last O(max_bytes) bytes, so the
        newest lines survive.
    type: int
    default: 10485760
notes:
  - Files whose size reads as 0, such as those under C(/proc), are read up to O(max_bytes).
'''

EXAMPLES = r'''
- name: Preserve the application and nginx logs
  promptlib.rollback.log_archive:
    dest: /tmp/promptlib-logs-before.tar.gz
    paths:
      - /var/log/prompt-library/*.log
      - /var/log/nginx/*.log
    urls:
      metrics/app.prom: http://127.0.0.1:8000/metrics
    commands:
      metrics/disk.txt: [df, -P, /]
    contents:
      notes.txt: Taken before the switch.
'''

RETURN = r'''
dest:
  description: Path of the archive.
  returned: always
  type: str
kept:
  description:
    - V(true) when O(dest) existed and was kept, because O(force=false). The other lists are then empty.
  returned: always
  type: bool
  sample: false
files:
  description: The files archived, or that would be archived in check mode.
  returned: always
  type: list
  elements: dict
  contains:
    path: {description: Path on the host., type: str, sample: /var/log/nginx/error.log}
    member: {description: Member name in the archive., type: str, sample: var/log/nginx/error.log}
    size: {description: Size of the file in bytes., type: int, sample: 20480}
    archived_bytes: {description: Bytes archived from the end of the file., type: int, sample: 20480}
    truncated: {description: Whether the start of the file was left out., type: bool, sample: false}
missing:
  description: Patterns that matched no file.
  returned: always
  type: list
  elements: str
unreadable:
  description: Files that matched but could not be read, with the error.
  returned: always
  type: list
  elements: dict
generated:
  description: Member names written from O(contents), O(urls) and O(commands); in check mode only those of O(contents).
  returned: always
  type: list
  elements: str
'''

import glob
import io
import json
import os
import tarfile
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url


def read_tail(path: str, max_bytes: int) -> tuple[bytes, int]:
    """Return the last ``max_bytes`` bytes of ``path`` and the file's size."""
    with open(path, 'rb') as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            # Files under /proc report size 0 but have content.
            data = handle.read(max_bytes + 1)
            return data[-max_bytes:], len(data)
        if size > max_bytes:
            handle.seek(size - max_bytes)
        return handle.read(max_bytes), size


def find_files(patterns: list) -> tuple[list, list]:
    """Return the regular files that ``patterns`` match, in order without duplicates, and the
    patterns that matched none."""
    found, missing, seen = [], [], set()
    for pattern in patterns:
        matches = sorted(path for path in glob.glob(pattern) if os.path.isfile(path))
        if not matches:
            missing.append(pattern)
        for path in matches:
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                found.append(path)
    return found, missing


def member_name(path: str) -> str:
    return os.path.normpath(path).lstrip('/')


def check_member_names(module: AnsibleModule, names: list) -> None:
    for name in names:
        normalized = os.path.normpath(name)
        if not name or os.path.isabs(name) or normalized.startswith('..'):
            module.fail_json(msg='The member name %r is invalid; use a relative path that stays inside the '
                                 'archive, such as metrics/app.prom.' % name)


def check_commands(module: AnsibleModule, commands: dict) -> None:
    for name, argv in commands.items():
        if not isinstance(argv, list) or not argv or any(isinstance(part, (dict, list)) or part is None
                                                         for part in argv):
            module.fail_json(msg='The command for member %s is invalid: %r. Give a non-empty list of '
                                 'arguments, such as [df, -P, /].' % (name, argv))


def add_member(archive: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(mtime)
    archive.addfile(info, io.BytesIO(data))


def write_archive(dest: str, members: list) -> None:
    """Write ``members`` (name, data, mtime) to ``dest`` through a temporary file and a rename."""
    folder = os.path.dirname(dest) or '.'
    descriptor, temporary = tempfile.mkstemp(prefix='.log-archive-', suffix='.tar.gz', dir=folder)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, 'wb') as handle:
            with tarfile.open(fileobj=handle, mode='w:gz') as archive:
                for name, data, mtime in members:
                    add_member(archive, name, data, mtime)
        os.rename(temporary, dest)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def fetch_url(url: str, timeout: int, max_bytes: int) -> tuple[bytes, dict]:
    """GET ``url`` and return the body (at most ``max_bytes``) and a status record."""
    try:
        response = open_url(url, method='GET', timeout=timeout, validate_certs=True)
        body = response.read(max_bytes)
        return body, {'url': url, 'status': response.getcode(), 'error': None}
    except Exception as error:  # urllib raises many types; every one is recorded, none stops the archive
        status = getattr(error, 'code', None)
        return b'', {'url': url, 'status': status, 'error': str(getattr(error, 'reason', None) or error)}


def generated_members(module: AnsibleModule, max_bytes: int) -> list:
    """Return (name, data) for the O(urls) and O(commands) of the module."""
    members = []
    for name, url in sorted(module.params['urls'].items()):
        body, record = fetch_url(str(url), module.params['timeout'], max_bytes)
        members.append((name, body))
        members.append((name + '.status.json', json.dumps(record, indent=2).encode('utf-8')))
    for name, argv in sorted(module.params['commands'].items()):
        argv = [str(part) for part in argv]
        rc, stdout, stderr = module.run_command(argv, environ_update={'LANG': 'C', 'LC_ALL': 'C'})
        text = stdout if rc == 0 else 'exit code %d\n%s' % (rc, stderr)
        members.append((name, text.encode('utf-8')[-max_bytes:]))
    return members


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            force=dict(type='bool', default=False),
            paths=dict(type='list', elements='str', default=[]),
            contents=dict(type='dict', default={}),
            urls=dict(type='dict', default={}),
            commands=dict(type='dict', default={}),
            timeout=dict(type='int', default=10),
            max_bytes=dict(type='int', default=10 * 1024 * 1024),
        ),
        supports_check_mode=True,
    )
    dest = module.params['dest']
    max_bytes = module.params['max_bytes']
    contents = {str(name): '' if value is None else str(value) for name, value in module.params['contents'].items()}
    if max_bytes < 1:
        module.fail_json(msg='max_bytes must be at least 1, got %d.' % max_bytes)
    if not os.path.isdir(os.path.dirname(dest) or '.'):
        module.fail_json(msg='The folder of dest %s does not exist. Create it first or choose another dest.' % dest)
    if os.path.isdir(dest):
        module.fail_json(msg='dest %s is a directory. Give the path of the archive file, such as %s.'
                             % (dest, os.path.join(dest, 'logs.tar.gz')))
    check_member_names(module, list(contents) + list(module.params['urls']) + list(module.params['commands']))
    check_commands(module, module.params['commands'])
    if os.path.lexists(dest) and not module.params['force']:
        module.exit_json(changed=False, dest=dest, kept=True, files=[], missing=[], unreadable=[], generated=[])

    paths, missing = find_files(module.params['paths'])
    files, unreadable, members = [], [], []
    for path in paths:
        try:
            data, size = read_tail(path, max_bytes)
            mtime = os.stat(path).st_mtime
        except OSError as error:
            unreadable.append({'path': path, 'error': error.strerror or str(error)})
            continue
        name = member_name(path)
        members.append((name, data, mtime))
        files.append({'path': path, 'member': name, 'size': size, 'archived_bytes': len(data),
                      'truncated': size > len(data)})
    now = time.time()
    members.extend((os.path.normpath(name), text.encode('utf-8'), now) for name, text in sorted(contents.items()))
    generated = sorted(contents)
    if not module.check_mode:
        for name, data in generated_members(module, max_bytes):
            members.append((os.path.normpath(name), data, now))
            generated.append(name)

        try:
            write_archive(dest, members)
        except OSError as error:
            module.fail_json(msg='Failed to write the log archive %s: %s.' % (dest, error.strerror or error))
    module.exit_json(changed=True, dest=dest, kept=False, files=files, missing=missing, unreadable=unreadable,
                     generated=sorted(generated))


if __name__ == '__main__':
    main()
