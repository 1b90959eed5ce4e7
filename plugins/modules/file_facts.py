#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: file_facts
short_description: Read what a rollback needs to know about several files in one call
version_added: 0.1.0
description:
  - Returns, for each path in O(paths), whether it exists, whether it is a regular file and its size, in the
    shape that M(ansible.builtin.stat) returns them under C(stat).
  - Adds the SHA-256 checksum of the paths in O(checksum) and the text of the small files in O(read).
  - One call replaces one M(ansible.builtin.stat) or M(ansible.builtin.slurp) task per file, which matters
    because each task is a round trip to the host.
  - The module only reads, so it never reports a change and runs the same in check mode.
author:
  - promptlib.rollback developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the same files as without check mode.
  diff_mode:
    support: none
    details: The module changes nothing.
  platform:
    platforms: posix
options:
  paths:
    description:
      - Paths to describe. Paths in O(checksum) and O(read) are added to them.
    type: list
    elements: path
    default: []
  checksum:
    description:
      - Paths whose SHA-256 checksum to return as C(checksum), when they are readable regular files.
    type: list
    elements: path
    default: []
  read:
    description:
      - Paths of small text files to return as C(content), when they are readable regular files of at most
        O(max_read_bytes). Bytes that are not UTF-8 are replaced.
    type: list
    elements: path
    default: []
  max_read_bytes:
    description:
      - Largest file in bytes that O(read) returns. A larger file gets C(read_error) instead of C(content).
    type: int
    default: 65536
notes:
  - Symbolic links are followed, as M(ansible.builtin.stat) does with C(follow=true).
  - As with M(ansible.builtin.stat), a path that does not exist has only C(exists) false. C(checksum) and
    C(content) are present only for readable regular files that asked for them.
  - A file that cannot be read gets C(read_error) instead of C(checksum) or C(content), and the task does not
    fail, so that the caller decides which files must be readable.
seealso:
  - module: ansible.builtin.stat
'''

EXAMPLES = r'''
- name: Read the configuration files and the release identity in one round trip
  promptlib.rollback.file_facts:
    paths:
      - /var/log/prompt-library/application.log
    checksum:
      - /opt/prompt-library/.env
      - /opt/prompt-library/.env.previous
    read:
      - /opt/prompt-library/previous-stable/release.json
  register: preflight_files

- name: Use one file's facts
  ansible.builtin.debug:
    msg: "{{ preflight_files.files['/opt/prompt-library/.env'].stat.checksum }}"
'''

RETURN = r'''
files:
  description: For each path, given as written, a dict with C(path) and C(stat).
  returned: always
  type: dict
  sample:
    /opt/prompt-library/.env:
      path: /opt/prompt-library/.env
      stat: {exists: true, isreg: true, size: 512, checksum: 3f0a...}
  contains:
    stat:
      description: C(exists), C(isreg), C(size), C(checksum), C(content) and C(read_error) of the path.
      type: dict
'''

import hashlib  # noqa: E402 (Ansible modules import after their documentation)
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

CHUNK_BYTES = 1024 * 1024


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b''):
            digest.update(chunk)
    return digest.hexdigest()


def describe(path: str, checksum: bool, read: bool, max_read_bytes: int) -> dict:
    """Return the stat-like facts of ``path``: only ``exists`` when it does not exist, as stat does."""
    facts = dict(exists=False)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return facts
    except OSError as error:
        facts['read_error'] = 'Cannot stat %s: %s' % (path, error.strerror)
        return facts
    facts.update(exists=True, isreg=os.path.isfile(path), size=status.st_size)
    if not facts['isreg']:
        return facts
    try:
        if checksum:
            facts['checksum'] = sha256_of(path)
        if read:
            if status.st_size > max_read_bytes:
                facts['read_error'] = '%s is %d bytes, more than max_read_bytes %d.' % (
                    path, status.st_size, max_read_bytes)
            else:
                with open(path, encoding='utf-8', errors='replace') as handle:
                    facts['content'] = handle.read()
    except OSError as error:
        facts['read_error'] = 'Cannot read %s: %s' % (path, error.strerror)
    return facts


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type='list', elements='path', default=[]),
            checksum=dict(type='list', elements='path', default=[]),
            read=dict(type='list', elements='path', default=[]),
            max_read_bytes=dict(type='int', default=65536),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['max_read_bytes'] < 0:
        module.fail_json(msg='max_read_bytes must be 0 or more, got %d.' % params['max_read_bytes'])
    files = {}
    for path in params['paths'] + params['checksum'] + params['read']:
        if path in files:
            continue
        files[path] = dict(path=path, stat=describe(path, path in params['checksum'], path in params['read'],
                                                    params['max_read_bytes']))
    module.exit_json(changed=False, files=files)


if __name__ == '__main__':
    main()
