# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests of the PostgreSQL helpers that need no server."""

from __future__ import annotations

import pytest

from ansible_collections.promptlib.rollback.plugins.module_utils import postgres
from ansible_collections.promptlib.rollback.plugins.module_utils.postgres import (
    LINE_CONTINUATION,
    LINE_COPY_DATA,
    LINE_STATEMENT_START,
    PlainDumpScanner,
    PostgresClient,
)

PLAIN_DUMP = b'''--
-- PostgreSQL database dump
--

\\restrict abc123

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET client_encoding = 'UTF8';
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: f(); Type: FUNCTION; Schema: public; Owner: app
--

CREATE FUNCTION public.f() RETURNS integer
    LANGUAGE plpgsql
    AS $_$
BEGIN
ALTER TABLE x OWNER TO in_function_body;
GRANT SELECT ON x TO in_function_body;
RETURN 1;
END
$_$;


ALTER FUNCTION public.f() OWNER TO app;

CREATE TABLE public.prompt_templates (
    id integer NOT NULL,
    body text
);


ALTER TABLE public.prompt_templates OWNER TO "Weird ""Role""";

COMMENT ON TABLE public.prompt_templates IS 'first line
ALTER TABLE y OWNER TO in_comment;
it''s the last line';

COPY public.prompt_templates (id, body) FROM stdin;
1	ALTER TABLE x OWNER TO in_copy_data;
2	GRANT ALL ON x TO in_copy_data;
\\.


GRANT SELECT ON TABLE public.prompt_templates TO reader;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE app IN SCHEMA public GRANT SELECT ON TABLES TO reader;
SET SESSION AUTHORIZATION 'session_owner';
RESET SESSION AUTHORIZATION;

--
-- PostgreSQL database dump complete
--

\\unrestrict abc123

'''

RESTORE_LIST = ''';
; Archive created at 2024-01-01 12:00:00 UTC
;     dbname: demo
;     Dump Version: 1.14-0
;
;
; Selected TOC Entries:
;
217; 1255 16400 FUNCTION public f() app
215; 1259 16388 TABLE public prompt_templates app
3357; 0 0 ACL public TABLE prompt_templates app
3; 2615 2200 SCHEMA - public pg_database_owner
3349; 0 16388 TABLE DATA public prompt_templates app
3350; 0 16390 TABLE DATA public audit_log auditor
;3351; 0 16391 TABLE DATA public skipped nobody
'''


class FakeModule:
    """The parts of AnsibleModule that PostgresClient uses to build argv lists."""

    def __init__(self, **params):
        self.params = dict(login_host=None, login_port=5432, login_user=None, login_password=None,
                           maintenance_db='postgres')
        self.params.update(params)

    def get_bin_path(self, name, required=False):
        return '/usr/bin/' + name


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


# ===========================================================================
# Quoting and names
# ===========================================================================

@pytest.mark.parametrize('name, expected', [
    ('prompt_templates', '"prompt_templates"'),
    ('Mixed Case', '"Mixed Case"'),
    ('a"b', '"a""b"'),
    ('', '""'),
])
def test_quote_identifier(name, expected):
    assert postgres.quote_identifier(name) == expected


@pytest.mark.parametrize('value, expected', [
    ('plain', "'plain'"),
    ("it's", "'it''s'"),
    ('back\\slash', "E'back\\\\slash'"),
    ("both ' and \\", "E'both '' and \\\\'"),
])
def test_quote_literal(value, expected):
    assert postgres.quote_literal(value) == expected


@pytest.mark.parametrize('function', [postgres.quote_identifier, postgres.quote_literal])
def test_quote_rejects_nul(function):
    with pytest.raises(ValueError):
        function('a\x00b')


@pytest.mark.parametrize('raw, expected', [
    (b'app', 'app'),
    (b'"Weird ""Role"""', 'Weird "Role"'),
    (b'"with space"', 'with space'),
])
def test_unquote_role_name(raw, expected):
    assert postgres.unquote_role_name(raw) == expected


