#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_restore
short_description: Restore a PostgreSQL database from a backup without leaving it half-restored
version_added: 0.1.0
description:
  - Restores a database from a C(pg_dump) backup, either a C(custom) archive or a C(plain) SQL dump.
  - "Before anything is dropped or renamed, a preflight checks that the backup is readable, complete and
    not written by a newer C(pg_dump) than the local client tools, that every role the backup assigns
    objects to exists, and that the login role may create and rename databases. A failed preflight changes
    nothing, and its message names the file or value and the fix."
  - "With O(strategy=swap) (the default), the backup is restored into a shadow database and checked with
    O(verify_query). Only then are new connections to the live database blocked, its sessions terminated,
    and the live and shadow databases renamed in one transaction: the live one to O(failed_db), the shadow
    one to O(db). A failure up to that point drops the shadow database and leaves the live database as it
    was, with connections allowed again."
  - With O(strategy=in_place), the sessions are terminated and the live database is dropped, created again
    and restored, as a manual rollback with C(dropdb) and C(createdb) would do. This needs room for one copy
    only, but a failed restore leaves the database empty or partially restored. Use it only after a verified
    dump of the current state, for example with M(promptlib.rollback.pg_dump).
  - "With O(stage_only=true), only the first half of the swap runs: the backup is restored into the shadow
    database, checked and marked with its SHA-256 digest, and the live database is left alone. A later run
    with O(strategy=swap) and the same backup reuses that shadow database instead of restoring again, so the
    slow part of a rollback can run, and prove the backup restorable, while the application still serves."
  - "The restored database gets the comment C(promptlib.rollback: restored from <file name> sha256 <digest>).
    A later run with a backup of the same SHA-256 digest changes nothing unless O(force=true)."
options:
  db:
    description:
      - Name of the live database to restore.
      - When it does not exist, the backup is restored under this name and O(failed_db) is not used.
        This also completes a run that was interrupted between its steps.
    type: str
    required: true
    version_added: 0.1.0
  src:
    description:
      - Path of the backup file on the managed host.
    type: path
    required: true
    version_added: 0.1.0
  format:
    description:
      - Format of O(src). C(auto) detects it from the first bytes of the file, which are C(PGDMP) for a
        custom archive.
      - An explicit value that does not match the file fails the preflight.
      - Tar and directory archives are not supported.
    type: str
    choices: [auto, plain, custom]
    default: auto
    version_added: 0.1.0
  strategy:
    description:
      - C(swap) restores into O(shadow_db) and swaps names after verification, so a failed restore never
        touches the live database. The server needs room for two copies of the database.
      - C(in_place) drops and recreates O(db) before restoring. A failed restore leaves O(db) empty or
        partially restored, so the caller must have a verified dump of the current state first.
    type: str
    choices: [swap, in_place]
    default: swap
    version_added: 0.1.0
  shadow_db:
    description:
      - Name of the database that O(strategy=swap) restores into. Defaults to C(<db>_rollback_shadow).
      - A database of this name left over from an interrupted run is dropped, so it must never hold
        anything else. One that O(stage_only=true) restored from a backup of the same SHA-256 digest, and
        that still passes O(verify_query), is swapped in as it is.
    type: str
    version_added: 0.1.0
  failed_db:
    description:
      - Name under which O(strategy=swap) keeps the replaced live database. Defaults to
        C(<db>_failed_<timestamp>). The preflight fails when a database of this name exists.
    type: str
    version_added: 0.1.0
  timestamp:
    description:
      - Suffix of the default O(failed_db). Defaults to the current UTC time as C(%Y%m%d_%H%M%S).
      - Pass the run's timestamp so that the kept database matches the names of the other artifacts of the
        rollback.
    type: str
    version_added: 0.1.0
  owner:
    description:
      - Role that owns the restored database. Defaults to the owner of the live database, or to the login
        role when the live database does not exist.
    type: str
    version_added: 0.1.0
  no_owner:
    description:
      - Restore without the ownership and privilege statements of the backup, and run the restore as
        O(owner) so that the restored objects belong to it.
      - For a C(custom) archive this passes C(--no-owner --no-privileges --role <owner>) to C(pg_restore).
      - For a C(plain) dump, C(psql) has no such options. The module writes a temporary copy of the dump
        without its C(ALTER ... OWNER TO), C(GRANT), C(REVOKE), C(ALTER DEFAULT PRIVILEGES) and
        C(SET SESSION AUTHORIZATION) statements, which starts with C(SET ROLE <owner>), and restores that
        copy. The copy needs as much free space in the module's temporary folder as the dump.
      - Use it when the backup names roles that do not exist on this server.
    type: bool
    default: false
    version_added: 0.1.0
  jobs:
    description:
      - Number of parallel C(pg_restore) jobs. Values above 1 need a C(custom) archive and restore without
        C(--single-transaction). With O(strategy=swap), a failure still leaves only the shadow database
        incomplete, and the module drops it.
    type: int
    default: 1
    version_added: 0.1.0
  verify_query:
    description:
      - Query that must return a single integer of at least O(min_rows) on the restored database before it
        replaces the live one.
    type: str
    default: SELECT COUNT(*) FROM prompt_templates
    version_added: 0.1.0
  min_rows:
    description:
      - Minimum value that O(verify_query) must return.
    type: int
    default: 1
    version_added: 0.1.0
  force:
    description:
      - Restore even when the comment of the live database says it was restored from a backup with the same
        SHA-256 digest. With O(stage_only=true), restore the shadow database again even when it was staged
        from that backup.
    type: bool
    default: false
    version_added: 0.1.0
  stage_only:
    description:
      - Restore into O(shadow_db), verify it with O(verify_query) and stop there, leaving the live database
        as it is. Needs O(strategy=swap).
      - Changes nothing when O(shadow_db) was already staged from a backup of the same SHA-256 digest, or
        when the live database was already restored from it.
    type: bool
    default: false
    version_added: 0.1.0
