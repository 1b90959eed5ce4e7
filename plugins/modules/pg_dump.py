#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_dump
short_description: Dump a PostgreSQL database to a verified backup file
version_added: 0.1.0
description:
  - Dumps one database with C(pg_dump) before a rollback does anything destructive, so that the failed
    state can be analysed or restored later.
  - The dump is written to O(dest) with a C(.partial) suffix and renamed to O(dest) only after C(pg_dump)
    exited with status 0 and, with O(verify=true), the file passed verification. A failed dump leaves no
    file at O(dest) and removes the partial file.
  - Before dumping, the module checks that the database exists, that the local C(pg_dump) is not older
    than the server, and that the file system of the folder of O(dest) has room for the dump.
  - When O(dest) already exists and verifies, nothing is dumped and the task reports no change.
options:
  db:
    description:
      - Name of the database to dump.
    type: str
    required: true
    version_added: 0.1.0
  dest:
    description:
      - Path of the backup file to write. Its folder must exist.
    type: path
    required: true
    version_added: 0.1.0
  format:
    description:
      - C(custom) writes a compressed archive for C(pg_restore); C(plain) writes an SQL script for C(psql).
    type: str
    choices: [plain, custom]
    default: custom
    version_added: 0.1.0
  verify:
    description:
      - Verify the dump before it is renamed into place, and verify an existing O(dest) before it is kept.
      - A C(custom) archive passes when C(pg_restore --list) exits with status 0 and lists at least one
        C(TABLE DATA) entry. A C(plain) dump passes when it is not empty and ends with the
        C(-- PostgreSQL database dump complete) trailer.
    type: bool
    default: true
    version_added: 0.1.0
  overwrite:
    description:
      - Dump again even when O(dest) exists and verifies. The existing file is replaced only after the new
        dump has passed verification.
      - When O(overwrite=false) and O(dest) exists but fails verification, the task fails and leaves the
        file alone.
    type: bool
    default: false
    version_added: 0.1.0
  min_free_ratio:
    description:
      - Free space needed in the folder of O(dest), as a multiple of the database size that
        C(pg_database_size) reports.
      - A custom archive is compressed and usually much smaller than the database, so the default leaves a
        wide margin for it. Set C(0) to skip the check.
    type: float
    default: 1.2
    version_added: 0.1.0
  mode:
    description:
      - File mode of O(dest), as an octal string such as C('0600') or a symbolic mode as the
        M(ansible.builtin.file) module accepts.
      - The partial file is created with mode C(0600), so the dump is never readable by others while
        it is written.
    type: raw
    default: '0600'
    version_added: 0.1.0
extends_documentation_fragment:
  - promptlib.rollback.postgres
attributes:
  check_mode:
    support: full
    description:
      - Checks that the database exists, that there is enough free space and whether an existing O(dest)
        verifies, then returns the C(pg_dump) command that would run. Writes nothing.
  diff_mode:
    support: full
    description:
      - Shows the format, size, SHA-256 digest and mode of O(dest) before and after, or C(absent).
      - In check mode the size and digest of a new dump are unknown, so the diff names the dump that would
        be written instead.
  platform:
    support: full
    platforms: posix
    description:
      - Runs the PostgreSQL client tools on the managed host.
notes:
  - The free space check compares against the size of the database on the server, which includes indexes
    and free space inside tables. A plain dump of a database with little index data can still be larger
    than the check assumes.
  - The module does not lock the database. C(pg_dump) takes a consistent snapshot while the application
    keeps running.
seealso:
  - module: promptlib.rollback.pg_restore
author:
  - promptlib.rollback developers (@promptlib)
'''

EXAMPLES = r'''
- name: Dump the failed state before restoring the database
  promptlib.rollback.pg_dump:
    db: promptlib_production
    dest: /var/backups/prompt-library/failed-state-{{ rollback_timestamp }}.dump
  become: true
  become_user: postgres

- name: Dump as plain SQL over TCP with a password
  promptlib.rollback.pg_dump:
    db: promptlib_production
    dest: /var/backups/prompt-library/current-state.sql
    format: plain
    login_host: db.example.internal
    login_user: rollback
    login_password: "{{ vault_rollback_db_password }}"
    mode: '0640'
'''

RETURN = r'''
dest:
  description: Path of the backup file.
  returned: always
  type: str
  sample: /var/backups/prompt-library/failed-state-20240101_120000.dump
format:
  description: Format of the backup file.
  returned: always
  type: str
  sample: custom
size_bytes:
  description: Size of the backup file in bytes. V(null) in check mode unless an existing file is kept.
  returned: always
  type: int
  sample: 1048576
sha256:
  description: SHA-256 digest of the backup file as hexadecimal. V(null) in check mode unless an existing file is kept.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
