# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""PostgreSQL client tool invocation and backup file inspection.

The modules never talk to the server through a driver. They run psql, pg_dump,
pg_restore, createdb and dropdb with argv lists, pass the password through
PGPASSWORD and read the output under LANG=C. The pure helpers at the top inspect
backup files and need no server, so unit tests can exercise them directly.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field

# ===========================================================================
# Constants
# ===========================================================================

APPLICATION_NAME = 'promptlib-rollback'

# A custom-format archive starts with these bytes, followed by one byte each for
# the major, minor and revision number of the archive format (pg_dump 15 writes
# 1.14.0). pg_restore rejects an archive version newer than it knows.
CUSTOM_MAGIC = b'PGDMP'

PLAIN_TRAILER = b'-- PostgreSQL database dump complete'

# PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
MAX_IDENTIFIER_BYTES = 63

# libpq gives up on an unreachable server after this many seconds instead of
# hanging the task.
CONNECT_TIMEOUT_SECONDS = 10

# pg_dump writes its version lines within the first 20 lines. The header read
# allows for a long comment block in front of them.
HEADER_MAX_LINES = 64

# Recent minor releases (pg_dump 15.18 for one) write a \unrestrict line and blank
# lines after the trailer, so it is not always the last line.
TRAILER_SEARCH_BYTES = 8192

READ_CHUNK_BYTES = 1024 * 1024

# psql field separator for parsed query output: the ASCII unit separator.
FIELD_SEPARATOR = '\x1f'

PLAIN_DUMPED_BY = re.compile(rb'^-- Dumped by pg_dump version (\S+)')
PLAIN_DUMPED_FROM = re.compile(rb'^-- Dumped from database version (\S+)')
CLIENT_VERSION = re.compile(r'\(PostgreSQL\)\s+(\d+(?:\.\d+)*)')
VERSION_NUMBERS = re.compile(r'^(\d+(?:\.\d+)*)')

# One entry of `pg_restore --list`: "<dump id>; <table oid> <oid> <desc> <schema> <name> <owner>".
RESTORE_LIST_ENTRY = re.compile(r'^(\d+); (\d+) (\d+) (.*)$')

# Statement patterns of a plain dump. They are applied only to lines that the
# scanner has classified as the start of a statement, never to COPY data or to
# the inside of a quoted string.
ROLE_NAME = rb'("(?:[^"]|"")+"|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*)'
OWNER_TO_STATEMENT = re.compile(rb'^ALTER\s.*\sOWNER TO ' + ROLE_NAME + rb';\s*$')
SESSION_AUTHORIZATION_STATEMENT = re.compile(rb"^SET SESSION AUTHORIZATION '((?:[^']|'')+)';\s*$")
PRIVILEGE_STATEMENT = re.compile(
    rb'^(?:(?:GRANT|REVOKE|ALTER DEFAULT PRIVILEGES)\s.*;|RESET SESSION AUTHORIZATION;)\s*$')
COPY_FROM_STDIN = re.compile(rb'^COPY\s.*\sFROM stdin;\s*$')
COPY_END = b'\\.'
META_COMMAND_CONNECT = re.compile(rb'^\\(?:connect|c)\s')
CREATE_DATABASE_STATEMENT = re.compile(rb'^CREATE DATABASE\s')

SQL_SPECIAL = re.compile(rb"['\";$]|--")
DOLLAR_QUOTE_TAG = re.compile(rb'\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$')

LINE_COPY_DATA = 'copy_data'
LINE_STATEMENT_START = 'statement_start'
LINE_CONTINUATION = 'continuation'


# ===========================================================================
# Errors
# ===========================================================================

class PostgresError(Exception):
    """Base class of the errors raised by this module."""


# What libpq prints when no server accepts the connection: a stopped server, a wrong host or port.
CONNECTION_FAILED = re.compile(r'could not connect to server|connection to server .* failed|Connection refused|'
                               r'No such file or directory\s+Is the server running')


class CommandError(PostgresError):
    """A PostgreSQL client tool exited with a non-zero status."""

    def __init__(self, message: str, argv: list[str], rc: int, stdout: str, stderr: str) -> None:
        super().__init__(message)
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


# ===========================================================================
# Option specs
# ===========================================================================