extends_documentation_fragment:
  - promptlib.rollback.postgres
attributes:
  check_mode:
    support: full
    description:
      - Runs the whole preflight, which only reads the backup and the server, and returns the commands that
        would run. Nothing is created, dropped or renamed.
  diff_mode:
    support: full
    description:
      - Shows the owner and comment of O(db) before and after, or C(absent). The comment names the backup
        that O(db) was restored from, and the after state names the database that keeps the replaced one.
  platform:
    support: full
    platforms: posix
    description:
      - Runs the PostgreSQL client tools on the managed host.
notes:
  - Terminating the sessions of the live database ends the connections of the application that still uses
    it. The module waits up to 30 seconds for them to exit and fails, with connections allowed again, if
    some remain.
  - Prepared transactions on the live database keep it from being renamed or dropped. Commit or roll them
    back first.
  - The shadow database is created from C(template0) with the encoding, C(LC_COLLATE) and C(LC_CTYPE) of the
    live database. An ICU locale provider is not carried over.
  - The role check covers owners only. A role that appears only in a C(GRANT) of the backup is not checked
    in the preflight; the restore into the shadow database then fails and the live database stays as it was.
    With O(strategy=in_place) that failure happens after the drop.
  - The owner column of C(pg_restore --list) is read as its last word, so owner names containing a space are
    not checked correctly.
  - With O(strategy=in_place), a custom archive is read in full with C(pg_restore --file /dev/null) during the
    preflight, so that a truncated or corrupt archive fails before the drop. Plain dumps are checked for the
    trailer only.
seealso:
  - module: promptlib.rollback.pg_dump
author:
  - promptlib.rollback developers (@promptlib)
'''

EXAMPLES = r'''
- name: Dump the failed state first
  promptlib.rollback.pg_dump:
    db: promptlib_production
    dest: /var/backups/prompt-library/failed-state-{{ rollback_timestamp }}.dump
  become: true
  become_user: postgres

- name: Restore the pre-deployment backup through a shadow database
  promptlib.rollback.pg_restore:
    db: promptlib_production
    src: /var/backups/prompt-library/backup-pre-deployment.sql
    timestamp: "{{ rollback_timestamp }}"
  become: true
  become_user: postgres
  register: restore

- name: Restore a custom archive whose roles do not exist here, with four jobs
  promptlib.rollback.pg_restore:
    db: promptlib_staging
    src: /var/backups/prompt-library/production.dump
    no_owner: true
    owner: promptlib
    jobs: 4
    verify_query: SELECT COUNT(*) FROM prompt_templates WHERE enabled
    min_rows: 10