verified:
  description: Whether the backup file passed verification. V(false) when O(verify=false).
  returned: always
  type: bool
  sample: true
table_count:
  description:
    - Number of tables whose data the backup contains (C(TABLE DATA) entries of a custom archive,
      C(COPY) blocks of a plain dump).
    - V(null) when the file was not verified, and in check mode unless an existing file is kept.
  returned: always
  type: int
  sample: 12
command:
  description:
    - The C(pg_dump) command that ran, or would run in check mode, as an argv list.
    - V(null) when an existing file was kept.
    - It writes to the partial file, which is renamed to O(dest) afterwards. It never contains the password.
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/pg_dump, --port, '5432', --no-password, --format, custom, --file,
           /var/backups/db.dump.partial, --dbname, promptlib_production]
'''

import os  # noqa: E402 (Ansible modules import after their documentation)
import stat  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.promptlib.rollback.plugins.module_utils.postgres import (  # noqa: E402
    CommandError,
    PostgresClient,
    PostgresError,
    as_sentence,
    connection_argument_spec,
    database_name_error,
    detect_format,
    format_version,
    free_bytes,
    has_plain_trailer,
    major_version,
    megabytes,
    parse_restore_list,
    scan_plain_dump,
    sha256_file,
)

PARTIAL_SUFFIX = '.partial'


def argument_spec() -> dict:
    spec = connection_argument_spec()
    spec.update(
        db=dict(type='str', required=True),
        dest=dict(type='path', required=True),
        format=dict(type='str', default='custom', choices=['plain', 'custom']),
        verify=dict(type='bool', default=True),
        overwrite=dict(type='bool', default=False),
        min_free_ratio=dict(type='float', default=1.2),
        mode=dict(type='raw', default='0600'),
    )
    return spec


def option_errors(params: dict) -> list[str]:
    """Return the problems with the option values that the argument spec cannot catch."""
    errors = []
    name_error = database_name_error(params['db'], 'db')
    if name_error:
        errors.append(name_error)
    if params['min_free_ratio'] < 0:
        errors.append('min_free_ratio must be 0 or more, got %s.' % params['min_free_ratio'])
    if params['dest'].endswith('/') or os.path.isdir(params['dest']):
        errors.append('dest %s is a folder. Give the path of the backup file to write.' % params['dest'])
    return errors


def space_error(folder: str, db: str, db_size: int, ratio: float, available: int) -> str | None:
    """Return an error if ``available`` bytes in ``folder`` are fewer than ``db_size * ratio``."""
    required = db_size * ratio
    if available >= required:
        return None
    return ('Not enough free space in %s to dump database %s: %s free, %s required '
            '(database size %s x min_free_ratio %s). Free space in %s, choose another dest, '
            'or lower min_free_ratio.'
            % (folder, db, megabytes(available), megabytes(required), megabytes(db_size), ratio, folder))


class Dumper:
    """Check, run and verify one pg_dump as the module options describe."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.client = PostgresClient(module)
        self.dest = os.path.abspath(self.params['dest'])
        self.partial = self.dest + PARTIAL_SUFFIX
        self.format = self.params['format']

    def verify(self, path: str) -> tuple[str | None, int | None]:
        """Verify the backup file at ``path``. Returns (error or None, table count)."""
        if os.path.getsize(path) == 0:
            return 'the file is empty', None
        if detect_format(path) != self.format:
            return 'the file is not in %s format' % self.format, None
        if self.format == 'custom':
            try:
                stdout = self.client.run(self.client.pg_restore_list_argv(path), 'pg_restore --list %s' % path)[1]
            except CommandError as error:
                return str(error), None
            listing = parse_restore_list(stdout)
            if listing.table_data_count == 0:
                return 'pg_restore --list shows no TABLE DATA entry', 0
            return None, listing.table_data_count
        if not has_plain_trailer(path):
            return 'the "-- PostgreSQL database dump complete" trailer is missing, so the dump is truncated', None
        return None, scan_plain_dump(path).copy_count

    def result(self, changed: bool, command: list[str] | None, verified: bool, table_count: int | None) -> dict:
        exists = os.path.exists(self.dest)
        return dict(
            changed=changed,
            dest=self.dest,
            format=self.format,
            size_bytes=os.path.getsize(self.dest) if exists else None,
            sha256=sha256_file(self.dest) if exists else None,
            verified=verified,
            table_count=table_count,
            command=command,
        )

    def keep_existing(self) -> dict:
        """Return the result for an existing dest, or fail if it does not verify."""
        table_count = None
        verified = False
        if self.params['verify']:
            error, table_count = self.verify(self.dest)
            if error:
                self.module.fail_json(
                    msg='Backup file %s exists but failed verification: %s Remove it or set overwrite: true '
                        'to replace it.' % (self.dest, as_sentence(error)), dest=self.dest)
            verified = True
        elif detect_format(self.dest) != self.format:
            self.module.fail_json(msg='Backup file %s exists but is not in %s format. Remove it or set '
                                      'overwrite: true to replace it.' % (self.dest, self.format), dest=self.dest)
        changed = self.module.set_mode_if_different(self.dest, self.params['mode'], False)
        return self.result(changed, None, verified, table_count)

    def preflight(self) -> None:
        """Fail unless the database exists, pg_dump can dump its server, and there is room for the dump."""
        folder = os.path.dirname(self.dest)
        if not os.path.isdir(folder):
            self.module.fail_json(msg='The folder %s of dest does not exist. Create it first.' % folder)
        facts = self.client.database_facts(self.params['db'])
        if facts is None:
            self.module.fail_json(msg='Database %s not found on the server. Check db and the connection options.'
                                      % self.params['db'])
        server = self.client.server_version()
        client = self.client.client_version('pg_dump')
        if major_version(client) < major_version(server):
            self.module.fail_json(
                msg='The local pg_dump %s is older than the PostgreSQL server %s and cannot dump it. Install '
                    'pg_dump %s or newer.' % (format_version(client), format_version(server),
                                              format_version(major_version(server))))
        error = space_error(folder, self.params['db'], facts['size_bytes'], self.params['min_free_ratio'],
                            free_bytes(folder))
        if error:
            self.module.fail_json(msg=error)

    def remove_partial(self) -> None:
        try:
            os.unlink(self.partial)
        except FileNotFoundError:
            pass

    def dump(self, argv: list[str]) -> dict:
        """Dump into the partial file, verify it and rename it to dest."""
        self.remove_partial()
        # Create the file first so that pg_dump writes into a file that only the owner can read.
        os.close(os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        renamed = False
        try:
            self.client.run(argv, 'pg_dump of database %s' % self.params['db'])
            table_count = None
            if self.params['verify']:
                error, table_count = self.verify(self.partial)
                if error:
                    raise PostgresError('The dump of database %s failed verification: %s'
                                        % (self.params['db'], as_sentence(error)))
            self.module.set_mode_if_different(self.partial, self.params['mode'], False)
            os.rename(self.partial, self.dest)
            renamed = True
        finally:
            # Also runs when fail_json exits on an invalid mode.
            if not renamed:
                self.remove_partial()
        sync_folder(os.path.dirname(self.dest))
        return self.result(True, argv, self.params['verify'], table_count)

    def run(self) -> dict:
        dest_exists = os.path.exists(self.dest)
        if dest_exists and not self.params['overwrite']:
            return self.keep_existing()
        self.preflight()
        argv = self.client.pg_dump_argv(self.params['db'], self.partial, self.format)
        if self.module.check_mode:
            return dict(changed=True, dest=self.dest, format=self.format, size_bytes=None, sha256=None,
                        verified=False, table_count=None, command=argv)
        return self.dump(argv)


def describe_backup(path: str) -> str:
    """Describe the file at ``path`` for the diff: format, size, digest and mode, or ``absent``."""
    if not os.path.exists(path):
        return 'absent\n'
    file_stat = os.stat(path)
    return 'format: %s\nsize_bytes: %d\nsha256: %s\nmode: %04o\n' % (
        detect_format(path), file_stat.st_size, sha256_file(path), stat.S_IMODE(file_stat.st_mode))


def predicted_backup(before: str, result: dict, params: dict) -> str:
    """Describe dest as it would be after a real run, for the diff in check mode."""
    if result['command'] is not None:
        return 'format: %s\nnew dump of database %s\nmode: %s\n' % (result['format'], params['db'], params['mode'])
    if result['changed']:
        # Only the mode of an existing file changes.
        lines = [line for line in before.splitlines() if not line.startswith('mode: ')]
        return '\n'.join(lines + ['mode: %s' % params['mode']]) + '\n'
    return before


def sync_folder(folder: str) -> None:
    """Flush the folder entry of a renamed file to disk."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    errors = option_errors(module.params)
    if errors:
        module.fail_json(msg=' '.join(errors))
    dumper = Dumper(module)
    before = describe_backup(dumper.dest) if module._diff else None
    try:
        result = dumper.run()
    except CommandError as error:
        module.fail_json(msg='%s No file was written to %s.' % (error, dumper.dest),
                         command=error.argv, rc=error.rc, stderr=error.stderr)
    except PostgresError as error:
        module.fail_json(msg='%s No file was written to %s.' % (error, dumper.dest))
    if before is not None:
        after = predicted_backup(before, result, module.params) if module.check_mode else describe_backup(dumper.dest)
        result['diff'] = dict(before_header=dumper.dest, after_header=dumper.dest, before=before, after=after)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
