# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run the pg_dump and pg_restore modules through ansible-playbook against a real PostgreSQL server.

The ``cluster`` fixture starts a private PostgreSQL cluster in a temporary folder. It
listens only on a Unix-domain socket in that folder and requires a password, so the
modules' PGPASSWORD handling is exercised and nothing else on the machine is touched.
As root, the cluster runs as the ``postgres`` user. The tests are skipped when the
PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed.

Each restore test gets its own "live" database in the state of a failed release: a
copy of the ``golden`` database with only 2 of its 200 prompt_templates rows left and
an extra ``failed_release`` table. The backups hold the golden state.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name('ansible-playbook')
GOLDEN_ROWS = 200
FAILED_ROWS = 2
# A port other than 5432. The socket file lives in the cluster's own folder, so the
# number cannot clash with another server.
PORT = 55433
NO_LOG_MASK = '********'


# ===========================================================================
# The private cluster
# ===========================================================================

def find_server_bindir() -> Path | None:
    """Return the folder that contains initdb, pg_ctl and postgres, or None."""
    candidates = []
    initdb = shutil.which('initdb')
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    installed = Path('/usr/lib/postgresql').glob('*/bin')
    candidates += sorted(installed, key=lambda path: int(re.sub(r'\D', '', path.parent.name) or 0), reverse=True)
    for folder in candidates:
        if all((folder / tool).exists() for tool in ('initdb', 'pg_ctl', 'postgres')):
            return folder
    return None