- name: Drop and recreate on a host without room for two copies
  promptlib.rollback.pg_restore:
    db: promptlib_production
    src: /var/backups/prompt-library/backup-pre-deployment.dump
    strategy: in_place
'''

RETURN = r'''
strategy:
  description: Strategy used.
  returned: always
  type: str
  sample: swap
format:
  description: Format of the backup, as given or detected.
  returned: always
  type: str
  sample: plain
src_sha256:
  description: SHA-256 digest of the backup file as hexadecimal.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
shadow_db:
  description: Name of the shadow database. V(null) with O(strategy=in_place).
  returned: always
  type: str
  sample: promptlib_production_rollback_shadow
failed_db:
  description:
    - Name under which the replaced live database was kept (or would be, in check mode).
    - V(null) with O(strategy=in_place), when the live database did not exist, and when nothing changed.
  returned: always
  type: str
  sample: promptlib_production_failed_20240101_120000
rows:
  description:
    - Value that O(verify_query) returned on the restored database.
    - When nothing changed, the value it returns on the live database. V(null) in check mode.
  returned: always
  type: int
  sample: 42
commands:
  description:
    - Commands that changed the server, in order, or in check mode the commands that would run. Each is an
      argv list and never contains the password.
    - Read-only queries of the preflight and the verification are not listed. The session termination is
      listed once, although it is repeated until all sessions have exited.
  returned: always
  type: list
  elements: list
  sample:
    - [/usr/bin/createdb, --no-password, --maintenance-db, postgres, --template, template0, --owner, promptlib,
       promptlib_production_rollback_shadow]
already_restored:
  description: V(true) when the live database was already restored from a backup of the same SHA-256 digest.
  returned: always
  type: bool
  sample: false
staged:
  description:
    - V(true) when the shadow database holds the verified backup after this run, because O(stage_only=true)
      restored it or found it staged already, or because a swap reused a staged shadow database.
  returned: always
  type: bool
  sample: true
duration_seconds:
  description: Time the module took, in seconds.
  returned: always
  type: float
  sample: 12.5