@pytest.mark.parametrize('text, expected', [
    ('public.prompt_templates', ('public', 'prompt_templates')),
    ('public."Mixed Case"', ('public', 'Mixed Case')),
    ('public."Mixed Case" (id, "Full Name") FROM stdin;', ('public', 'Mixed Case')),
    ('audit.events (id, at) FROM stdin;', ('audit', 'events')),
    ('"Audit Log"."a.b ""quoted"""', ('Audit Log', 'a.b "quoted"')),
    ('"public"."events"', ('public', 'events')),
    ('Audit.Events', ('audit', 'events')),
    ('prompt_templates', ('public', 'prompt_templates')),
    ('"Mixed Case" (id)', ('public', 'Mixed Case')),
    ('public."é table"', ('public', 'é table')),
])
def test_split_qualified_name(text, expected):
    assert postgres.split_qualified_name(text) == expected


@pytest.mark.parametrize('text', ['', ' public.t', '"unterminated', 'public.', '(id)'])
def test_split_qualified_name_rejects(text):
    with pytest.raises(ValueError):
        postgres.split_qualified_name(text)


@pytest.mark.parametrize('schema, table, quote_all, expected', [
    ('public', 'Mixed "Case"', True, '"public"."Mixed ""Case"""'),
    ('public', 'events', True, '"public"."events"'),
    ('public', 'events', False, 'public.events'),
    ('public', 'Mixed Case', False, 'public."Mixed Case"'),
    ('Audit', 'a.b', False, '"Audit"."a.b"'),
    ('public', 'cost$', False, 'public.cost$'),
])
def test_format_qualified_name(schema, table, quote_all, expected):
    assert postgres.format_qualified_name(schema, table, quote_all=quote_all) == expected


@pytest.mark.parametrize('name', ['promptlib_production', 'Mixed Case', 'a' * 63, 'é' * 31])
def test_database_name_accepted(name):
    assert postgres.database_name_error(name, 'db') is None


@pytest.mark.parametrize('name, fragment', [
    ('', 'must not be empty'),
    ('a\x00b', 'NUL'),
    ('a' * 64, '64 bytes long'),
    ('é' * 32, '64 bytes long'),
    ('-rf', 'must not start with "-"'),
    ('host=evil dbname=x', 'connection string'),
    ('postgresql://evil/x', 'connection string'),
])
def test_database_name_rejected(name, fragment):
    error = postgres.database_name_error(name, 'shadow_db')
    assert error is not None
    assert fragment in error
    assert error.startswith('shadow_db')


def test_connection_spec_hides_password():
    spec = postgres.connection_argument_spec()
    assert spec['login_password']['no_log'] is True
    assert spec['login_port']['default'] == 5432
    assert spec['maintenance_db']['default'] == 'postgres'


def test_connection_spec_is_fresh_copy():
    first = postgres.connection_argument_spec()
    first['login_port']['default'] = 1
    assert postgres.connection_argument_spec()['login_port']['default'] == 5432


# ===========================================================================
# Versions
# ===========================================================================

@pytest.mark.parametrize('text, expected', [
    ('15.18 (Debian 15.18-0+deb12u1)', (15, 18)),
    ('9.6.24', (9, 6, 24)),
    ('16beta1', (16,)),
    ('17devel', (17,)),
    ('unknown', None),
])
def test_parse_version(text, expected):
    assert postgres.parse_version(text) == expected


@pytest.mark.parametrize('version, expected', [
    ((15, 18), (15,)),
    ((10, 0), (10,)),
    ((9, 6, 24), (9, 6)),
])
def test_major_version(version, expected):
    assert postgres.major_version(version) == expected


@pytest.mark.parametrize('output, expected', [
    ('psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n', (15, 18)),
    ('pg_restore (PostgreSQL) 16.2\n', (16, 2)),
    ('pg_dump (PostgreSQL) 9.6.24\n', (9, 6, 24)),
    ('something else\n', None),
])
def test_parse_client_version(output, expected):
    assert postgres.parse_client_version(output) == expected