def connection_argument_spec() -> dict:
    """Return the argument spec of the connection options (doc fragment ``promptlib.rollback.postgres``)."""
    return dict(
        login_host=dict(type='str'),
        login_port=dict(type='int', default=5432),
        login_user=dict(type='str'),
        login_password=dict(type='str', no_log=True),
        maintenance_db=dict(type='str', default='postgres'),
    )


# ===========================================================================
# Quoting and names
# ===========================================================================

def quote_identifier(name: str) -> str:
    """Quote ``name`` as an SQL identifier, doubling embedded double quotes."""
    if '\x00' in name:
        raise ValueError('An SQL identifier cannot contain a NUL character: %r' % name)
    return '"%s"' % name.replace('"', '""')


def quote_literal(value: str) -> str:
    """Quote ``value`` as an SQL string literal.

    Backslashes are doubled inside an E'' literal so that the result is the same
    whatever standard_conforming_strings is set to.
    """
    if '\x00' in value:
        raise ValueError('An SQL string cannot contain a NUL character: %r' % value)
    quoted = value.replace("'", "''")
    if '\\' in quoted:
        return "E'%s'" % quoted.replace('\\', '\\\\')
    return "'%s'" % quoted


def unquote_role_name(raw: bytes) -> str:
    """Turn a role name as pg_dump prints it (bare or double-quoted) into the role name."""
    text = raw.decode('utf-8', errors='replace')
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return text[1:-1].replace('""', '"')
    return text


# One identifier as pg_dump or quote_ident() writes it: double-quoted with embedded
# quotes doubled, or bare (then PostgreSQL folds it to lower case).
IDENTIFIER = re.compile(r'"((?:[^"]|"")*)"|([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)')


def split_qualified_name(text: str, default_schema: str = 'public') -> tuple[str, str]:
    """Parse the schema-qualified table name at the start of ``text`` into (schema, table).

    ``text`` is a name as pg_dump writes it after COPY or as
    ``quote_ident(schema) || '.' || quote_ident(table)`` returns it, for example
    ``public."Mixed Case"``. Anything after the name, such as a COPY column list,
    is ignored. A name without a schema gets ``default_schema``.
    Raises ValueError when ``text`` does not start with an identifier.
    """
    parts = []
    position = 0
    while True:
        match = IDENTIFIER.match(text, position)
        if not match:
            raise ValueError('Expected an SQL identifier at position %d of %r.' % (position, text))
        if match.group(1) is not None:
            parts.append(match.group(1).replace('""', '"'))
        else:
            parts.append(match.group(2).lower())
        position = match.end()
        if len(parts) == 2 or not text.startswith('.', position):
            break
        position += 1
    if len(parts) == 1:
        return default_schema, parts[0]
    return parts[0], parts[1]


# A name that PostgreSQL reads the same without quotes, unless it is a keyword.
BARE_IDENTIFIER = re.compile(r'[a-z_][a-z0-9_$]*')


def format_qualified_name(schema: str, table: str, quote_all: bool = True) -> str:
    """Join ``schema`` and ``table`` into one name, for example ``"public"."Mixed Case"``.

    With ``quote_all=False``, a part of lower-case letters, digits, ``_`` and ``$``
    stays bare, as pg_dump writes it (``public."Mixed Case"``). That form is
    unambiguous but not always valid SQL, because a keyword such as ``user``
    stays bare too.
    """
    parts = []
    for part in (schema, table):
        parts.append(part if not quote_all and BARE_IDENTIFIER.fullmatch(part) else quote_identifier(part))
    return '.'.join(parts)


def database_name_error(name: str, option: str) -> str | None:
    """Return why ``name`` cannot be used as the database name in ``option``, or None if it can.

    Besides PostgreSQL's own limits, this rejects names that the client tools
    would misread: a leading "-" is taken for an option by createdb and dropdb,
    and a name containing "=" is parsed as a connection string by --dbname.
    """
    if not name:
        return '%s must not be empty.' % option
    if '\x00' in name:
        return '%s must not contain a NUL character.' % option
    if len(name.encode('utf-8')) > MAX_IDENTIFIER_BYTES:
        return ('%s %r is %d bytes long, but PostgreSQL database names are limited to %d bytes. '
                'Choose a shorter name.' % (option, name, len(name.encode('utf-8')), MAX_IDENTIFIER_BYTES))
    if name.startswith('-'):
        return '%s %r must not start with "-", because the client tools would read it as an option.' % (option, name)
    if '=' in name or name.startswith(('postgres://', 'postgresql://')):
        return ('%s %r looks like a connection string to the client tools. '
                'Use a database name without "=".' % (option, name))
    return None