'''

import datetime  # noqa: E402 (Ansible modules import after their documentation)
import os  # noqa: E402
import pwd  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

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
    has_plain_trailer,
    parse_restore_list,
    plain_version_error,
    quote_identifier,
    quote_literal,
    read_archive_version,
    read_plain_header,
    scan_plain_dump,
    sha256_file,
    write_plain_dump_without_ownership,
)

# Format of the default failed_db suffix, the same as `date +%Y%m%d_%H%M%S`.
TIMESTAMP_FORMAT = '%Y%m%d_%H%M%S'
MARKER_PATTERN = re.compile(r'^promptlib\.rollback: restored from .* sha256 ([0-9a-f]{64})$', re.DOTALL)
SESSION_EXIT_TIMEOUT_SECONDS = 30
FILTERED_COPY_PLACEHOLDER = '<temporary copy of src without ownership statements>'


class RestoreError(PostgresError):
    """A restore step failed. Its message describes the state the databases were left in."""


# ===========================================================================
# Options
# ===========================================================================

def current_user() -> str:
    """Return the name of the user the module runs as, or its uid when it has no name."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return 'uid %d' % os.geteuid()


def argument_spec() -> dict:
    spec = connection_argument_spec()
    spec.update(
        db=dict(type='str', required=True),
        src=dict(type='path', required=True),
        format=dict(type='str', default='auto', choices=['auto', 'plain', 'custom']),
        strategy=dict(type='str', default='swap', choices=['swap', 'in_place']),
        shadow_db=dict(type='str'),
        failed_db=dict(type='str'),
        timestamp=dict(type='str'),
        owner=dict(type='str'),
        no_owner=dict(type='bool', default=False),
        jobs=dict(type='int', default=1),
        verify_query=dict(type='str', default='SELECT COUNT(*) FROM prompt_templates'),
        min_rows=dict(type='int', default=1),
        force=dict(type='bool', default=False),
        stage_only=dict(type='bool', default=False),
    )
    return spec


def database_names(params: dict, timestamp: str) -> tuple[str, str]:
    """Return the shadow and failed database names, applying the defaults."""
    shadow_db = params.get('shadow_db') or '%s_rollback_shadow' % params['db']
    failed_db = params.get('failed_db') or '%s_failed_%s' % (params['db'], timestamp)
    return shadow_db, failed_db


def option_errors(params: dict, shadow_db: str, failed_db: str) -> list[str]:
    """Return the problems with the option values that the argument spec cannot catch."""
    errors = []
    swap = params['strategy'] == 'swap'
    # in_place uses neither the shadow nor the failed database.
    names = [('db', params['db']), ('maintenance_db', params['maintenance_db'])]
    if swap:
        names += [('shadow_db', shadow_db), ('failed_db', failed_db)]
    for option, name in names:
        error = database_name_error(name, option)
        if error:
            errors.append(error)
    if swap and len({params['db'], shadow_db, failed_db}) < 3:
        errors.append('db, shadow_db and failed_db must be three different names, got %s, %s and %s.'
                      % (params['db'], shadow_db, failed_db))
    if params['maintenance_db'] in ([params['db'], shadow_db, failed_db] if swap else [params['db']]):
        errors.append('maintenance_db %s must not be a database that the restore renames or drops. '
                      'Use another database such as postgres.' % params['maintenance_db'])
    if params['stage_only'] and not swap:
        errors.append('stage_only needs strategy swap, got strategy %s. Drop stage_only, or use strategy swap.'
                      % params['strategy'])
    if params['jobs'] < 1:
        errors.append('jobs must be 1 or more, got %d.' % params['jobs'])
    if params['min_rows'] < 0:
        errors.append('min_rows must be 0 or more, got %d.' % params['min_rows'])
    if params['format'] == 'plain':
        jobs_error = plain_jobs_error(params['jobs'], params['src'])
        if jobs_error:
            errors.append(jobs_error)
    return errors


def plain_jobs_error(jobs: int, src: str) -> str | None:
    if jobs <= 1:
        return None
    return ('jobs: %d needs a custom-format archive, but %s is a plain SQL dump, which psql restores in one '
            'session. Set jobs: 1 or restore from a custom archive.' % (jobs, src))


def restore_marker(src: str, sha256: str) -> str:
    return 'promptlib.rollback: restored from %s sha256 %s' % (os.path.basename(src), sha256)


def marker_sha256(comment: str | None) -> str | None:
    """Return the SHA-256 digest recorded in a database comment written by this module, or None."""
    match = MARKER_PATTERN.match(comment or '')
    return match.group(1) if match else None


def describe_database(name: str, facts: dict | None) -> str:
    """Describe database ``name`` for the diff: its owner and comment, or ``absent``."""
    if facts is None:
        return 'absent\n'
    return 'database: %s\nowner: %s\ncomment: %s\n' % (name, facts['owner'], facts['comment'] or '')


def missing_roles_error(src: str, missing: set, owner: str) -> str:
    return ('Backup %s assigns objects to roles that do not exist on the server: %s. Create these roles '
            'first, or set no_owner: true to restore without owners and privileges, so that the restored '
            'objects belong to %s.' % (src, ', '.join(sorted(missing)), owner))


@dataclass
class Backup:
    """A backup file and what the preflight learned about it."""

    path: str
    format: str
    sha256: str
    owners: set = field(default_factory=set)


# ===========================================================================
# Restore
# ===========================================================================

class Restorer:
    """Run the preflight and one restore strategy as the module options describe."""

    def __init__(self, module: AnsibleModule, shadow_db: str, failed_db: str) -> None:
        self.module = module
        self.params = module.params
        self.client = PostgresClient(module)
        self.db = self.params['db']
        self.shadow_db = shadow_db
        self.failed_db = failed_db
        self.dry_run = module.check_mode
        self.commands: list[list[str]] = []
        self.reused_stage = False

    # --- preflight ---------------------------------------------------------

    def inspect_source(self) -> Backup:
        """Check that src is a readable, non-empty file in the expected format."""
        src = os.path.abspath(self.params['src'])
        if not os.path.exists(src):
            raise PostgresError('Backup %s not found. Check src.' % src)
        if not os.path.isfile(src):
            raise PostgresError('Backup %s is not a regular file. Directory-format archives are not supported: '
                                'give a plain dump or a custom archive.' % src)
        if not os.access(src, os.R_OK):
            raise PostgresError('Backup %s is not readable by user %s, who runs the restore. Fix its '
                                'permissions or become a user that can read it.' % (src, current_user()))
        if os.path.getsize(src) == 0:
            raise PostgresError('Backup %s is empty. Give a complete backup.' % src)
        detected = detect_format(src)
        requested = self.params['format']
        if requested != 'auto' and requested != detected:
            raise PostgresError('Backup %s is a %s backup, but format is %s. Set format: %s or auto.'
                                % (src, detected, requested, detected))
        if detected == 'plain':
            jobs_error = plain_jobs_error(self.params['jobs'], src)
            if jobs_error:
                raise PostgresError(jobs_error)
        return Backup(path=src, format=detected, sha256=sha256_file(src))

    def inspect_custom(self, backup: Backup) -> None:
        """Check that the local pg_restore can read the archive and collect its owners."""
        argv = self.client.pg_restore_list_argv(backup.path)
        try:
            stdout = self.client.run(argv, 'pg_restore --list')[1]
        except CommandError as error:
            raise PostgresError(custom_list_error(backup.path, error, read_archive_version(backup.path),
                                                  self.client.client_version('pg_restore'))) from None
        backup.owners = parse_restore_list(stdout).owners
        if self.params['strategy'] == 'in_place':
            # The list reads only the table of contents. Reading every data block catches a truncated or
            # corrupt archive before the live database is dropped.
            full_read = [self.client.tool_path('pg_restore'), '--file', os.devnull, backup.path]
            try:
                self.client.run(full_read, 'pg_restore --file %s' % os.devnull)
            except CommandError as error:
                raise PostgresError('Backup %s is truncated or corrupt: %s Use another backup.'
                                    % (backup.path, error)) from None

    def inspect_plain(self, backup: Backup) -> None:
        """Check the header version and trailer of a plain dump and collect its owners."""
        header = read_plain_header(backup.path)
        if header.dumped_by is None:
            raise PostgresError('Backup %s has no "-- Dumped by pg_dump version" line near its start, so it is '
                                'not a plain dump written by pg_dump. A compressed dump must be decompressed '
                                'first.' % backup.path)
        version_error = plain_version_error(header.dumped_by, self.client.client_version('psql'), backup.path)
        if version_error:
            raise PostgresError(version_error)
        if not has_plain_trailer(backup.path):
            raise PostgresError('Backup %s is truncated: it does not end with the "-- PostgreSQL database dump '
                                'complete" line that pg_dump writes last. Use a complete backup.' % backup.path)
        summary = scan_plain_dump(backup.path)
        if summary.creates_database:
            raise PostgresError('Backup %s was written by pg_dump --create: it creates and connects to a database '
                                'of its own, which would bypass the shadow database. Dump again without --create.'
                                % backup.path)
        backup.owners = summary.owners

    def resolve_owner(self, live: dict | None, login_role: str) -> str:
        if self.params['owner']:
            return self.params['owner']
        if live is not None:
            return live['owner']
        return login_role

    def check_roles(self, backup: Backup, owner: str) -> None:
        roles = self.client.role_names()
        if owner not in roles:
            raise PostgresError('Role %s, the owner for the restored database, does not exist on the server. '
                                'Create it or set owner to an existing role.' % owner)
        missing = backup.owners - roles
        if missing and not self.params['no_owner']:
            raise PostgresError(missing_roles_error(backup.path, missing, owner))

    def check_login_role(self, login: dict, owner: str, live: dict | None) -> None:
        """Fail unless the login role may create, rename and drop the databases involved."""
        if login['superuser']:
            return
        problems = []
        if not login['createdb']:
            problems.append('it lacks the CREATEDB attribute')
        for role in sorted({owner, live['owner']} if live else {owner}):
            if not self.client.is_member_of(role):
                problems.append('it is not a member of role %s' % role)
        if problems:
            raise PostgresError('Login role %s cannot run this restore: %s. Connect as a superuser or grant the '
                                'missing rights.' % (login['name'], ', and '.join(problems)))

    # --- steps -------------------------------------------------------------

    def execute(self, argv: list[str], description: str) -> None:
        """Record ``argv`` and run it, unless in check mode."""
        self.commands.append(argv)
        if not self.dry_run:
            self.client.run(argv, description)

    def execute_sql(self, statements: list[str], description: str) -> None:
        self.execute(self.client.sql_argv(statements), description)

    def create_database(self, name: str, owner: str, live: dict | None) -> None:
        argv = self.client.createdb_argv(
            name, owner=owner,
            encoding=live['encoding'] if live else None,
            lc_collate=live['lc_collate'] if live else None,
            lc_ctype=live['lc_ctype'] if live else None)
        self.execute(argv, 'createdb %s' % name)

    def restore_into(self, dbname: str, backup: Backup, owner: str, login_role: str) -> None:
        run_as = owner if self.params['no_owner'] and owner != login_role else None
        if backup.format == 'custom':
            extra = ['--dbname', dbname, '--exit-on-error']
            if self.params['jobs'] > 1:
                extra += ['--jobs', str(self.params['jobs'])]
            else:
                extra.append('--single-transaction')
            if self.params['no_owner']:
                extra += ['--no-owner', '--no-privileges']
                if run_as:
                    extra += ['--role', run_as]
            argv = [self.client.tool_path('pg_restore')] + self.client.connection_args() + extra + [backup.path]
            self.execute(argv, 'pg_restore of %s into database %s' % (backup.path, dbname))
            return

        if not self.params['no_owner']:
            self.execute(self.plain_restore_argv(dbname, backup.path),
                         'psql restore of %s into database %s' % (backup.path, dbname))
            return
        if self.dry_run:
            self.execute(self.plain_restore_argv(dbname, FILTERED_COPY_PLACEHOLDER), '')
            return
        descriptor, filtered = tempfile.mkstemp(prefix='pg_restore-', suffix='.sql', dir=self.module.tmpdir)
        os.close(descriptor)
        try:
            write_plain_dump_without_ownership(backup.path, filtered, run_as)
            self.execute(self.plain_restore_argv(dbname, filtered),
                         'psql restore of %s (without ownership statements) into database %s'
                         % (backup.path, dbname))
        finally:
            os.unlink(filtered)

    def plain_restore_argv(self, dbname: str, path: str) -> list[str]:
        return self.client.psql_argv(dbname, ['--quiet', '--output', os.devnull, '-v', 'ON_ERROR_STOP=1',
                                              '--single-transaction', '--file', path])

    def verify_rows(self, dbname: str) -> int:
        """Run verify_query on ``dbname`` and fail unless it returns at least min_rows."""
        query = self.params['verify_query']
        value = self.client.query_scalar(query, dbname)
        try:
            rows = int(value or '')
        except ValueError:
            raise PostgresError('verify_query %r returned %r on database %s, not an integer. Give a query that '
                                'returns one integer, such as a COUNT(*).' % (query, value, dbname)) from None
        if rows < self.params['min_rows']:
            raise PostgresError('verify_query %r returned %d on database %s, fewer than min_rows %d.'
                                % (query, rows, dbname, self.params['min_rows']))
        return rows

    def block_and_terminate(self, dbname: str) -> None:
        """Block new connections to ``dbname`` and end its sessions, which a rename and a drop need."""
        self.execute_sql(['ALTER DATABASE %s WITH ALLOW_CONNECTIONS false' % quote_identifier(dbname)],
                         'Blocking new connections to database %s' % dbname)
        self.commands.append(self.client.sql_argv([self.client.terminate_sessions_sql(dbname)],
                                                  single_transaction=False))
        if not self.dry_run:
            self.client.terminate_sessions(dbname, SESSION_EXIT_TIMEOUT_SECONDS)

    def allow_connections_after_failure(self, dbname: str) -> str:
        """Allow connections to ``dbname`` again and return a sentence for the error message."""
        statement = 'ALTER DATABASE %s WITH ALLOW_CONNECTIONS true' % quote_identifier(dbname)
        try:
            self.execute_sql([statement], 'Allowing connections to database %s' % dbname)
        except PostgresError as error:
            return (' Allowing connections again failed too (%s), so run "%s" by hand.' % (error, statement))
        return ''

    def drop_after_failure(self, dbname: str) -> str:
        """Drop ``dbname`` after a failed restore and return a sentence for the error message."""
        try:
            self.execute(self.client.dropdb_argv(dbname), 'dropdb %s' % dbname)
        except PostgresError as error:
            return ' Dropping database %s failed too (%s), so drop it by hand.' % (dbname, error)
        return ' Database %s was dropped.' % dbname

    def marker_statement(self, backup: Backup) -> str:
        return 'COMMENT ON DATABASE %s IS %s' % (quote_identifier(self.db),
                                                 quote_literal(restore_marker(backup.path, backup.sha256)))

    # --- strategies --------------------------------------------------------

    def staged_rows(self, backup: Backup) -> int | None:
        """Return the verified row count of a shadow database staged from ``backup``, or None."""
        shadow = self.client.database_facts(self.shadow_db)
        restage = self.params['force'] and self.params['stage_only']
        if shadow is None or restage or marker_sha256(shadow['comment']) != backup.sha256:
            return None
        try:
            return self.verify_rows(self.shadow_db)
        except PostgresError:
            return None

    def stage_shadow(self, backup: Backup, live: dict | None, owner: str, login_role: str) -> int | None:
        """Restore ``backup`` into the shadow database, verify it and mark it with the backup's digest."""
        if self.client.database_exists(self.shadow_db):
            self.execute(self.client.dropdb_argv(self.shadow_db), 'Dropping the leftover shadow database')
        try:
            self.create_database(self.shadow_db, owner, live)
            self.restore_into(self.shadow_db, backup, owner, login_role)
            rows = None if self.dry_run else self.verify_rows(self.shadow_db)
            self.execute_sql(['COMMENT ON DATABASE %s IS %s' % (
                quote_identifier(self.shadow_db), quote_literal(restore_marker(backup.path, backup.sha256)))],
                'Marking the shadow database %s as staged' % self.shadow_db)
        except PostgresError as error:
            dropped = self.drop_after_failure(self.shadow_db)
            raise RestoreError('%s%s The live database %s was not changed.' % (error, dropped, self.db)) from None
        return rows

    def restore_swap(self, backup: Backup, live: dict | None, owner: str, login_role: str) -> int | None:
        rows = self.staged_rows(backup)
        self.reused_stage = rows is not None
        if rows is None:
            rows = self.stage_shadow(backup, live, owner, login_role)

        if live is None:
            try:
                self.execute_sql(['ALTER DATABASE %s RENAME TO %s' % (quote_identifier(self.shadow_db),
                                                                      quote_identifier(self.db)),
                                  self.marker_statement(backup)],
                                 'Renaming the shadow database to %s' % self.db)
            except PostgresError as error:
                dropped = self.drop_after_failure(self.shadow_db)
                raise RestoreError('%s%s Database %s still does not exist.' % (error, dropped, self.db)) from None
            return rows

        try:
            self.block_and_terminate(self.db)
            # One transaction: either both renames and the comment happen, or none does.
            self.execute_sql([
                'ALTER DATABASE %s RENAME TO %s' % (quote_identifier(self.db), quote_identifier(self.failed_db)),
                'ALTER DATABASE %s RENAME TO %s' % (quote_identifier(self.shadow_db), quote_identifier(self.db)),
                'ALTER DATABASE %s WITH ALLOW_CONNECTIONS true' % quote_identifier(self.failed_db),
                self.marker_statement(backup),
            ], 'Swapping databases %s and %s' % (self.db, self.shadow_db))
        except PostgresError as error:
            allowed = self.allow_connections_after_failure(self.db)
            dropped = self.drop_after_failure(self.shadow_db)
            raise RestoreError('%s%s%s The live database %s was not renamed.'
                               % (error, allowed, dropped, self.db)) from None
        return rows

    def restore_in_place(self, backup: Backup, live: dict | None, owner: str, login_role: str) -> int | None:
        if live is not None:
            try:
                self.block_and_terminate(self.db)
                self.execute(self.client.dropdb_argv(self.db), 'dropdb %s' % self.db)
            except PostgresError as error:
                allowed = self.allow_connections_after_failure(self.db)
                raise RestoreError('%s%s Database %s was not dropped.' % (error, allowed, self.db)) from None
        try:
            self.create_database(self.db, owner, live)
            self.restore_into(self.db, backup, owner, login_role)
            rows = None if self.dry_run else self.verify_rows(self.db)
            self.execute_sql([self.marker_statement(backup)], 'Marking database %s as restored' % self.db)
        except PostgresError as error:
            raise RestoreError('%s Database %s was dropped before the restore (strategy in_place), so it is now '
                               'missing, empty or partially restored. Restore it again from a verified backup.'
                               % (error, self.db)) from None
        return rows

    # --- entry point -------------------------------------------------------

    def run(self) -> dict:
        started = time.monotonic()
        backup = self.inspect_source()
        swap = self.params['strategy'] == 'swap'
        result = dict(changed=False, strategy=self.params['strategy'], format=backup.format,
                      src_sha256=backup.sha256, shadow_db=self.shadow_db if swap else None,
                      failed_db=None, rows=None, commands=self.commands, already_restored=False, staged=False)

        live = self.client.database_facts(self.db)
        if self.module._diff:
            before = describe_database(self.db, live)
            result['diff'] = dict(before_header=self.db, after_header=self.db, before=before, after=before)
        if live is not None and not self.params['force'] and marker_sha256(live['comment']) == backup.sha256:
            # The query only reads, so it runs in check mode too.
            result['rows'] = self.verify_rows(self.db)
            result['already_restored'] = True
            result['duration_seconds'] = round(time.monotonic() - started, 3)
            return result

        if self.params['stage_only']:
            rows = self.staged_rows(backup)
            if rows is not None:
                result.update(rows=rows, staged=True, duration_seconds=round(time.monotonic() - started, 3))
                return result

        if backup.format == 'custom':
            self.inspect_custom(backup)
        else:
            self.inspect_plain(backup)
        login = self.client.current_role_facts()
        owner = self.resolve_owner(live, login['name'])
        self.check_roles(backup, owner)
        self.check_login_role(login, owner, live)
        if self.params['stage_only']:
            rows = self.stage_shadow(backup, live, owner, login['name'])
            result.update(changed=True, rows=rows, staged=True, duration_seconds=round(time.monotonic() - started, 3))
            return result
        if swap and live is not None:
            if self.client.database_exists(self.failed_db):
                raise PostgresError('Database %s already exists, so the live database cannot be kept under that '
                                    'name. Set failed_db or timestamp to another value.' % self.failed_db)
            result['failed_db'] = self.failed_db

        if swap:
            rows = self.restore_swap(backup, live, owner, login['name'])
            result['staged'] = self.reused_stage
        else:
            rows = self.restore_in_place(backup, live, owner, login['name'])
        result.update(changed=True, rows=rows, duration_seconds=round(time.monotonic() - started, 3))
        if self.module._diff:
            after = describe_database(self.db, dict(owner=owner, comment=restore_marker(backup.path, backup.sha256)))
            if result['failed_db']:
                after += 'replaced database kept as: %s\n' % result['failed_db']
            result['diff']['after'] = after
        return result


def custom_list_error(path: str, error: CommandError, archive_version: tuple | None,
                      client_version: tuple) -> str:
    """Explain why ``pg_restore --list`` could not read a custom archive."""
    if 'unsupported version' in error.stderr:
        return ('pg_restore %s cannot read backup %s: its archive format version %s is newer than this pg_restore '
                'supports, so it was probably written by a newer pg_dump. Restore it with a pg_restore at least as '
                'new as that pg_dump, or take the backup again with pg_dump %s.'
                % (format_version(client_version), path,
                   format_version(archive_version) if archive_version else 'unknown',
                   format_version(client_version[:1])))
    return ('pg_restore --list cannot read backup %s, so it is corrupt, truncated or not a pg_dump archive: %s'
            % (path, as_sentence(error.stderr or error.stdout)))


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    timestamp = module.params['timestamp'] or datetime.datetime.now(datetime.timezone.utc).strftime(TIMESTAMP_FORMAT)
    shadow_db, failed_db = database_names(module.params, timestamp)
    errors = option_errors(module.params, shadow_db, failed_db)
    if errors:
        module.fail_json(msg=' '.join(errors))

    started = time.monotonic()
    restorer = Restorer(module, shadow_db, failed_db)
    try:
        result = restorer.run()
    except CommandError as error:
        module.fail_json(msg='%s Nothing was changed.' % error, commands=restorer.commands, command=error.argv,
                         rc=error.rc, stderr=error.stderr)
    except RestoreError as error:
        module.fail_json(msg=str(error), commands=restorer.commands,
                         duration_seconds=round(time.monotonic() - started, 3))
    except PostgresError as error:
        module.fail_json(msg='%s Nothing was changed.' % error, commands=restorer.commands)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