@pytest.mark.parametrize('number, expected', [
    (150018, (15, 18)),
    (100000, (10, 0)),
    (90624, (9, 6, 24)),
])
def test_server_version_from_num(number, expected):
    assert postgres.server_version_from_num(number) == expected


@pytest.mark.parametrize('dump_version, client_version', [
    ((15, 18), (15, 2)),
    ((15, 2), (15, 18)),
    ((9, 6, 24), (15, 18)),
    ((14, 1), (15, 18)),
])
def test_plain_version_accepted(dump_version, client_version):
    assert postgres.plain_version_error(dump_version, client_version, '/b.sql') is None


@pytest.mark.parametrize('dump_version, client_version, names', [
    ((99, 0), (15, 18), ('99.0', '15.18')),
    ((16, 1), (15, 18), ('16.1', '15.18')),
    ((10, 1), (9, 6, 24), ('10.1', '9.6.24')),
])
def test_plain_version_rejected(dump_version, client_version, names):
    error = postgres.plain_version_error(dump_version, client_version, '/b.sql')
    assert error is not None
    assert '/b.sql' in error
    for name in names:
        assert name in error


# ===========================================================================
# Backup files
# ===========================================================================

@pytest.mark.parametrize('content, expected', [
    (b'PGDMP\x01\x0e\x00rest', 'custom'),
    (b'--\n-- PostgreSQL database dump\n', 'plain'),
    (b'PGDM', 'plain'),
    (b'\x1f\x8b\x08compressed', 'plain'),
])
def test_detect_format(tmp_path, content, expected):
    assert postgres.detect_format(write(tmp_path, 'backup', content)) == expected


@pytest.mark.parametrize('content, expected', [
    (b'PGDMP\x01\x0e\x00\x04\x08\x01', (1, 14, 0)),
    (b'PGDMP\x01\x63\x00', (1, 99, 0)),
    (b'PGDMP\x01', None),
    (b'-- plain', None),
])
def test_read_archive_version(tmp_path, content, expected):
    assert postgres.read_archive_version(write(tmp_path, 'backup', content)) == expected


def test_read_plain_header(tmp_path):
    header = postgres.read_plain_header(write(tmp_path, 'b.sql', PLAIN_DUMP))
    assert header.dumped_by == (15, 18)
    assert header.dumped_from == (15, 18)


def test_read_plain_header_missing(tmp_path):
    header = postgres.read_plain_header(write(tmp_path, 'b.sql', b'SELECT 1;\n' * 100))
    assert header.dumped_by is None
    assert header.dumped_from is None


def test_read_plain_header_beyond_limit(tmp_path):
    content = b'--\n' * 70 + b'-- Dumped by pg_dump version 15.1\n'
    assert postgres.read_plain_header(write(tmp_path, 'b.sql', content)).dumped_by is None


@pytest.mark.parametrize('content, expected', [
    (PLAIN_DUMP, True),
    (PLAIN_DUMP + b'\n' * 100, True),
    (PLAIN_DUMP[:PLAIN_DUMP.index(b'-- PostgreSQL database dump complete')], False),
    (b'-- PostgreSQL database dump complete, or not\n', False),
    (b'-- PostgreSQL database dump complete\n', True),
])
def test_has_plain_trailer(tmp_path, content, expected):
    assert postgres.has_plain_trailer(write(tmp_path, 'b.sql', content)) is expected


def test_has_plain_trailer_only_at_end(tmp_path):
    content = PLAIN_DUMP + b'INSERT INTO t VALUES (1);\n' * 1000
    assert postgres.has_plain_trailer(write(tmp_path, 'b.sql', content)) is False


def test_sha256_file(tmp_path):
    path = write(tmp_path, 'b.sql', b'abc')
    assert postgres.sha256_file(path) == 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'


# ===========================================================================
# Plain dump scanning
# ===========================================================================

def classify_all(content):
    scanner = PlainDumpScanner()
    return [(line, scanner.classify(line)) for line in content.splitlines(keepends=True)]


