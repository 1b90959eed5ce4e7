# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run the pm2 CLI, read its process list and wait for processes to settle.

The functions here do not depend on AnsibleModule. `Pm2Cli` takes a ``run_command``
callable with the signature of ``AnsibleModule.run_command``, so unit tests can pass a
fake one. Facts about pm2 behaviour were checked against pm2 7.0.4.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import typing as t

STATUS_ONLINE = 'online'
STATUS_STOPPED = 'stopped'
STATUS_ERRORED = 'errored'

# Expected state of the processes after an action. pm2 has no status for a deleted
# process, so "absent" is ours.
EXPECT_ONLINE = STATUS_ONLINE
EXPECT_STOPPED = STATUS_STOPPED
EXPECT_ABSENT = 'absent'

ALL_PROCESSES = 'all'

# Set on each app that the pm2 module starts from an ecosystem file, to the
# comma-separated names of the variables that the file set. pm2 keeps no record of
# which variables came from the file, so without this a variable removed from the
# file could not be told from one inherited from the pm2 command's environment.
ENV_KEYS_VARIABLE = 'PROMPTLIB_ROLLBACK_ENV_KEYS'

# Number of characters of unparsable output quoted in error messages.
OUTPUT_QUOTE_CHARS = 200

# Number of lines quoted from a failing process's error log, and the maximum number of
# bytes read from the end of the log to find them.
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 64 * 1024

# Seconds between two reads of the process list while waiting. Each `pm2 jlist` starts a
# Node.js process, which takes about 0.3 s (an estimate from runs with pm2 7.0.4).
POLL_INTERVAL = 0.5

# The loader prints this marker right before its JSON, because the ecosystem file may
# write to stdout itself while it is loaded.
ECOSYSTEM_MARKER = '__PROMPTLIB_ROLLBACK_ECOSYSTEM__'

# Node.js program that loads an ecosystem file and prints its apps as JSON.
# argv[1] is the ecosystem file and argv[2] the marker. It resolves each app as pm2 7
# does in Common.prepareAppConf. The working directory is relative to the folder of the
# file, and the script is relative to the working directory or else a command on PATH.
# The name defaults to the script's base name without its extension, and `port` sets
# PORT. An `instances` value of 0 or "max" means one per CPU, and a negative number
# means that many fewer than the CPUs, with a minimum of one.
ECOSYSTEM_LOADER = r"""
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const file = path.resolve(process.argv[1]);
const marker = process.argv[2];
const folder = path.dirname(file);

function findCommand(command) {
  for (const entry of (process.env.PATH || '').split(path.delimiter)) {
    if (!entry) continue;
    const candidate = path.join(entry, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch (error) {
      // Not in this PATH entry.
    }
  }
  return null;
}

function countInstances(value) {
  const cpus = os.cpus().length || 1;
  if (value === undefined || value === null) return 1;
  let count = value === 'max' ? 0 : parseInt(value, 10);
  if (isNaN(count)) count = 0;
  if (count === 0) count = cpus;
  else if (count < 0) count += cpus;
  return count > 0 ? count : 1;
}

function defaultName(script) {
  const base = path.basename(script);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

const config = require(file);
let apps = config && config.apps !== undefined ? config.apps : config;
if (!Array.isArray(apps)) apps = [apps];

const result = apps.map((app) => {
  if (!app || !app.script) {
    throw new Error('An app in ' + file + ' has no script.');
  }
  const script = String(app.script);
  const cwd = path.resolve(folder, app.cwd ? String(app.cwd) : '.');
  let execPath = path.resolve(cwd, script);
  if (!fs.existsSync(execPath)) {
    execPath = findCommand(script) || execPath;
  }
  const env = Object.assign({}, app.env || {});
  if (app.port && app.env) env.PORT = app.port;
  return {
    name: app.name ? String(app.name) : defaultName(script),
    script: script,
    cwd: cwd,
    exec_path: execPath,
    instances: countInstances(app.instances),
    env: env,
  };
});
process.stdout.write('\n' + marker + JSON.stringify(result) + '\n');
"""


