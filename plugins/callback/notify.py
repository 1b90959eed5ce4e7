# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: notify
type: notification
short_description: Send rollback notifications to webhooks and a status page at start, on progress and at the end
version_added: 0.2.0
description:
  - Sends a notification when a rollback playbook starts, every O(interval_minutes) while it runs, and when it
    ends with its outcome (succeeded, failed, refused, no_hosts), to every webhook target of the configuration
    file O(config_file). Targets take a Slack-compatible payload (format V(slack)), a generic JSON payload
    (format V(json)) or a status page update (the C(status_page) entry).
  - Renders the customer notice from a Jinja2 template (C(data/customer-notice.j2) by default) with the impact
    and the ETA, sends it with the JSON and status page payloads and writes it to C(customer-notice.txt) in the
    run's artifacts folder.
  - A notification that cannot be delivered is logged as a warning and in C(notifications.jsonl) in the run's
    artifacts folder, and never fails the rollback. Deliveries run in a background thread, so a slow receiver
    does not slow the rollback; at the end the plugin waits at most twice the delivery timeout per queued delivery.
  - An invalid target (a non-http URL, an unset C(url_env) variable, an unknown format) is skipped with a warning
    that names it, and the valid targets still get their notifications. A configuration file that cannot be read
    turns notifications off with a warning. Both are logged in C(notifications.jsonl) with status C(skipped) when
    a notifying playbook starts, and neither fails the rollback.
  - Only playbooks whose file name matches O(playbooks) notify, so diagnose, validate and drill setup runs stay quiet.
  - The impact and ETA of the customer notice come from the extra variables C(rollback_impact) and
    C(rollback_eta) when set, else from the file; the ETA defaults to the start plus the procedure's high
    estimate in the decision matrix.
  - Target URLs are never logged, because webhook URLs often carry a secret. Give such URLs through
    C(url_env) (the name of an environment variable) rather than C(url).