def kinds_of(content, prefix):
    return [kind for line, kind in classify_all(content) if line.startswith(prefix)]


@pytest.mark.parametrize('prefix, expected', [
    (b'ALTER FUNCTION public.f() OWNER TO app;', [LINE_STATEMENT_START]),
    (b'ALTER TABLE x OWNER TO in_function_body;', [LINE_CONTINUATION]),
    (b'ALTER TABLE y OWNER TO in_comment;', [LINE_CONTINUATION]),
    (b'1\tALTER TABLE x OWNER TO in_copy_data;', [LINE_COPY_DATA]),
    (b'\\.', [LINE_COPY_DATA]),
    (b'COPY public.prompt_templates', [LINE_STATEMENT_START]),
    (b'GRANT SELECT ON TABLE', [LINE_STATEMENT_START]),
    (b'\\restrict', [LINE_STATEMENT_START]),
    (b'    body text', [LINE_CONTINUATION]),
])
def test_scanner_classifies_line(prefix, expected):
    assert kinds_of(PLAIN_DUMP, prefix) == expected


@pytest.mark.parametrize('content, line_prefix, expected', [
    # A "$" inside an identifier does not open a dollar quote.
    (b'SELECT a$b$ FROM t;\nGRANT x TO y;\n', b'GRANT', LINE_STATEMENT_START),
    # $1 is a parameter, not a dollar quote.
    (b'SELECT $1;\nGRANT x TO y;\n', b'GRANT', LINE_STATEMENT_START),
    # A semicolon inside a quoted identifier does not end the statement.
    (b'CREATE TABLE "a;\nGRANT" (id int);\n', b'GRANT', LINE_CONTINUATION),
    # A trailing comment after the semicolon still ends the statement.
    (b'SELECT 1; -- done\nGRANT x TO y;\n', b'GRANT', LINE_STATEMENT_START),
    # A comment line between statements keeps the statement start.
    (b'SELECT 1;\n-- note\n\nGRANT x TO y;\n', b'GRANT', LINE_STATEMENT_START),
    # An empty string literal opens and closes on the same line.
    (b"SELECT '';\nGRANT x TO y;\n", b'GRANT', LINE_STATEMENT_START),
    # A literal holding one quote ('''') closes correctly.
    (b"SELECT '''';\nGRANT x TO y;\n", b'GRANT', LINE_STATEMENT_START),
    # A nested dollar quote with another tag stays inside the outer one.
    (b'DO $a$ BEGIN PERFORM $b$ x $b$;\nGRANT x TO y;\nEND $a$;\n', b'GRANT', LINE_CONTINUATION),
])
def test_scanner_edge_cases(content, line_prefix, expected):
    assert kinds_of(content, line_prefix) == [expected]


def test_scan_plain_dump_owners(tmp_path):
    summary = postgres.scan_plain_dump(write(tmp_path, 'b.sql', PLAIN_DUMP))
    assert summary.owners == {'app', 'Weird "Role"', 'session_owner'}


def test_scan_plain_dump_counts_copy(tmp_path):
    summary = postgres.scan_plain_dump(write(tmp_path, 'b.sql', PLAIN_DUMP))
    assert summary.copy_count == 1
    assert summary.creates_database is False


@pytest.mark.parametrize('statement', [
    b'CREATE DATABASE demo WITH TEMPLATE = template0;\n',
    b'\\connect demo\n',
])
def test_scan_plain_dump_create(tmp_path, statement):
    content = PLAIN_DUMP.replace(b"SET client_encoding = 'UTF8';\n", statement + b"SET client_encoding = 'UTF8';\n")
    assert postgres.scan_plain_dump(write(tmp_path, 'b.sql', content)).creates_database is True