class Pm2Error(Exception):
    """Failure of a pm2 or Node.js command, or of reading their output.

    The message is a full sentence for ``fail_json``. ``details`` carries extra result
    keys such as ``rc``, ``stdout`` and ``stderr``.
    """

    def __init__(self, message: str, **details: t.Any) -> None:
        super().__init__(message)
        self.details = details


@dataclasses.dataclass(frozen=True)
class EcosystemApp:
    """One app of an ecosystem file, resolved the way pm2 resolves it at start."""

    name: str
    script: str
    cwd: str
    exec_path: str
    instances: int
    env: dict


@dataclasses.dataclass(frozen=True)
class Expectation:
    """Expected state after an action of the processes that match ``target``.

    ``target`` is a process name, a numeric pm_id or ``all``. ``count`` is the exact
    number of matching processes expected, or None for "at least one". ``exec_path``,
    when set, is the script every matching process must run. ``count`` and
    ``exec_path`` are ignored when ``state`` is absent.
    """

    target: str
    state: str
    count: int | None = None
    exec_path: str | None = None


@dataclasses.dataclass
class WaitOutcome:
    """Result of `wait_for_expectations`.

    ``processes`` is the last process list read and ``problems`` contains one message
    per problem found in it. ``timed_out`` is False when the wait ended early because
    a process errored.
    """

    ok: bool
    processes: list
    problems: list
    timed_out: bool = False


# ===========================================================================
# Process list parsing
# ===========================================================================

def _is_process_list(value: t.Any) -> bool:
    if not isinstance(value, list):
        return False
    return all(isinstance(item, dict) and 'name' in item for item in value)


def parse_process_list(output: str) -> list[dict]:
    """Parse the output of ``pm2 jlist`` into the list of process dictionaries.

    pm2 can print a banner and daemon start messages before the JSON, so each ``[``
    is tried as the start of the array. An array that reaches the end of the output is
    preferred over one followed by other text. Raises Pm2Error, quoting the start of
    the output, when no candidate is a list of process objects.
    """
    decoder = json.JSONDecoder()
    first_found = None
    position = output.find('[')
    while position != -1:
        try:
            value, end = decoder.raw_decode(output, position)
        except ValueError:
            position = output.find('[', position + 1)
            continue
        if _is_process_list(value):
            if not output[end:].strip():
                return value
            if first_found is None:
                first_found = value
            # The array was parsed whole, so a '[' inside it cannot start another one.
            position = output.find('[', end)
        else:
            position = output.find('[', position + 1)
    if first_found is not None:
        return first_found
    raise Pm2Error(
        'Failed to read the pm2 process list: the output of "pm2 jlist" contains no JSON '
        'array of processes. It starts with: %r. Check that the executable is pm2 and that '
        'PM2_HOME points to a pm2 home that this user can use.' % output[:OUTPUT_QUOTE_CHARS]
    )


def summarize_process(process: dict) -> dict:
    """Return the fields of one pm2 process that the modules report.

    ``pid`` is None when the process is not running (pm2 reports 0), and
    ``memory_bytes`` is the resident memory that pm2 last sampled.
    """
    pm2_env = process.get('pm2_env') or {}
    monit = process.get('monit') or {}
    return {
        'name': process.get('name'),
        'pm_id': process.get('pm_id', pm2_env.get('pm_id')),
        'status': pm2_env.get('status'),
        'pid': process.get('pid') or None,
        'restarts': pm2_env.get('restart_time', 0),
        'exec_path': pm2_env.get('pm_exec_path'),
        'cwd': pm2_env.get('pm_cwd'),
        'memory_bytes': monit.get('memory'),
    }


def process_matches(process: dict, target: str) -> bool:
    """Return whether ``process`` is selected by ``target``: its name, its numeric pm_id
    or ``all``, as the pm2 CLI selects processes."""
    if target == ALL_PROCESSES:
        return True
    if process.get('name') == target:
        return True
    return target.isdigit() and str(process.get('pm_id')) == target