@dataclass
class Cluster:
    """A running private PostgreSQL cluster and helpers to inspect it."""

    root: Path
    bindir: Path
    password: str
    run_as: list

    def connection(self) -> dict:
        return dict(login_host=str(self.root), login_port=PORT, login_user='postgres',
                    login_password=self.password)

    def environment(self) -> dict:
        env = dict(os.environ)
        env.update(PGHOST=str(self.root), PGPORT=str(PORT), PGUSER='postgres', PGPASSWORD=self.password,
                   LANG='C', LC_ALL='C')
        return env

    def psql(self, sql: str, db: str = 'postgres') -> str:
        completed = subprocess.run(
            ['psql', '-X', '--no-align', '--tuples-only', '-v', 'ON_ERROR_STOP=1', '--dbname', db, '-c', sql],
            env=self.environment(), capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise AssertionError('psql failed on %s: %s\n%s' % (db, sql, completed.stderr))
        return completed.stdout.strip()

    def tool(self, argv: list) -> None:
        subprocess.run(argv, env=self.environment(), check=True, capture_output=True)

    def databases(self) -> dict:
        """Map each database name to (allows connections, comment)."""
        output = self.psql("SELECT datname, datallowconn, COALESCE(shobj_description(oid, 'pg_database'), '') "
                           "FROM pg_database ORDER BY datname")
        result = {}
        for line in output.splitlines():
            name, allow, comment = line.split('|', 2)
            result[name] = (allow == 't', comment)
        return result

    def count(self, db: str, table: str = 'prompt_templates') -> int:
        return int(self.psql('SELECT count(*) FROM %s' % table, db))

    def table_owner(self, db: str, table: str = 'prompt_templates') -> str:
        return self.psql("SELECT tableowner FROM pg_tables WHERE tablename = '%s'" % table, db)

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(self.run_as + [str(self.bindir / 'pg_ctl')] + list(args), check=True,
                       capture_output=True)


def run_as_prefix() -> list:
    """Return the argv prefix that runs a server command as the postgres user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam('postgres')
    except KeyError:
        pytest.skip('Running as root, but there is no postgres user to run the PostgreSQL server as.')
    return ['runuser', '-u', 'postgres', '--']


@pytest.fixture(scope='module')
def cluster():
    bindir = find_server_bindir()
    if bindir is None:
        pytest.skip('The PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed. '
                    'Install the postgresql package to run these tests.')
    run_as = run_as_prefix()
    root = Path(tempfile.mkdtemp(prefix='pg-modules-'))
    password = secrets.token_hex(16)
    (root / 'pwfile').write_text(password + '\n')
    if run_as:
        shutil.chown(root, 'postgres')
        shutil.chown(root / 'pwfile', 'postgres')
    subprocess.run(run_as + [str(bindir / 'initdb'), '--pgdata', str(root / 'data'), '--username', 'postgres',
                             '--pwfile', str(root / 'pwfile'), '--auth-local', 'scram-sha-256',
                             '--auth-host', 'reject', '--encoding', 'UTF8', '--locale', 'C'],
                   check=True, capture_output=True)
    server = Cluster(root=root, bindir=bindir, password=password, run_as=run_as)
    options = "-k %s -p %d -c listen_addresses=''" % (root, PORT)
    server.pg_ctl('start', '--pgdata', str(root / 'data'), '--log', str(root / 'server.log'), '--wait',
                  '-o', options)
    try:
        yield server
    finally:
        server.pg_ctl('stop', '--pgdata', str(root / 'data'), '--mode', 'fast', '--wait')
        shutil.rmtree(root, ignore_errors=True)


# ===========================================================================
# Databases and backups
# ===========================================================================

@dataclass
class Backups:
    plain: Path
    custom: Path
    ghost_plain: Path
    ghost_custom: Path


@pytest.fixture(scope='module')
def backups(cluster, tmp_path_factory):
    """Create the golden database and dump it, plus backups owned by a role that no longer exists."""
    folder = tmp_path_factory.mktemp('backups')
    cluster.psql('CREATE ROLE app NOLOGIN')
    cluster.psql('CREATE DATABASE golden OWNER app')
    cluster.psql(
        "SET ROLE app; "
        "CREATE TABLE prompt_templates (id serial PRIMARY KEY, name text NOT NULL, body text); "
        "INSERT INTO prompt_templates (name, body) "
        "SELECT 'template ' || g, repeat('body of template ' || g || ' ', 20) FROM generate_series(1, %d) g; "
        # Table data that looks like an ownership statement must survive the no_owner filter.
        "UPDATE prompt_templates SET name = 'ALTER TABLE x OWNER TO ghost;' WHERE id = 1; "
        "CREATE FUNCTION template_count() RETURNS bigint LANGUAGE plpgsql AS "
        "$body$ BEGIN RETURN (SELECT count(*) FROM prompt_templates); END $body$;" % GOLDEN_ROWS,
        'golden')

    plain = folder / 'backup-pre-deployment.sql'
    custom = folder / 'backup-pre-deployment.dump'
    cluster.tool(['pg_dump', '--format', 'plain', '--file', str(plain), '--dbname', 'golden'])
    cluster.tool(['pg_dump', '--format', 'custom', '--file', str(custom), '--dbname', 'golden'])

    cluster.psql('CREATE ROLE ghost NOLOGIN')
    cluster.psql('CREATE DATABASE ghost_source OWNER app')
    cluster.psql("CREATE TABLE prompt_templates (id int PRIMARY KEY, name text); "
                 "INSERT INTO prompt_templates SELECT g, 'ghost ' || g FROM generate_series(1, 3) g; "
                 "ALTER TABLE prompt_templates OWNER TO ghost", 'ghost_source')
    ghost_plain = folder / 'ghost.sql'
    ghost_custom = folder / 'ghost.dump'
    cluster.tool(['pg_dump', '--format', 'plain', '--file', str(ghost_plain), '--dbname', 'ghost_source'])
    cluster.tool(['pg_dump', '--format', 'custom', '--file', str(ghost_custom), '--dbname', 'ghost_source'])
    cluster.psql('DROP DATABASE ghost_source')
    cluster.psql('DROP ROLE ghost')
    return Backups(plain=plain, custom=custom, ghost_plain=ghost_plain, ghost_custom=ghost_custom)


@pytest.fixture(scope='module')
def database_names():
    return itertools.count(1)


@pytest.fixture
def live(cluster, backups, database_names):
    """Create a live database in the failed-release state and return its name."""
    name = 'live_%d' % next(database_names)
    cluster.psql('CREATE DATABASE %s TEMPLATE golden OWNER app' % name)
    cluster.psql('DELETE FROM prompt_templates WHERE id > %d; CREATE TABLE failed_release (id int)' % FAILED_ROWS,
                 name)
    return name


def write_variant(folder: Path, source: Path, name: str, transform) -> Path:
    path = folder / name
    path.write_bytes(transform(source.read_bytes()))
    return path


# ===========================================================================
# Running the modules
# ===========================================================================

@dataclass
class ModuleRun:
    result: dict
    stdout: str

    @property
    def failed(self) -> bool:
        return bool(self.result.get('failed'))


def run_module(tmp_path: Path, module: str, args: dict, check: bool = False) -> ModuleRun:
    """Run one module task with ansible-playbook on localhost and return its result."""
    play = [{
        'hosts': 'localhost',
        'connection': 'local',
        'gather_facts': False,
        'tasks': [{'name': 'Run %s' % module, 'promptlib.rollback.%s' % module: args}],
    }]
    playbook = tmp_path / ('play-%s.yml' % secrets.token_hex(4))
    playbook.write_text(json.dumps(play))  # JSON is valid YAML.
    argv = [str(ANSIBLE_PLAYBOOK), '-i', 'localhost,', '-e', 'ansible_python_interpreter=%s' % sys.executable,
            str(playbook)]
    if check:
        argv.append('--check')
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_NOCOLOR='1')
    completed = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
                               check=False)
    try:
        output = json.loads(completed.stdout)
    except ValueError:
        raise AssertionError('ansible-playbook printed no JSON (exit status %d):\n%s\n%s'
                             % (completed.returncode, completed.stdout, completed.stderr)) from None
    return ModuleRun(result=output['plays'][0]['tasks'][0]['hosts']['localhost'], stdout=completed.stdout)


def restore(tmp_path, cluster, live, src, check=False, **options) -> ModuleRun:
    args = dict(cluster.connection(), db=live, src=str(src), **options)
    return run_module(tmp_path, 'pg_restore', args, check=check)


def dump(tmp_path, cluster, db, dest, check=False, **options) -> ModuleRun:
    args = dict(cluster.connection(), db=db, dest=str(dest), **options)
    return run_module(tmp_path, 'pg_dump', args, check=check)


def assert_no_password(cluster: Cluster, run: ModuleRun) -> None:
    """Check that the password appears neither in the output nor, masked by no_log, in the commands."""
    assert cluster.password not in run.stdout
    commands = run.result.get('commands') or [run.result.get('command') or []]
    assert NO_LOG_MASK not in json.dumps(commands)


# ===========================================================================
# pg_dump
# ===========================================================================

@pytest.mark.parametrize('dump_format, marker', [
    ('custom', b'PGDMP'),
    ('plain', b'--\n-- PostgreSQL database dump'),
])
def test_pg_dump_lifecycle(tmp_path, cluster, live, dump_format, marker):
    dest = tmp_path / ('failed-state.' + dump_format)

    checked = dump(tmp_path, cluster, live, dest, check=True, format=dump_format)
    assert not checked.failed, checked.result['msg']
    assert checked.result['changed'] is True
    assert checked.result['command'][-1] == live
    assert not dest.exists()
    assert not Path(str(dest) + '.partial').exists()

    applied = dump(tmp_path, cluster, live, dest, format=dump_format)
    assert not applied.failed, applied.result['msg']
    assert applied.result['changed'] is True
    assert applied.result['verified'] is True
    assert applied.result['table_count'] == 2
    assert applied.result['format'] == dump_format
    assert applied.result['size_bytes'] == dest.stat().st_size
    assert applied.result['sha256'] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert dest.read_bytes().startswith(marker)
    assert oct(dest.stat().st_mode & 0o777) == oct(0o600)
    assert not Path(str(dest) + '.partial').exists()
    assert_no_password(cluster, applied)

    again = dump(tmp_path, cluster, live, dest, format=dump_format)
    assert not again.failed, again.result['msg']
    assert again.result['changed'] is False
    assert again.result['sha256'] == applied.result['sha256']
    assert again.result['command'] is None


def test_pg_dump_overwrite(tmp_path, cluster, live):
    dest = tmp_path / 'state.dump'
    first = dump(tmp_path, cluster, live, dest)
    assert not first.failed, first.result['msg']
    cluster.psql("INSERT INTO prompt_templates (name) VALUES ('new')", live)

    second = dump(tmp_path, cluster, live, dest, overwrite=True, mode='0640')
    assert not second.failed, second.result['msg']
    assert second.result['changed'] is True
    assert second.result['sha256'] != first.result['sha256']
    assert oct(dest.stat().st_mode & 0o777) == oct(0o640)


def test_pg_dump_missing_database(tmp_path, cluster):
    dest = tmp_path / 'missing.dump'
    run = dump(tmp_path, cluster, 'no_such_db', dest)
    assert run.failed
    assert 'Database no_such_db not found on the server' in run.result['msg']
    assert not dest.exists()


def test_pg_dump_not_enough_space(tmp_path, cluster, live):
    dest = tmp_path / 'big.dump'
    run = dump(tmp_path, cluster, live, dest, min_free_ratio=1e12)
    assert run.failed
    assert 'Not enough free space in %s' % tmp_path in run.result['msg']
    assert re.search(r'[0-9.]+ MB free, [0-9.]+ MB required', run.result['msg'])
    assert not dest.exists()


def test_pg_dump_check_mode_space(tmp_path, cluster, live):
    run = dump(tmp_path, cluster, live, tmp_path / 'big.dump', check=True, min_free_ratio=1e12)
    assert run.failed
    assert 'Not enough free space' in run.result['msg']


def test_pg_dump_failure_leaves_nothing(tmp_path, cluster, live):
    # A role without SELECT on the table passes the preflight, and then pg_dump itself fails.
    cluster.psql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'limited') THEN "
                 "CREATE ROLE limited LOGIN PASSWORD '%s'; END IF; END $$" % cluster.password)
    dest = tmp_path / 'denied.dump'
    args = dict(cluster.connection(), login_user='limited', db=live, dest=str(dest))
    run = run_module(tmp_path, 'pg_dump', args)
    assert run.failed
    assert 'permission denied' in run.result['msg']
    assert 'No file was written to %s' % dest in run.result['msg']
    assert not dest.exists()
    assert not Path(str(dest) + '.partial').exists()


def test_pg_dump_keeps_invalid_dest(tmp_path, cluster, live):
    dest = tmp_path / 'garbage.dump'
    dest.write_bytes(b'PGDMP garbage')
    run = dump(tmp_path, cluster, live, dest)
    assert run.failed
    assert 'exists but failed verification' in run.result['msg']
    assert dest.read_bytes() == b'PGDMP garbage'


# ===========================================================================
# pg_restore: successful restores
# ===========================================================================

@pytest.mark.parametrize('backup_format', ['plain', 'custom'])
def test_restore_swap_lifecycle(tmp_path, cluster, backups, live, backup_format):
    src = getattr(backups, backup_format)
    before = cluster.databases()

    checked = restore(tmp_path, cluster, live, src, check=True, timestamp='20240101_120000')
    assert not checked.failed, checked.result['msg']
    assert checked.result['changed'] is True
    assert checked.result['format'] == backup_format
    assert checked.result['failed_db'] == '%s_failed_20240101_120000' % live
    assert checked.result['rows'] is None
    assert len(checked.result['commands']) >= 5
    assert cluster.databases() == before
    assert cluster.count(live) == FAILED_ROWS

    applied = restore(tmp_path, cluster, live, src, timestamp='20240101_120000')
    assert not applied.failed, applied.result['msg']
    assert applied.result['changed'] is True
    assert applied.result['rows'] == GOLDEN_ROWS
    assert applied.result['strategy'] == 'swap'
    assert applied.result['shadow_db'] == '%s_rollback_shadow' % live
    assert applied.result['failed_db'] == '%s_failed_20240101_120000' % live
    assert cluster.count(live) == GOLDEN_ROWS
    assert cluster.count(applied.result['failed_db']) == FAILED_ROWS
    assert cluster.table_owner(live) == 'app'
    databases = cluster.databases()
    assert applied.result['shadow_db'] not in databases
    assert databases[applied.result['failed_db']][0] is True
    assert databases[live][0] is True
    assert databases[live][1] == 'promptlib.rollback: restored from %s sha256 %s' % (
        src.name, applied.result['src_sha256'])
    assert_no_password(cluster, applied)

    again = restore(tmp_path, cluster, live, src)
    assert not again.failed, again.result['msg']
    assert again.result['changed'] is False
    assert again.result['rows'] == GOLDEN_ROWS
    assert again.result['commands'] == []
    assert cluster.databases() == databases


def test_restore_force_again(tmp_path, cluster, backups, live):
    first = restore(tmp_path, cluster, live, backups.plain, timestamp='20240101_000001')
    assert not first.failed, first.result['msg']
    forced = restore(tmp_path, cluster, live, backups.plain, timestamp='20240101_000002', force=True)
    assert not forced.failed, forced.result['msg']
    assert forced.result['changed'] is True
    assert cluster.count('%s_failed_20240101_000002' % live) == GOLDEN_ROWS


@pytest.mark.parametrize('backup_format', ['plain', 'custom'])
def test_restore_in_place_lifecycle(tmp_path, cluster, backups, live, backup_format):
    src = getattr(backups, backup_format)
    before = cluster.databases()

    checked = restore(tmp_path, cluster, live, src, check=True, strategy='in_place')
    assert not checked.failed, checked.result['msg']
    assert checked.result['changed'] is True
    assert cluster.databases() == before
    assert cluster.count(live) == FAILED_ROWS

    applied = restore(tmp_path, cluster, live, src, strategy='in_place')
    assert not applied.failed, applied.result['msg']
    assert applied.result['changed'] is True
    assert applied.result['failed_db'] is None
    assert applied.result['shadow_db'] is None
    assert applied.result['rows'] == GOLDEN_ROWS
    assert cluster.count(live) == GOLDEN_ROWS
    assert set(cluster.databases()) == set(before)

    again = restore(tmp_path, cluster, live, src, strategy='in_place')
    assert not again.failed, again.result['msg']
    assert again.result['changed'] is False


def test_restore_custom_parallel_jobs(tmp_path, cluster, backups, live):
    run = restore(tmp_path, cluster, live, backups.custom, jobs=2)
    assert not run.failed, run.result['msg']
    assert cluster.count(live) == GOLDEN_ROWS
    restore_argv = [argv for argv in run.result['commands'] if Path(argv[0]).name == 'pg_restore'][0]
    assert restore_argv[restore_argv.index('--jobs') + 1] == '2'
    assert '--single-transaction' not in restore_argv


def test_restore_creates_missing_live(tmp_path, cluster, backups, database_names):
    name = 'absent_%d' % next(database_names)
    run = restore(tmp_path, cluster, name, backups.plain)
    assert not run.failed, run.result['msg']
    assert run.result['failed_db'] is None
    assert cluster.count(name) == GOLDEN_ROWS


def test_restore_replaces_leftover_shadow(tmp_path, cluster, backups, live):
    shadow = '%s_rollback_shadow' % live
    cluster.psql('CREATE DATABASE %s' % shadow)
    cluster.psql('CREATE TABLE leftover (id int)', shadow)
    run = restore(tmp_path, cluster, live, backups.custom)
    assert not run.failed, run.result['msg']
    assert cluster.count(live) == GOLDEN_ROWS
    assert cluster.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'", live) == '0'


def test_restore_stage_then_swap(tmp_path, cluster, backups, live):
    shadow = '%s_rollback_shadow' % live
    checked = restore(tmp_path, cluster, live, backups.plain, check=True, stage_only=True)
    assert not checked.failed, checked.result['msg']
    assert checked.result['changed'] is True
    assert shadow not in cluster.databases()

    staged = restore(tmp_path, cluster, live, backups.plain, stage_only=True)
    assert not staged.failed, staged.result['msg']
    assert (staged.result['changed'], staged.result['staged'], staged.result['failed_db']) == (True, True, None)
    assert staged.result['rows'] == GOLDEN_ROWS
    assert cluster.count(live) == FAILED_ROWS
    assert cluster.count(shadow) == GOLDEN_ROWS
    assert cluster.databases()[shadow][1] == 'promptlib.rollback: restored from %s sha256 %s' % (
        backups.plain.name, staged.result['src_sha256'])

    again = restore(tmp_path, cluster, live, backups.plain, stage_only=True)
    assert not again.failed, again.result['msg']
    assert (again.result['changed'], again.result['staged'], again.result['commands']) == (False, True, [])

    swapped = restore(tmp_path, cluster, live, backups.plain, timestamp='20240101_120000')
    assert not swapped.failed, swapped.result['msg']
    assert swapped.result['changed'] is True
    assert swapped.result['staged'] is True
    tools = [Path(argv[0]).name for argv in swapped.result['commands']]
    assert 'createdb' not in tools
    assert 'pg_restore' not in tools
    assert cluster.count(live) == GOLDEN_ROWS
    assert cluster.count('%s_failed_20240101_120000' % live) == FAILED_ROWS
    assert shadow not in cluster.databases()


def test_restore_restages_other_backup(tmp_path, cluster, backups, live):
    staged = restore(tmp_path, cluster, live, backups.custom, stage_only=True)
    assert not staged.failed, staged.result['msg']
    swapped = restore(tmp_path, cluster, live, backups.plain)
    assert not swapped.failed, swapped.result['msg']
    assert swapped.result['staged'] is False
    assert 'createdb' in [Path(argv[0]).name for argv in swapped.result['commands']]
    assert cluster.databases()[live][1].endswith(swapped.result['src_sha256'])


def test_restore_stage_needs_swap(tmp_path, cluster, backups, live):
    run = restore(tmp_path, cluster, live, backups.plain, stage_only=True, strategy='in_place')
    assert run.failed
    assert 'stage_only needs strategy swap, got strategy in_place' in run.result['msg']


def test_restore_with_open_sessions(tmp_path, cluster, backups, live):
    session = subprocess.Popen(['psql', '-X', '--dbname', live, '-c', 'SELECT pg_sleep(600)'],
                               env=cluster.environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND query LIKE '%%pg_sleep%%'" % live
        while cluster.psql(sql) != '1':
            assert time.monotonic() < deadline, 'The psql session on %s did not start.' % live
            time.sleep(0.2)

        run = restore(tmp_path, cluster, live, backups.plain)
        assert not run.failed, run.result['msg']
        assert cluster.count(live) == GOLDEN_ROWS
        stderr = session.communicate(timeout=30)[1]
        assert session.returncode != 0
        assert 'terminat' in stderr
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()


# ===========================================================================
# pg_restore: failures that must leave the live database alone
# ===========================================================================

def assert_live_untouched(cluster: Cluster, live: str, before: dict, run: ModuleRun) -> None:
    assert run.failed
    assert cluster.databases() == before
    assert cluster.count(live) == FAILED_ROWS
    assert cluster.count(live, 'failed_release') == 0


def test_restore_truncated_plain(tmp_path, cluster, backups, live):
    content = backups.plain.read_bytes()
    src = write_variant(tmp_path, backups.plain, 'truncated.sql', lambda data: data[:len(content) * 2 // 3])
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, src)
    assert_live_untouched(cluster, live, before, run)
    assert 'Backup %s is truncated' % src in run.result['msg']
    assert run.result['commands'] == []


@pytest.mark.parametrize('strategy', ['swap', 'in_place'])
@pytest.mark.parametrize('name, transform', [
    # The data block is at the end of the archive and compressed, so flipped bytes there fail the zlib
    # check while the table of contents still lists.
    ('flipped-data', lambda data: data[:-200] + bytes(byte ^ 0xFF for byte in data[-200:-190]) + data[-190:]),
    ('truncated-data', lambda data: data[:-50]),
    ('truncated-toc', lambda data: data[:1000]),
])
def test_restore_corrupt_custom(tmp_path, cluster, backups, live, strategy, name, transform):
    src = write_variant(tmp_path, backups.custom, name + '.dump', transform)
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, src, strategy=strategy)
    assert_live_untouched(cluster, live, before, run)


def break_after_copy(data: bytes) -> bytes:
    """Insert a failing statement after the first COPY block of a plain dump."""
    end_of_copy = data.index(b'\n\\.\n') + len(b'\n\\.\n')
    return data[:end_of_copy] + b'\nSELECT 1/0;\n' + data[end_of_copy:]


def test_restore_sql_error_mid_plain(tmp_path, cluster, backups, live):
    src = write_variant(tmp_path, backups.plain, 'broken.sql', break_after_copy)
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, src)
    assert_live_untouched(cluster, live, before, run)
    assert 'division by zero' in run.result['msg']
    assert 'The live database %s was not changed' % live in run.result['msg']
    assert '%s_rollback_shadow was dropped' % live in run.result['msg']


def test_stage_broken_plain_rejected(tmp_path, cluster, backups, live):
    src = write_variant(tmp_path, backups.plain, 'broken-stage.sql', break_after_copy)
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, src, stage_only=True)
    assert_live_untouched(cluster, live, before, run)
    assert 'division by zero' in run.result['msg']


def test_restore_verify_below_min_rows(tmp_path, cluster, backups, live):
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, backups.custom, min_rows=GOLDEN_ROWS + 1)
    assert_live_untouched(cluster, live, before, run)
    assert 'returned %d on database %s_rollback_shadow, fewer than min_rows %d' % (
        GOLDEN_ROWS, live, GOLDEN_ROWS + 1) in run.result['msg']


def test_restore_newer_plain_header(tmp_path, cluster, backups, live):
    # Only one PostgreSQL version is installed, so a header naming pg_dump 99.0 simulates a dump
    # from a newer pg_dump.
    src = write_variant(tmp_path, backups.plain, 'newer.sql', lambda data: re.sub(
        rb'-- Dumped by pg_dump version \S+', b'-- Dumped by pg_dump version 99.0', data))
    client = subprocess.run(['psql', '--version'], capture_output=True, text=True, check=True).stdout
    client_version = re.search(r'(\d+\.\d+)', client).group(1)
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, src)
    assert_live_untouched(cluster, live, before, run)
    assert 'pg_dump 99.0' in run.result['msg']
    assert 'psql %s' % client_version in run.result['msg']


def test_restore_newer_custom_archive(tmp_path, cluster, backups, live):
    # Only one PostgreSQL version is installed, so raising the archive format's minor version byte
    # (right after "PGDMP" and the major byte) simulates an archive from a newer pg_dump.
    src = write_variant(tmp_path, backups.custom, 'newer.dump', lambda data: data[:6] + b'\x63' + data[7:])
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, src)
    assert_live_untouched(cluster, live, before, run)
    assert 'archive format version 1.99.0 is newer than this pg_restore supports' in run.result['msg']


@pytest.mark.parametrize('backup_format', ['plain', 'custom'])
def test_restore_missing_owner_role(tmp_path, cluster, backups, live, backup_format):
    src = getattr(backups, 'ghost_' + backup_format)
    before = cluster.databases()

    rejected = restore(tmp_path, cluster, live, src)
    assert_live_untouched(cluster, live, before, rejected)
    assert 'roles that do not exist on the server: ghost.' in rejected.result['msg']
    assert 'no_owner: true' in rejected.result['msg']

    restored = restore(tmp_path, cluster, live, src, no_owner=True, min_rows=3)
    assert not restored.failed, restored.result['msg']
    assert cluster.count(live) == 3
    assert cluster.table_owner(live) == 'app'


def test_restore_no_owner_keeps_data(tmp_path, cluster, backups, live):
    run = restore(tmp_path, cluster, live, backups.plain, no_owner=True)
    assert not run.failed, run.result['msg']
    assert cluster.psql('SELECT name FROM prompt_templates WHERE id = 1', live) == 'ALTER TABLE x OWNER TO ghost;'
    assert cluster.psql('SELECT template_count()', live) == str(GOLDEN_ROWS)
    assert cluster.table_owner(live) == 'app'


def test_restore_failed_db_exists(tmp_path, cluster, backups, live):
    cluster.psql('CREATE DATABASE %s_kept' % live)
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, backups.plain, failed_db='%s_kept' % live)
    assert_live_untouched(cluster, live, before, run)
    assert 'Database %s_kept already exists' % live in run.result['msg']


def test_restore_plain_with_jobs(tmp_path, cluster, backups, live):
    before = cluster.databases()
    run = restore(tmp_path, cluster, live, backups.plain, jobs=4)
    assert_live_untouched(cluster, live, before, run)
    assert run.result['msg'].startswith('jobs: 4 needs a custom-format archive')


def test_restore_as_non_superuser(tmp_path, cluster, backups, live):
    cluster.psql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deployer') THEN "
                 "CREATE ROLE deployer LOGIN CREATEDB PASSWORD '%s'; END IF; END $$" % cluster.password)
    cluster.psql('REVOKE app FROM deployer')
    before = cluster.databases()
    args = dict(cluster.connection(), login_user='deployer', db=live, src=str(backups.plain))

    rejected = run_module(tmp_path, 'pg_restore', args)
    assert_live_untouched(cluster, live, before, rejected)
    assert 'Login role deployer cannot run this restore: it is not a member of role app.' in rejected.result['msg']

    cluster.psql('GRANT app TO deployer')
    restored = run_module(tmp_path, 'pg_restore', args)
    assert not restored.failed, restored.result['msg']
    assert cluster.count(live) == GOLDEN_ROWS
    assert cluster.table_owner(live) == 'app'