def test_filtered_copy_drops_ownership(tmp_path):
    src = write(tmp_path, 'b.sql', PLAIN_DUMP)
    dest = str(tmp_path / 'filtered.sql')
    dropped = postgres.write_plain_dump_without_ownership(src, dest)
    filtered = (tmp_path / 'filtered.sql').read_bytes()
    assert dropped == 7
    assert b'ALTER FUNCTION public.f() OWNER TO app;' not in filtered
    assert b'OWNER TO "Weird' not in filtered
    assert b'GRANT SELECT ON TABLE' not in filtered
    assert b'REVOKE ALL' not in filtered
    assert b'ALTER DEFAULT PRIVILEGES' not in filtered
    assert b'SESSION AUTHORIZATION' not in filtered


def test_filtered_copy_keeps_data_and_bodies(tmp_path):
    src = write(tmp_path, 'b.sql', PLAIN_DUMP)
    dest = str(tmp_path / 'filtered.sql')
    postgres.write_plain_dump_without_ownership(src, dest)
    filtered = (tmp_path / 'filtered.sql').read_bytes()
    assert b'1\tALTER TABLE x OWNER TO in_copy_data;\n' in filtered
    assert b'2\tGRANT ALL ON x TO in_copy_data;\n' in filtered
    assert b'ALTER TABLE x OWNER TO in_function_body;\n' in filtered
    assert b'ALTER TABLE y OWNER TO in_comment;\n' in filtered
    assert filtered.startswith(b'--\n-- PostgreSQL database dump\n')


def test_filtered_copy_sets_role(tmp_path):
    src = write(tmp_path, 'b.sql', PLAIN_DUMP)
    dest = str(tmp_path / 'filtered.sql')
    postgres.write_plain_dump_without_ownership(src, dest, run_as_role='app "owner"')
    assert (tmp_path / 'filtered.sql').read_bytes().startswith(b'SET ROLE "app ""owner""";\n--\n')


# ===========================================================================
# Client output parsing
# ===========================================================================

def test_parse_restore_list_owners():
    listing = postgres.parse_restore_list(RESTORE_LIST)
    assert listing.owners == {'app', 'pg_database_owner', 'auditor'}


def test_parse_restore_list_counts():
    listing = postgres.parse_restore_list(RESTORE_LIST)
    assert listing.table_data_count == 2
    assert listing.entry_count == 6


def test_parse_restore_list_empty():
    listing = postgres.parse_restore_list(';\n; Selected TOC Entries:\n;\n')
    assert listing.entry_count == 0
    assert listing.owners == set()


@pytest.mark.parametrize('stdout, expected', [
    ('', []),
    ('\x00', [['']]),
    ('1\x00', [['1']]),
    ('a\x1fb\x00c\x1fd\ne\x00', [['a', 'b'], ['c', 'd\ne']]),
])
def test_parse_query_output(stdout, expected):
    assert postgres.parse_query_output(stdout) == expected


@pytest.mark.parametrize('text, expected', [
    ('pg_restore: error: end of file\n', 'pg_restore: error: end of file.'),
    ('Done.', 'Done.'),
    ('  ', ''),
])
def test_as_sentence(text, expected):
    assert postgres.as_sentence(text) == expected


@pytest.mark.parametrize('size_bytes, expected', [
    (0, '0.0 MB'),
    (1024 * 1024, '1.0 MB'),
    (1536 * 1024, '1.5 MB'),
])
def test_megabytes(size_bytes, expected):
    assert postgres.megabytes(size_bytes) == expected


# ===========================================================================
# argv and environment
# ===========================================================================

def test_connection_args_defaults():
    client = PostgresClient(FakeModule())
    assert client.connection_args() == ['--port', '5432', '--no-password']


def test_connection_args_all():
    client = PostgresClient(FakeModule(login_host='/run/pg', login_port=5433, login_user='rollback'))
    assert client.connection_args() == ['--host', '/run/pg', '--port', '5433', '--username', 'rollback',
                                        '--no-password']


def test_environment_without_password():
    env = PostgresClient(FakeModule()).environment()
    assert 'PGPASSWORD' not in env
    assert env['LANG'] == 'C'
    assert env['PGAPPNAME'] == 'promptlib-rollback'