requirements:
  - Enabled in C(callbacks_enabled) (the collection's C(ansible.cfg) does so).
options:
  config_file:
    description:
      - YAML file with C(targets) (each with C(name), C(format) C(slack) or C(json), C(url) or C(url_env),
        optional C(events), C(headers), C(headers_env)), an optional C(status_page) (C(url) or C(url_env),
        C(component)), C(customer_notice) (C(template), C(impact), C(eta)), C(interval_minutes) and
        C(timeout_seconds).
      - Without it the plugin sends nothing.
    type: path
    env:
      - name: PROMPTLIB_NOTIFY_CONFIG
    ini:
      - section: promptlib_notify
        key: config_file
  interval_minutes:
    description: Minutes between progress notifications; overrides the file. Fractions are allowed.
    type: float
    env:
      - name: PROMPTLIB_NOTIFY_INTERVAL_MINUTES
    ini:
      - section: promptlib_notify
        key: interval_minutes
  run_dir:
    description:
      - The run's artifacts folder, for C(notifications.jsonl) and C(customer-notice.txt). Defaults to
        E(AWX_ISOLATED_DATA_DIR), which ansible-runner sets. Without either, deliveries are only displayed.
    type: path
    env:
      - name: PROMPTLIB_ROLLBACK_RUN_DIR
  playbooks:
    description: Regular expression that the playbook file name must match for notifications to be sent.
    type: str
    default: '^rollback'
    env:
      - name: PROMPTLIB_NOTIFY_PLAYBOOKS
    ini:
      - section: promptlib_notify
        key: playbooks
'''

import datetime
import json
import os
import queue
import re
import secrets
import threading
import urllib.error

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url
from ansible.plugins.callback import CallbackBase

from ansible_collections.promptlib.rollback.plugins.plugin_utils import notifications
from ansible_collections.promptlib.rollback.plugins.plugin_utils.decision import (
    DecisionMatrixError,
    collection_root_of,
    decide,
    decide_procedure,
    default_matrix_path,
    load_matrix,
)

REFUSED_KEY = 'promptlib_rollback_refused'
COMPLETED_KEY = 'promptlib_rollback_completed'
DECISION_KEY = 'promptlib_rollback_decision'
PROCEDURE_FROM_FILE = re.compile(r'^rollback[-_](?P<name>.+?)\.ya?ml$')
RUN_ID_PATTERN = re.compile(r'^\d{8}T\d{6}Z-[0-9a-f]{8}$')
NOTICE_FILE = 'customer-notice.txt'
DELIVERY_LOG = 'notifications.jsonl'
_STOP = object()


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Deliverer:
    """Send payloads from a queue in one background thread and log each attempt.

    ``record`` receives one dict per attempt: time, event, target, format, status
    (delivered or failed), http_status and error. It must not raise.
    """

    def __init__(self, timeout: float, record) -> None:
        self.timeout = timeout
        self.record = record
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._work, name='promptlib-notify', daemon=True)
        self.thread.start()

    def submit(self, target: dict, event: str, payload: dict) -> None:
        self.queue.put((target, event, payload))

    def close(self) -> None:
        """Send what is queued, waiting at most twice the timeout per queued item."""
        pending = self.queue.qsize() + 1
        self.queue.put(_STOP)
        self.thread.join(timeout=2 * self.timeout * pending)

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            target, event, payload = item
            self.record(self._send(target, event, payload))

    def _send(self, target: dict, event: str, payload: dict) -> dict:
        entry = {'time': notifications.format_time(utc_now()), 'event': event, 'target': target['name'],
                 'format': target['format'], 'status': 'failed', 'http_status': None, 'error': None}
        body = json.dumps(payload).encode('utf-8')
        headers = {'Content-Type': 'application/json', 'User-Agent': 'promptlib.rollback-notify'}
        headers.update(target.get('headers') or {})
        try:
            response = open_url(target['url'], data=body, headers=headers, method='POST', timeout=self.timeout)
            with response:
                entry['http_status'] = response.status
                entry['status'] = 'delivered'
        except urllib.error.HTTPError as error:
            entry['http_status'] = error.code
            entry['error'] = 'HTTP %d %s' % (error.code, error.reason)
        except (urllib.error.URLError, UrlConnectionError, SSLValidationError, OSError, ValueError) as error:
            reason = getattr(error, 'reason', None) or error
            entry['error'] = str(reason)
        return entry


class CallbackModule(CallbackBase):
    """Rollback notifications to webhooks and a status page."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'promptlib.rollback.notify'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self.config = None
        self.active = False
        self.deliverer = None
        self.timer_stop = threading.Event()
        self.timer = None
        self.lock = threading.Lock()
        self.context = {}
        self.run_dir = None
        self.notice_template = None
        self.playbook_name = None
        self.matrix = None
        self.failures = {}
        # Dicts with target (a name, or None) and message, from set_options.
        self.config_warnings = []

    # ----- setup -----

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self.run_dir = self.get_option('run_dir') or os.environ.get('AWX_ISOLATED_DATA_DIR')
        config_file = self.get_option('config_file')
        if not config_file:
            return
        # The configuration problems are displayed and logged at the start of a
        # notifying playbook, where ansible-runner turns them into warning events.
        try:
            self.config = notifications.load_config(config_file)
        except notifications.NotifyConfigError as error:
            self.config_warnings = [{'target': None, 'message': str(error)}]
            return
        self.config_warnings = list(self.config['warnings'])
        interval = self.get_option('interval_minutes')
        if interval is not None:
            if interval > 0:
                self.config['interval_minutes'] = float(interval)
            else:
                self.config_warnings.append({
                    'target': None,
                    'message': 'PROMPTLIB_NOTIFY_INTERVAL_MINUTES must be above 0, got %s. Using %s minutes from '
                               'the configuration.' % (interval, self.config['interval_minutes'])})

    def _warn(self, message: str) -> None:
        """Display a warning unwrapped, so ansible-runner's warning event carries the message exactly.

        ansible-core 2.17 (Display.warning) wraps unformatted warnings at the terminal width, and that
        cannot be undone where a path or word was broken.
        """
        self._display.warning(message, formatted=True)

    def _report_config_warnings(self) -> None:
        """Display each configuration problem and log it as a ``skipped`` entry of the delivery log."""
        for warning in self.config_warnings:
            self._warn(warning['message'])
            self._log({'time': notifications.format_time(utc_now()), 'event': 'config', 'target': warning['target'],
                       'format': None, 'status': 'skipped', 'http_status': None, 'error': warning['message']})

    def _record(self, entry: dict) -> None:
        """Log one delivery attempt; a failure to log is displayed, never raised.

        Only the first failure per target is displayed; the rest are counted and
        summed up at the end, so a dead receiver does not flood the output.
        """
        if entry['status'] != 'delivered':
            count = self.failures.get(entry['target'], 0) + 1
            self.failures[entry['target']] = count
            if count == 1:
                self._warn('The %s notification to %s could not be delivered (%s); the rollback goes on. '
                           'Later failures to this target are counted.'
                           % (entry['event'], entry['target'], entry['error']))
        self._log(entry)

    def _log(self, entry: dict) -> None:
        if not self.run_dir:
            return
        try:
            with open(os.path.join(self.run_dir, DELIVERY_LOG), 'a', encoding='utf-8') as handle:
                handle.write(json.dumps(entry) + '\n')
        except OSError as error:
            self._warn('Could not write the notification log in %s: %s.' % (self.run_dir, error))

    def _load_notice_template(self) -> str | None:
        path = self.config.get('notice_template') or os.path.join(
            collection_root_of(default_matrix_path()), notifications.NOTICE_RELATIVE_PATH)
        try:
            with open(path, encoding='utf-8') as handle:
                return handle.read()
        except OSError as error:
            self._warn('The customer notice template %s cannot be read (%s); notifications go out without '
                       'a customer notice.' % (path, error.strerror))
            return None

    # ----- context -----

    def _decision(self, extra_vars: dict):
        try:
            self.matrix = load_matrix()
            issue = extra_vars.get('rollback_issue')
            if issue:
                return decide(self.matrix, str(issue))
            match = PROCEDURE_FROM_FILE.match(self.playbook_name or '')
            if match:
                return decide_procedure(self.matrix, match.group('name'))
        except DecisionMatrixError:
            # An unknown issue type is rejected by the decision play; the
            # notification names the playbook instead.
            return None
        return None

    def _run_id(self) -> str:
        name = os.path.basename(os.path.normpath(self.run_dir)) if self.run_dir else ''
        if RUN_ID_PATTERN.match(name):
            return name
        return '%s-%s' % (utc_now().strftime('%Y%m%dT%H%M%SZ'), secrets.token_hex(4))

    def _start_context(self, play) -> None:
        extra_vars = dict(play.get_variable_manager().extra_vars or {})
        decision = self._decision(extra_vars)
        started_at = utc_now()
        try:
            hosts = [host.name for host in play.get_variable_manager()._inventory.get_hosts(play.hosts)]
        except Exception:  # the host list only decorates the message
            hosts = [str(play.hosts)]
        approval = None
        if extra_vars.get('rollback_approved_by'):
            approval = {'by': str(extra_vars['rollback_approved_by']),
                        'role': str(extra_vars.get('rollback_approver_role') or '')}
        self.context = {
            'run_id': self._run_id(),
            'playbook': self.playbook_name,
            'procedure': decision['procedure'] if decision else None,
            'decision': decision,
            'hosts': hosts,
            'started_at': started_at,
            'eta': notifications.estimate_eta(decision, started_at, extra_vars.get('rollback_eta')
                                              or self.config.get('eta')),
            'impact': extra_vars.get('rollback_impact') or self.config.get('impact'),
            'approval': approval,
            'progress': {'current_task': None, 'tasks_done': 0, 'changed': 0, 'failed_hosts': []},
        }

    def _snapshot(self, event: str, **extra) -> dict:
        with self.lock:
            context = dict(self.context)
            progress = self.context['progress']
            context['progress'] = dict(progress, failed_hosts=list(progress['failed_hosts']))
        now = utc_now()
        context.update(event=event, sent_at=now, elapsed_seconds=(now - context['started_at']).total_seconds(), **extra)
        context['customer_notice'] = self._notice(context)
        return context

    def _notice(self, context: dict):
        if self.notice_template is None:
            return None
        try:
            return notifications.render_notice(self.notice_template, context, context.get('impact'),
                                               self.config['component'])
        except Exception as error:  # a broken template must not stop notifications
            self._warn('The customer notice template failed to render: %s.' % error)
            return None

    # ----- sending -----

    def _notify(self, event: str, **extra) -> None:
        context = self._snapshot(event, **extra)
        if event == 'start' and context.get('customer_notice') and self.run_dir:
            self._write_notice(context['customer_notice'])
        for target in self.config['targets']:
            if event in target['events']:
                payload = notifications.build_payload(target['format'], context, self.config['component'])
                self.deliverer.submit(target, event, payload)

    def _write_notice(self, notice: dict) -> None:
        try:
            with open(os.path.join(self.run_dir, NOTICE_FILE), 'w', encoding='utf-8') as handle:
                handle.write('Subject: %s\n\n%s\n' % (notice.get('subject') or '', notice['body']))
        except OSError as error:
            self._warn('Could not write the customer notice in %s: %s.' % (self.run_dir, error))

    def _progress_loop(self) -> None:
        interval = self.config['interval_minutes'] * 60.0
        while not self.timer_stop.wait(interval):
            try:
                self._notify('progress')
            except Exception as error:  # keep the timer alive; the rollback must go on
                self._warn('A progress notification failed: %s.' % error)

    # ----- Ansible events -----

    def v2_playbook_on_start(self, playbook):
        self.playbook_name = os.path.basename(getattr(playbook, '_file_name', '') or '')
        pattern = self.get_option('playbooks') or '^rollback'
        if not re.search(pattern, self.playbook_name):
            return
        self._report_config_warnings()
        self.active = bool(self.config and self.config['targets'])

    def v2_playbook_on_play_start(self, play):
        if not self.active or self.deliverer is not None:
            return
        try:
            self.notice_template = self._load_notice_template()
            self._start_context(play)
            self.deliverer = Deliverer(self.config['timeout_seconds'], self._record)
            self._notify('start')
            self.timer = threading.Thread(target=self._progress_loop, name='promptlib-notify-progress', daemon=True)
            self.timer.start()
        except Exception as error:  # notifications must never fail the rollback
            self._warn('Rollback notifications are off for this run: %s.' % error)
            self.active = False

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self.deliverer is None:
            return
        role = task._role.get_name() if getattr(task, '_role', None) else None
        with self.lock:
            self.context['progress']['current_task'] = '%s : %s' % (role, task.get_name()) if role else task.get_name()

    def _count(self, result, failed: bool = False) -> None:
        if self.deliverer is None:
            return
        with self.lock:
            progress = self.context['progress']
            progress['tasks_done'] += 1
            if result._result.get('changed'):
                progress['changed'] += 1
            host = result._host.get_name()
            if failed and host not in progress['failed_hosts']:
                progress['failed_hosts'].append(host)

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_skipped(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result, failed=not ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._count(result, failed=True)

    def v2_playbook_on_stats(self, stats):
        if self.deliverer is None:
            return
        self.timer_stop.set()
        try:
            outcome, detail = self._outcome(stats)
            self._approval_from_stats(stats)
            self._notify('end', outcome=outcome, outcome_detail=detail)
        except Exception as error:  # notifications must never fail the rollback
            self._warn('The end notification failed: %s.' % error)
        finally:
            self.deliverer.close()
            self.deliverer = None
        for target, count in sorted(self.failures.items()):
            self._warn('%d notifications to %s could not be delivered.' % (count, target))

    def _approval_from_stats(self, stats) -> None:
        decisions = (getattr(stats, 'custom', {}).get('_run') or {}).get(DECISION_KEY) or {}
        for decision in decisions.values():
            if isinstance(decision, dict) and decision.get('approval'):
                with self.lock:
                    self.context['approval'] = decision['approval']
                return

    def _outcome(self, stats) -> tuple[str, str | None]:
        """Decide the outcome from the recap and the set_stats data, by the rules of the Python wrapper."""
        data = getattr(stats, 'custom', {}).get('_run') or {}
        processed = list(stats.processed.keys())
        if not processed:
            return 'no_hosts', None
        refused = data.get(REFUSED_KEY)
        if refused:
            reasons = refused.values() if isinstance(refused, dict) else [refused]
            return 'refused', '; '.join(str(reason) for reason in reasons)
        failed = sorted(host for host, count in stats.failures.items() if count)
        unreachable = sorted(host for host, count in stats.dark.items() if count)
        if failed or unreachable:
            parts = (['failed on ' + ', '.join(failed)] if failed else []) + (
                ['unreachable: ' + ', '.join(unreachable)] if unreachable else [])
            return 'failed', '; '.join(parts)
        completed = data.get(COMPLETED_KEY) or {}
        missing = [host for host in processed if host not in completed]
        if missing:
            return 'failed', '%s did not report completion' % ', '.join(missing)
        return 'succeeded', None