# ===========================================================================
# Versions
# ===========================================================================

def parse_version(text: str) -> tuple[int, ...] | None:
    """Parse the leading numbers of a version string such as ``15.18 (Debian 15.18-0+deb12u1)``."""
    match = VERSION_NUMBERS.match(text.strip())
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split('.'))


def major_version(version: tuple[int, ...]) -> tuple[int, ...]:
    """Return the major version: the first number from 10 on, the first two before (9.6)."""
    if version[0] >= 10:
        return version[:1]
    return version[:2]


def format_version(version: tuple[int, ...]) -> str:
    return '.'.join(str(part) for part in version)


def parse_client_version(output: str) -> tuple[int, ...] | None:
    """Parse the output of ``psql --version`` or ``pg_restore --version``."""
    match = CLIENT_VERSION.search(output)
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split('.'))


def server_version_from_num(version_num: int) -> tuple[int, ...]:
    """Convert ``server_version_num`` (150018, 90624) into a version tuple ((15, 18), (9, 6, 24))."""
    if version_num >= 100000:
        return (version_num // 10000, version_num % 10000)
    return (version_num // 10000, (version_num // 100) % 100, version_num % 100)


def plain_version_error(dump_version: tuple[int, ...], client_version: tuple[int, ...], path: str) -> str | None:
    """Return an error if a plain dump made by ``dump_version`` may use SQL that psql ``client_version`` lacks."""
    if major_version(dump_version) <= major_version(client_version):
        return None
    return ('Backup %s was written by pg_dump %s, which is newer than the local psql %s. '
            'Restore it with psql %s or newer, or take the backup again with pg_dump %s.'
            % (path, format_version(dump_version), format_version(client_version),
               format_version(major_version(dump_version)), format_version(major_version(client_version))))


# ===========================================================================
# Backup files
# ===========================================================================

def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(READ_CHUNK_BYTES), b''):
            digest.update(chunk)
    return digest.hexdigest()


def detect_format(path: str) -> str:
    """Return ``custom`` if the file starts with the custom-archive magic bytes, else ``plain``."""
    with open(path, 'rb') as handle:
        return 'custom' if handle.read(len(CUSTOM_MAGIC)) == CUSTOM_MAGIC else 'plain'


def read_archive_version(path: str) -> tuple[int, int, int] | None:
    """Return the archive format version (major, minor, revision) of a custom archive, or None."""
    with open(path, 'rb') as handle:
        header = handle.read(len(CUSTOM_MAGIC) + 3)
    if len(header) < len(CUSTOM_MAGIC) + 3 or not header.startswith(CUSTOM_MAGIC):
        return None
    offset = len(CUSTOM_MAGIC)
    return (header[offset], header[offset + 1], header[offset + 2])


@dataclass
class PlainHeader:
    """Versions named in the comment header of a plain dump."""

    dumped_by: tuple[int, ...] | None = None
    dumped_from: tuple[int, ...] | None = None


def read_plain_header(path: str, max_lines: int = HEADER_MAX_LINES) -> PlainHeader:
    """Read the pg_dump and server versions from the first ``max_lines`` lines of a plain dump."""
    header = PlainHeader()
    with open(path, 'rb') as handle:
        for _line_number in range(max_lines):
            line = handle.readline()
            if not line:
                break
            by_match = PLAIN_DUMPED_BY.match(line)
            if by_match:
                header.dumped_by = parse_version(by_match.group(1).decode('ascii', errors='replace'))
            from_match = PLAIN_DUMPED_FROM.match(line)
            if from_match:
                header.dumped_from = parse_version(from_match.group(1).decode('ascii', errors='replace'))
            if header.dumped_by is not None and header.dumped_from is not None:
                break
    return header


def has_plain_trailer(path: str, search_bytes: int = TRAILER_SEARCH_BYTES) -> bool:
    """Return whether the last ``search_bytes`` of a plain dump contain the "dump complete" trailer."""
    size = os.path.getsize(path)
    with open(path, 'rb') as handle:
        handle.seek(max(0, size - search_bytes))
        tail = handle.read()
    return any(line.strip() == PLAIN_TRAILER for line in tail.splitlines())


class PlainDumpScanner:
    """Classify the lines of a plain SQL dump as statement starts, continuations or COPY data.

    Feed every line in order to `classify`. The scanner tracks quoted strings,
    quoted identifiers, dollar-quoted bodies and COPY ... FROM stdin blocks, so
    that a line inside a function body or a row of table data is never mistaken
    for a statement. It follows pg_dump's output, which uses
    standard_conforming_strings=on and writes no /* */ comments outside of
    quoted bodies. Other SQL scripts may be classified wrongly.
    """

    def __init__(self) -> None:
        self.in_copy = False
        self.quote: bytes | None = None
        self.at_statement_start = True

    def classify(self, line: bytes) -> str:
        """Return the kind of ``line`` (one of the LINE_* constants) and advance the state."""
        if self.in_copy:
            if line.rstrip(b'\r\n') == COPY_END:
                self.in_copy = False
            return LINE_COPY_DATA

        starts_statement = self.quote is None and self.at_statement_start
        if starts_statement and line.startswith(b'\\'):
            # A psql meta-command such as \restrict ends at the end of its line.
            return LINE_STATEMENT_START
        if starts_statement and COPY_FROM_STDIN.match(line):
            self.in_copy = True
            return LINE_STATEMENT_START

        has_content, ends_with_semicolon = self._scan(line)
        if self.quote is not None:
            self.at_statement_start = False
        elif has_content:
            self.at_statement_start = ends_with_semicolon
        return LINE_STATEMENT_START if starts_statement else LINE_CONTINUATION

    def _scan(self, line: bytes) -> tuple[bool, bool]:
        """Update the quote state over ``line``.

        Returns whether the line has SQL outside comments, and whether the last
        token outside quotes and comments is a semicolon.
        """
        has_content = False
        ends_with_semicolon = False
        position = 0
        while position < len(line):
            if self.quote is not None:
                end = line.find(self.quote, position)
                if end < 0:
                    return has_content, ends_with_semicolon
                after = end + len(self.quote)
                if self.quote in (b"'", b'"') and line[after:after + 1] == self.quote:
                    position = after + 1  # A doubled quote stands for one quote character.
                    continue
                self.quote = None
                position = after
                continue

            match = SQL_SPECIAL.search(line, position)
            plain_text = line[position:match.start() if match else len(line)]
            if plain_text.strip():
                has_content = True
                ends_with_semicolon = False
            if match is None:
                break
            token = match.group()
            if token == b'--':
                break
            has_content = True
            ends_with_semicolon = token == b';'
            position = match.end()
            if token in (b"'", b'"'):
                self.quote = token
            elif token == b'$':
                tag = DOLLAR_QUOTE_TAG.match(line, match.start())
                previous = line[match.start() - 1:match.start()]
                # "$" inside an identifier (a$b$) does not open a dollar quote.
                in_identifier = previous.isalnum() or previous in (b'_', b'$') or previous >= b'\x80'
                if tag and not in_identifier:
                    self.quote = tag.group()
                    position = tag.end()
        return has_content, ends_with_semicolon


@dataclass
class PlainDumpSummary:
    """Roles and COPY blocks found by `scan_plain_dump`."""

    owners: set = field(default_factory=set)
    copy_count: int = 0
    creates_database: bool = False


def scan_plain_dump(path: str) -> PlainDumpSummary:
    """Collect the roles that a plain dump assigns objects to, and count its COPY blocks.

    Owners come from ``ALTER ... OWNER TO role;`` and ``SET SESSION AUTHORIZATION``
    statements. A dump made with ``pg_dump --create`` is flagged because it
    creates and connects to a database of its own.
    """
    summary = PlainDumpSummary()
    scanner = PlainDumpScanner()
    with open(path, 'rb') as handle:
        for line in handle:
            if scanner.classify(line) != LINE_STATEMENT_START:
                continue
            owner = OWNER_TO_STATEMENT.match(line)
            if owner:
                summary.owners.add(unquote_role_name(owner.group(1)))
                continue
            session = SESSION_AUTHORIZATION_STATEMENT.match(line)
            if session:
                summary.owners.add(session.group(1).decode('utf-8', errors='replace').replace("''", "'"))
                continue
            if scanner.in_copy:
                summary.copy_count += 1
            elif META_COMMAND_CONNECT.match(line) or CREATE_DATABASE_STATEMENT.match(line):
                summary.creates_database = True
    return summary


def write_plain_dump_without_ownership(src: str, dest: str, run_as_role: str | None = None) -> int:
    """Copy a plain dump to ``dest`` without its ownership and privilege statements.

    Drops ``ALTER ... OWNER TO``, ``GRANT``, ``REVOKE``, ``ALTER DEFAULT PRIVILEGES``
    and session authorization statements, which is what ``pg_restore --no-owner
    --no-privileges`` skips for a custom archive. With ``run_as_role``, the copy
    starts with ``SET ROLE`` so that the restored objects belong to that role.
    Returns the number of statements dropped. pg_dump writes each of these
    statements on one line; a statement split over several lines is kept.
    """
    dropped = 0
    scanner = PlainDumpScanner()
    with open(src, 'rb') as source, open(dest, 'wb') as target:
        if run_as_role is not None:
            target.write(('SET ROLE %s;\n' % quote_identifier(run_as_role)).encode('utf-8'))
        for line in source:
            kind = scanner.classify(line)
            if kind == LINE_STATEMENT_START and is_ownership_statement(line):
                dropped += 1
                continue
            target.write(line)
    return dropped


def is_ownership_statement(line: bytes) -> bool:
    return bool(OWNER_TO_STATEMENT.match(line) or SESSION_AUTHORIZATION_STATEMENT.match(line)
                or PRIVILEGE_STATEMENT.match(line))


@dataclass
class ArchiveListing:
    """The table of contents of a custom archive as `pg_restore --list` prints it."""

    owners: set = field(default_factory=set)
    table_data_count: int = 0
    entry_count: int = 0


def parse_restore_list(output: str) -> ArchiveListing:
    """Parse `pg_restore --list` output into the owners and the number of TABLE DATA entries.

    The owner is the last space-separated field of an entry, so an owner name
    that contains a space is read wrongly.
    """
    listing = ArchiveListing()
    for line in output.splitlines():
        match = RESTORE_LIST_ENTRY.match(line)
        if not match:
            continue
        listing.entry_count += 1
        rest = match.group(4)
        if rest.startswith('TABLE DATA '):
            listing.table_data_count += 1
        owner = rest.rsplit(' ', 1)[-1] if ' ' in rest else ''
        if owner and owner != '-':
            listing.owners.add(owner)
    return listing


def parse_query_output(stdout: str) -> list[list[str]]:
    """Split psql output written with FIELD_SEPARATOR and --record-separator-zero into rows of fields."""
    if stdout == '':
        return []
    records = stdout.split('\x00')
    if records[-1] == '':
        records.pop()
    return [record.split(FIELD_SEPARATOR) for record in records]


def as_sentence(text: str) -> str:
    """Strip ``text`` and end it with a period, so that a tool's error output can be followed by more sentences."""
    text = text.strip()
    if text and not text.endswith(('.', '!', '?')):
        text += '.'
    return text


def free_bytes(folder: str) -> int:
    """Return the bytes that an unprivileged user can still write in ``folder``'s file system."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def megabytes(size_bytes: float) -> str:
    return '%.1f MB' % (size_bytes / (1024.0 * 1024.0))


# ===========================================================================
# Running the client tools
# ===========================================================================

class PostgresClient:
    """Build argv lists for the PostgreSQL client tools and run them through an AnsibleModule.

    The password goes to the tools through PGPASSWORD and never into argv, so
    every argv that this class builds can be returned to the user.
    """

    def __init__(self, module) -> None:
        self.module = module
        self.params = module.params
        self._tool_paths: dict[str, str] = {}

    # --- argv --------------------------------------------------------------

    def tool_path(self, name: str) -> str:
        if name not in self._tool_paths:
            self._tool_paths[name] = self.module.get_bin_path(name, required=True)
        return self._tool_paths[name]

    def connection_args(self) -> list[str]:
        args = []
        if self.params.get('login_host'):
            args += ['--host', self.params['login_host']]
        if self.params.get('login_port') is not None:
            args += ['--port', str(self.params['login_port'])]
        if self.params.get('login_user'):
            args += ['--username', self.params['login_user']]
        return args + ['--no-password']

    def environment(self) -> dict[str, str]:
        env = {
            'LANG': 'C',
            'LC_ALL': 'C',
            'LC_MESSAGES': 'C',
            'PGAPPNAME': APPLICATION_NAME,
            'PGCONNECT_TIMEOUT': str(CONNECT_TIMEOUT_SECONDS),
        }
        if self.params.get('login_password'):
            env['PGPASSWORD'] = self.params['login_password']
        return env

    def psql_argv(self, dbname: str, extra: list[str]) -> list[str]:
        return [self.tool_path('psql')] + self.connection_args() + ['--dbname', dbname, '-X'] + extra

    def sql_argv(self, statements: list[str], dbname: str | None = None, single_transaction: bool = True) -> list[str]:
        """Build a psql argv that runs ``statements`` in order and stops at the first error."""
        extra = ['--quiet', '-v', 'ON_ERROR_STOP=1']
        if single_transaction:
            extra.append('--single-transaction')
        for statement in statements:
            extra += ['-c', statement]
        return self.psql_argv(dbname or self.params['maintenance_db'], extra)

    def createdb_argv(self, name: str, owner: str | None = None, template: str = 'template0',
                      encoding: str | None = None, lc_collate: str | None = None,
                      lc_ctype: str | None = None) -> list[str]:
        argv = [self.tool_path('createdb')] + self.connection_args()
        argv += ['--maintenance-db', self.params['maintenance_db'], '--template', template]
        if owner:
            argv += ['--owner', owner]
        if encoding:
            argv += ['--encoding', encoding]
        if lc_collate:
            argv += ['--lc-collate', lc_collate]
        if lc_ctype:
            argv += ['--lc-ctype', lc_ctype]
        return argv + [name]

    def dropdb_argv(self, name: str) -> list[str]:
        return ([self.tool_path('dropdb')] + self.connection_args()
                + ['--maintenance-db', self.params['maintenance_db'], '--if-exists', name])

    def pg_dump_argv(self, dbname: str, dest: str, dump_format: str) -> list[str]:
        return ([self.tool_path('pg_dump')] + self.connection_args()
                + ['--format', dump_format, '--file', dest, '--dbname', dbname])

    def pg_restore_list_argv(self, path: str) -> list[str]:
        # Listing reads only the file, so it needs no connection options.
        return [self.tool_path('pg_restore'), '--list', path]

    # --- running -----------------------------------------------------------

    def run(self, argv: list[str], description: str) -> tuple[int, str, str]:
        """Run ``argv`` and raise CommandError naming ``description`` if it fails."""
        # expand_user_and_vars=False keeps "$1" in SQL and "~" in file names as they are.
        rc, stdout, stderr = self.module.run_command(argv, environ_update=self.environment(),
                                                     expand_user_and_vars=False)
        if rc != 0:
            if CONNECTION_FAILED.search(stderr or ''):
                # Leave out the query: the only thing that matters is that the connection failed.
                raise CommandError('The PostgreSQL server at %s did not accept the connection (%s). Start it, '
                                   'for example with systemctl start postgresql, or set login_host and login_port '
                                   'to where it listens.' % (self.describe_server(), stderr.strip().splitlines()[0]),
                                   argv, rc, stdout, stderr)
            detail = as_sentence(stderr or stdout or 'no output')
            raise CommandError('%s failed (exit status %d): %s' % (description, rc, detail),
                               argv, rc, stdout, stderr)
        return rc, stdout, stderr

    def describe_server(self) -> str:
        """Name the server the client tools connect to, as host and port."""
        host = self.params.get('login_host') or 'the local Unix-domain socket'
        return '%s, port %s' % (host, self.params.get('login_port') or 5432)

    def query_rows(self, sql: str, dbname: str | None = None) -> list[list[str]]:
        """Run one read-only query and return its rows as lists of text fields (NULL becomes '')."""
        # Fields are separated by the ASCII unit separator and rows by NUL, so that
        # values containing newlines (database comments) come back intact.
        argv = self.psql_argv(dbname or self.params['maintenance_db'],
                              ['--no-align', '--tuples-only', '--field-separator', FIELD_SEPARATOR,
                               '--record-separator-zero', '-v', 'ON_ERROR_STOP=1', '-c', sql])
        stdout = self.run(argv, 'Query %r on database %s' % (sql, dbname or self.params['maintenance_db']))[1]
        return parse_query_output(stdout)

    def query_scalar(self, sql: str, dbname: str | None = None) -> str | None:
        """Run a query and return the first field of its first row, or None if it returned no row."""
        rows = self.query_rows(sql, dbname)
        return rows[0][0] if rows else None

    # --- facts -------------------------------------------------------------

    def client_version(self, tool: str = 'psql') -> tuple[int, ...]:
        stdout = self.run([self.tool_path(tool), '--version'], '%s --version' % tool)[1]
        version = parse_client_version(stdout)
        if version is None:
            raise PostgresError('Failed to read the version of %s from its output: %r' % (tool, stdout.strip()))
        return version

    def server_version(self) -> tuple[int, ...]:
        value = self.query_scalar('SHOW server_version_num')
        try:
            return server_version_from_num(int(value or ''))
        except ValueError:
            raise PostgresError('Failed to read server_version_num from the server: %r' % value) from None

    def database_exists(self, name: str) -> bool:
        sql = 'SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s' % quote_literal(name)
        return self.query_scalar(sql) == '1'

    def database_facts(self, name: str) -> dict | None:
        """Return owner, encoding, collation, ctype, comment and size of database ``name``, or None."""
        sql = ('SELECT pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_encoding_to_char(d.encoding), '
               'd.datcollate, d.datctype, '
               "COALESCE(pg_catalog.shobj_description(d.oid, 'pg_database'), ''), "
               'pg_catalog.pg_database_size(d.oid) '
               'FROM pg_catalog.pg_database d WHERE d.datname = %s' % quote_literal(name))
        rows = self.query_rows(sql)
        if not rows:
            return None
        owner, encoding, collate, ctype, comment, size = rows[0]
        return dict(owner=owner, encoding=encoding, lc_collate=collate, lc_ctype=ctype,
                    comment=comment, size_bytes=int(size))

    def role_names(self) -> set:
        return {row[0] for row in self.query_rows('SELECT rolname FROM pg_catalog.pg_roles')}

    def current_role_facts(self) -> dict:
        """Return the login role's name and whether it is a superuser or may create databases."""
        rows = self.query_rows('SELECT current_user, rolsuper, rolcreatedb FROM pg_catalog.pg_roles '
                               'WHERE rolname = current_user')
        name, superuser, createdb = rows[0]
        return dict(name=name, superuser=superuser == 't', createdb=createdb == 't')

    def is_member_of(self, role: str) -> bool:
        sql = "SELECT pg_catalog.pg_has_role(current_user, %s, 'MEMBER')" % quote_literal(role)
        return self.query_scalar(sql) == 't'

    # --- sessions ----------------------------------------------------------

    def terminate_sessions_sql(self, dbname: str) -> str:
        return ('SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity '
                'WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid()' % quote_literal(dbname))

    def count_sessions(self, dbname: str) -> int:
        sql = ('SELECT count(*) FROM pg_catalog.pg_stat_activity '
               'WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid()' % quote_literal(dbname))
        return int(self.query_scalar(sql) or '0')

    def terminate_sessions(self, dbname: str, timeout: float, poll_interval: float = 0.2) -> None:
        """Terminate every session on ``dbname`` and wait up to ``timeout`` seconds until all have exited.

        New sessions must already be blocked (ALLOW_CONNECTIONS false), or they
        may keep arriving.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.query_rows(self.terminate_sessions_sql(dbname))
            remaining = self.count_sessions(dbname)
            if remaining == 0:
                return
            if time.monotonic() >= deadline:
                raise PostgresError('%d session(s) on database %s were still open %.0f seconds after '
                                    'pg_terminate_backend. Close them (for example stop the application) '
                                    'and run the task again.' % (remaining, dbname, timeout))
            time.sleep(poll_interval)