def test_password_only_in_environment():
    client = PostgresClient(FakeModule(login_password='s3cret', login_user='rollback'))
    assert client.environment()['PGPASSWORD'] == 's3cret'
    argvs = [
        client.psql_argv('db', ['-c', 'SELECT 1']),
        client.sql_argv(['SELECT 1']),
        client.createdb_argv('db', owner='app'),
        client.dropdb_argv('db'),
        client.pg_dump_argv('db', '/tmp/x', 'custom'),
    ]
    for argv in argvs:
        assert not any('s3cret' in part for part in argv)


def test_sql_argv_single_transaction():
    argv = PostgresClient(FakeModule()).sql_argv(['SELECT 1', 'SELECT 2'])
    assert argv[0] == '/usr/bin/psql'
    assert argv[argv.index('--dbname') + 1] == 'postgres'
    assert '--single-transaction' in argv
    assert argv[-4:] == ['-c', 'SELECT 1', '-c', 'SELECT 2']
    assert 'ON_ERROR_STOP=1' in argv


def test_sql_argv_without_transaction():
    argv = PostgresClient(FakeModule()).sql_argv(['SELECT 1'], dbname='other', single_transaction=False)
    assert '--single-transaction' not in argv
    assert argv[argv.index('--dbname') + 1] == 'other'


def test_createdb_argv():
    argv = PostgresClient(FakeModule()).createdb_argv('shadow', owner='app', encoding='UTF8',
                                                      lc_collate='C.UTF-8', lc_ctype='C.UTF-8')
    assert argv == ['/usr/bin/createdb', '--port', '5432', '--no-password', '--maintenance-db', 'postgres',
                    '--template', 'template0', '--owner', 'app', '--encoding', 'UTF8',
                    '--lc-collate', 'C.UTF-8', '--lc-ctype', 'C.UTF-8', 'shadow']


def test_dropdb_argv():
    argv = PostgresClient(FakeModule()).dropdb_argv('shadow')
    assert argv == ['/usr/bin/dropdb', '--port', '5432', '--no-password', '--maintenance-db', 'postgres',
                    '--if-exists', 'shadow']


def test_pg_dump_argv():
    argv = PostgresClient(FakeModule()).pg_dump_argv('demo', '/b/x.partial', 'plain')
    assert argv == ['/usr/bin/pg_dump', '--port', '5432', '--no-password', '--format', 'plain',
                    '--file', '/b/x.partial', '--dbname', 'demo']


def test_terminate_sql_quotes_name():
    sql = PostgresClient(FakeModule()).terminate_sessions_sql("it's")
    assert "datname = 'it''s'" in sql
    assert 'pg_backend_pid()' in sql


class FailingModule(FakeModule):
    """A module whose commands exit with ``stderr``, as the real client tools print it."""

    def __init__(self, stderr, **params):
        super().__init__(**params)
        self.stderr = stderr

    def run_command(self, argv, environ_update=None, expand_user_and_vars=True):
        return 2, '', self.stderr


@pytest.mark.parametrize('stderr', [
    'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or '
    'directory\n\tIs the server running locally and accepting connections on that socket?\n',
    'psql: error: connection to server at "10.0.0.5", port 5433 failed: Connection refused\n',
])
def test_stopped_server_named_with_fix(stderr):
    client = PostgresClient(FailingModule(stderr, login_host='10.0.0.5', login_port=5433))
    with pytest.raises(postgres.CommandError) as raised:
        client.run(['/usr/bin/psql'], 'Query on database postgres')
    assert str(raised.value).startswith('The PostgreSQL server at 10.0.0.5, port 5433 did not accept the connection')
    assert 'systemctl start postgresql' in str(raised.value)
    assert 'Query on database' not in str(raised.value)


def test_sql_error_has_no_server_hint():
    client = PostgresClient(FailingModule('ERROR:  relation "prompt_templates" does not exist\n'))
    with pytest.raises(postgres.CommandError) as raised:
        client.run(['/usr/bin/psql'], 'Query on database postgres')
    assert 'relation "prompt_templates" does not exist' in str(raised.value)
    assert 'did not accept the connection' not in str(raised.value)