def select_processes(processes: list[dict], target: str) -> list[dict]:
    return [process for process in processes if process_matches(process, target)]


def status_of(process: dict) -> str | None:
    return (process.get('pm2_env') or {}).get('status')


def restarts_of(process: dict) -> int:
    return (process.get('pm2_env') or {}).get('restart_time', 0) or 0


# ===========================================================================
# Environment comparison
# ===========================================================================

def normalize_env_value(value: t.Any) -> str:
    """Convert an environment value from an ecosystem file or from pm2 to the string
    that the process gets in its environment.

    pm2 keeps numbers and booleans as JSON values but turns objects into compact JSON
    strings.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return 'null'
    return json.dumps(value, separators=(',', ':'), sort_keys=False)


def differing_env_keys(process: dict, expected_env: dict) -> list[str]:
    """Return, sorted, the keys of ``expected_env`` whose value in the process differs.

    Only the keys, never the values, leave this function, because values may be secret.
    pm2 stores the environment under ``pm2_env.env`` and also at the top of ``pm2_env``.
    """
    pm2_env = process.get('pm2_env') or {}
    process_env = pm2_env.get('env')
    if not isinstance(process_env, dict):
        process_env = {}
    differing = []
    for key, expected in expected_env.items():
        if key in process_env:
            actual = process_env[key]
        elif key in pm2_env:
            actual = pm2_env[key]
        else:
            differing.append(key)
            continue
        if normalize_env_value(actual) != normalize_env_value(expected):
            differing.append(key)
    return sorted(differing)


def removed_env_keys(process: dict, expected_env: dict) -> list[str]:
    """Return, sorted, the variables that the process got from the ecosystem file but ``expected_env`` lacks.

    Reads the names that ENV_KEYS_VARIABLE recorded when the module started the
    process. A process started otherwise has no such record, so nothing is reported.
    """
    pm2_env = process.get('pm2_env') or {}
    process_env = pm2_env.get('env')
    if not isinstance(process_env, dict):
        process_env = {}
    recorded = process_env.get(ENV_KEYS_VARIABLE, pm2_env.get(ENV_KEYS_VARIABLE))
    if not isinstance(recorded, str) or not recorded:
        return []
    return sorted(set(recorded.split(',')) - set(expected_env))


def process_runs_in(process: dict, folder: str, proc_root: str = '/proc') -> bool | None:
    """Return whether the running process's working directory is ``folder``.

    pm2 starts each process in its working directory, so a process whose directory was
    renamed away (a release swapped out under it) or deleted fails this check, even
    though pm2 still reports the old path. The comparison is by device and inode.
    Returns None when this cannot be known: no pid, no /proc, or no permission.
    """
    pid = process.get('pid')
    if not pid:
        return None
    try:
        actual = os.stat(os.path.join(proc_root, str(pid), 'cwd'))
        expected = os.stat(folder)
    except OSError:
        return None
    return (actual.st_dev, actual.st_ino) == (expected.st_dev, expected.st_ino)


# ===========================================================================
# Ecosystem files
# ===========================================================================

def parse_ecosystem_output(output: str, ecosystem: str) -> list[EcosystemApp]:
    """Parse what `ECOSYSTEM_LOADER` printed into EcosystemApp objects.

    Raises Pm2Error without quoting the output, because it contains the environment
    values of the apps.
    """
    marker_at = output.rfind(ECOSYSTEM_MARKER)
    if marker_at == -1:
        raise Pm2Error(
            'Failed to load the ecosystem file %s: the Node.js loader printed no app list. '
            'Run "node -e \'console.log(require(process.argv[1]))\' %s" to see what the file '
            'exports.' % (ecosystem, ecosystem)
        )
    try:
        raw_apps = json.loads(output[marker_at + len(ECOSYSTEM_MARKER):])
    except ValueError:
        raise Pm2Error(
            'Failed to load the ecosystem file %s: the app list printed by the Node.js '
            'loader is not valid JSON.' % ecosystem
        ) from None
    apps = []
    for raw in raw_apps:
        env = raw.get('env')
        apps.append(EcosystemApp(
            name=raw['name'],
            script=raw['script'],
            cwd=raw['cwd'],
            exec_path=raw['exec_path'],
            instances=int(raw['instances']),
            env=env if isinstance(env, dict) else {},
        ))
    if not apps:
        raise Pm2Error('The ecosystem file %s defines no apps. Add an apps list to it.' % ecosystem)
    names = [app.name for app in apps]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise Pm2Error(
            'The ecosystem file %s defines more than one app named %s. Give each app a '
            'unique name.' % (ecosystem, ', '.join(duplicates))
        )
    return apps


# ===========================================================================
# Running pm2
# ===========================================================================

class Pm2Cli:
    """The pm2 command line for one PM2_HOME.

    ``run_command`` has the signature of ``AnsibleModule.run_command``. Commands whose
    output is parsed run with LANG=C. Commands that start or restart processes keep
    the caller's locale, because pm2 copies its own environment into the processes.
    """

    def __init__(self, run_command: t.Callable, executable: str, pm2_home: str | None = None) -> None:
        self.run_command = run_command
        self.executable = executable
        self.pm2_home = pm2_home

    def _environment(self, extra_env: dict | None, parsed_output: bool) -> dict:
        environment = {}
        if self.pm2_home:
            environment['PM2_HOME'] = self.pm2_home
        if extra_env:
            environment.update(extra_env)
        if parsed_output:
            environment['LANG'] = 'C'
            environment['LC_ALL'] = 'C'
        return environment

    def argv(self, *arguments: str) -> list[str]:
        return [self.executable] + list(arguments)

    def run(self, argv: list[str], extra_env: dict | None = None, cwd: str | None = None,
            parsed_output: bool = False) -> tuple[int, str, str]:
        """Run ``argv`` and return (rc, stdout, stderr) whatever the exit code."""
        return self.run_command(
            argv,
            environ_update=self._environment(extra_env, parsed_output),
            cwd=cwd,
            check_rc=False,
        )

    def list_processes(self) -> list[dict]:
        """Read the process list with ``pm2 jlist``. Raises Pm2Error on failure."""
        argv = self.argv('jlist')
        rc, stdout, stderr = self.run(argv, parsed_output=True)
        if rc != 0:
            raise Pm2Error(
                'Failed to read the pm2 process list: "%s" exited with code %d: %s. Check '
                'that pm2 is installed and that PM2_HOME is correct.'
                % (' '.join(argv), rc, (stderr or stdout).strip()[:OUTPUT_QUOTE_CHARS]),
                rc=rc, stdout=stdout, stderr=stderr,
            )
        return parse_process_list(stdout)

    def load_ecosystem(self, ecosystem: str, node: str, extra_env: dict | None = None) -> list[EcosystemApp]:
        """Load the apps of an ecosystem file with Node.js, fresh on every call.

        The file may compute its environment from a .env file when it is loaded, so it
        runs in its own folder with the same extra environment as the pm2 start command.
        Only stderr is quoted on failure, because stdout carries environment values.
        """
        argv = [node, '-e', ECOSYSTEM_LOADER, ecosystem, ECOSYSTEM_MARKER]
        environment = dict(extra_env or {})
        rc, stdout, stderr = self.run_command(
            argv, environ_update=environment, cwd=os.path.dirname(ecosystem), check_rc=False,
        )
        if rc != 0:
            raise Pm2Error(
                'Failed to load the ecosystem file %s with Node.js (exit code %d): %s. Fix the '
                'file so that "node -e \'require(process.argv[1])\' %s" succeeds.'
                % (ecosystem, rc, stderr.strip()[-2000:], ecosystem),
                rc=rc, stderr=stderr,
            )
        return parse_ecosystem_output(stdout, ecosystem)


# ===========================================================================
# Waiting for processes
# ===========================================================================

def check_expectations(processes: list[dict], expectations: list[Expectation]) -> list[str]:
    """Return one message per way ``processes`` fails ``expectations``, or an empty list."""
    problems = []
    for expectation in expectations:
        matching = select_processes(processes, expectation.target)
        label = _target_label(expectation.target)
        if expectation.state == EXPECT_ABSENT:
            for process in matching:
                problems.append('%s still exists with status %s.' % (_process_label(process), status_of(process)))
            continue
        if expectation.count is None and not matching:
            problems.append('pm2 has no %s.' % label)
        elif expectation.count is not None and len(matching) != expectation.count:
            problems.append('pm2 has %d %s, expected %d.' % (len(matching), label, expectation.count))
        for process in matching:
            if status_of(process) != expectation.state:
                problems.append('%s is %s, expected %s.' % (
                    _process_label(process), status_of(process), expectation.state))
            exec_path = (process.get('pm2_env') or {}).get('pm_exec_path')
            if expectation.exec_path is not None and exec_path != expectation.exec_path:
                problems.append('%s runs %s, expected %s.' % (
                    _process_label(process), exec_path, expectation.exec_path))
    return problems


def _target_label(target: str) -> str:
    if target == ALL_PROCESSES:
        return 'processes'
    return 'process named %s' % target


def _process_label(process: dict) -> str:
    return 'Process %s (pm_id %s)' % (process.get('name'), process.get('pm_id'))


def _online_snapshot(processes: list[dict], expectations: list[Expectation]) -> dict:
    """Map the pm_id of each process expected online to its (restart count, pid)."""
    snapshot = {}
    for expectation in expectations:
        if expectation.state != EXPECT_ONLINE:
            continue
        for process in select_processes(processes, expectation.target):
            snapshot[process.get('pm_id')] = (restarts_of(process), process.get('pid'))
    return snapshot


def _errored_processes(processes: list[dict], expectations: list[Expectation]) -> list[dict]:
    errored = []
    for expectation in expectations:
        if expectation.state != EXPECT_ONLINE:
            continue
        errored.extend(p for p in select_processes(processes, expectation.target) if status_of(p) == STATUS_ERRORED)
    return errored


def _describe_instability(before: dict, processes: list[dict]) -> list[str]:
    """Describe each process of the ``before`` snapshot that restarted since then.

    A pid that dropped to 0 is left out, because the status check reports that process.
    """
    by_id = {process.get('pm_id'): process for process in processes}
    problems = []
    for pm_id, (restarts, pid) in sorted(before.items(), key=lambda item: str(item[0])):
        process = by_id.get(pm_id)
        if process is None:
            continue
        label = _process_label(process)
        if restarts_of(process) != restarts:
            problems.append('%s restarted during the stability window: its restart count went from %d to %d.'
                            % (label, restarts, restarts_of(process)))
        elif process.get('pid') and process.get('pid') != pid:
            problems.append('%s restarted during the stability window: its pid changed from %s to %s.'
                            % (label, pid, process.get('pid')))
    return problems


def wait_for_expectations(read_processes: t.Callable[[], list], expectations: list[Expectation],
                          timeout: float, stable_seconds: float, poll_interval: float = POLL_INTERVAL,
                          clock: t.Callable[[], float] | None = None,
                          sleep: t.Callable[[float], None] | None = None) -> WaitOutcome:
    """Poll the process list until ``expectations`` hold, or until ``timeout`` seconds pass.

    Processes expected online must also keep the same restart count and pid for
    ``stable_seconds``, because a release that crashes at boot first shows as online.
    An errored process ends the wait at once, because pm2 has stopped restarting it.
    ``clock`` and ``sleep`` default to time.monotonic and time.sleep, looked up at call
    time so that tests can replace them.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + timeout
    baseline = None
    stable_since = 0.0
    last_instability = []
    while True:
        processes = read_processes()
        now = clock()
        problems = check_expectations(processes, expectations)
        if baseline is not None:
            last_instability = _describe_instability(baseline, processes) or last_instability
        if problems:
            baseline = None
            if _errored_processes(processes, expectations):
                return WaitOutcome(False, processes, last_instability + problems)
        else:
            snapshot = _online_snapshot(processes, expectations)
            if snapshot != baseline:
                baseline = snapshot
                stable_since = now
            if not snapshot or now - stable_since >= stable_seconds:
                return WaitOutcome(True, processes, [])
        if now >= deadline:
            if not problems and not last_instability:
                problems = ['The processes did not stay online without restarts for %s seconds.' % stable_seconds]
            return WaitOutcome(False, processes, last_instability + problems, timed_out=True)
        sleep(max(0.0, min(poll_interval, deadline - now)))


def find_unstable(read_processes: t.Callable[[], list], targets: list[str], stable_seconds: float,
                  poll_interval: float = POLL_INTERVAL, clock: t.Callable[[], float] | None = None,
                  sleep: t.Callable[[float], None] | None = None) -> tuple[list[str], list[dict]]:
    """Watch the processes of ``targets`` for ``stable_seconds`` without acting on them.

    Returns the sorted targets that had a process leave the online status or change its
    restart count or pid meanwhile, and the last process list read. ``clock`` and
    ``sleep`` default as in `wait_for_expectations`.
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    expectations = [Expectation(target, EXPECT_ONLINE) for target in targets]
    processes = read_processes()
    baseline = _online_snapshot(processes, expectations)
    deadline = clock() + stable_seconds
    unstable = set()
    while True:
        for target in targets:
            for process in select_processes(processes, target):
                old = baseline.get(process.get('pm_id'))
                current = (restarts_of(process), process.get('pid'))
                if status_of(process) != STATUS_ONLINE or old != current:
                    unstable.add(target)
        now = clock()
        if now >= deadline or len(unstable) == len(targets):
            return sorted(unstable), processes
        sleep(max(0.0, min(poll_interval, deadline - now)))
        processes = read_processes()


# ===========================================================================
# Failure reports
# ===========================================================================

def read_log_tail(path: str | None, max_lines: int = LOG_TAIL_LINES, max_bytes: int = LOG_TAIL_BYTES) -> str | None:
    """Return the last ``max_lines`` lines of a log file, or None if it cannot be read."""
    if not path:
        return None
    try:
        with open(path, 'rb') as log:
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - max_bytes))
            data = log.read()
    except OSError:
        return None
    lines = data.decode('utf-8', errors='replace').splitlines()
    if size > max_bytes and lines:
        # The first line is probably cut in the middle.
        lines = lines[1:]
    return '\n'.join(lines[-max_lines:])


def describe_failure(outcome: WaitOutcome, expectations: list[Expectation], timeout: float) -> str:
    """Build the message for a failed wait: the problems, then for each process expected
    online its status, restart count, error log path and the last lines of that log."""
    if outcome.timed_out:
        parts = ['The pm2 processes did not reach the expected state within %s seconds.' % timeout]
    else:
        parts = ['The pm2 processes did not reach the expected state because a process errored, '
                 'which means pm2 stopped restarting it.']
    parts.extend(outcome.problems)
    processes = outcome.processes
    reported = set()
    for expectation in expectations:
        if expectation.state != EXPECT_ONLINE:
            continue
        for process in select_processes(processes, expectation.target):
            pm_id = process.get('pm_id')
            if pm_id in reported:
                continue
            reported.add(pm_id)
            pm2_env = process.get('pm2_env') or {}
            log_path = pm2_env.get('pm_err_log_path')
            parts.append('%s: status %s, %d restarts, error log %s.' % (
                _process_label(process), status_of(process), restarts_of(process), log_path))
            tail = read_log_tail(log_path)
            if tail:
                parts.append('Last lines of %s:\n%s' % (log_path, tail))
    return '\n'.join(parts)
