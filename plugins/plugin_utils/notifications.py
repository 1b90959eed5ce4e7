# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Configuration, payloads and the customer notice of the rollback notifications.

Pure functions without Ansible imports, so the callback plugin
promptlib.rollback.notify stays small and these can be unit tested alone.

A notification context is a dict. Its keys are ``event`` (start, progress or end),
``run_id``, ``playbook``, ``procedure``, ``decision`` (a decision matrix row or None),
``hosts``, ``started_at`` and ``sent_at`` (datetimes in UTC), ``eta`` (text) and
``progress`` (current_task, tasks_done, changed, failed_hosts). It also has ``outcome``
and ``outcome_detail`` (end only), ``approval`` (or None) and ``customer_notice``
(subject and body, or None).
"""

from __future__ import annotations

import datetime
import os
import typing as t
import urllib.parse

import yaml

EVENTS = ('start', 'progress', 'end')
FORMATS = ('slack', 'json', 'statuspage')
DEFAULT_INTERVAL_MINUTES = 15.0
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_COMPONENT = 'Template system'
DEFAULT_IMPACT = 'Some template features may be unavailable or slow until the maintenance ends.'
NOTICE_RELATIVE_PATH = os.path.join('data', 'customer-notice.j2')

# Status page component status by the decision's severity while the rollback runs.
COMPONENT_STATUS_BY_SEVERITY = {
    'critical': 'major_outage',
    'high': 'partial_outage',
    'medium': 'degraded_performance',
    'low': 'degraded_performance',
}

SLACK_EMOJI = {'start': ':rotating_light:', 'progress': ':hourglass_flowing_sand:',
               'succeeded': ':white_check_mark:', 'end': ':x:'}


class NotifyConfigError(ValueError):
    """The notification configuration file cannot be read or is not a YAML mapping."""


def _url_problems(spec: dict, environ: t.Mapping[str, str]) -> tuple[str | None, list[str]]:
    """Return the URL of a target (from ``url`` or the variable named by ``url_env``) and its problems."""
    if spec.get('url') and spec.get('url_env'):
        return None, ['it sets both url and url_env. Keep one of them']
    url = spec.get('url')
    if spec.get('url_env'):
        url = environ.get(str(spec['url_env']))
        if not url:
            return None, ['it reads its URL from the environment variable %s, which is not set. Set %s where '
                          'promptlib-rollback runs, or give the URL in url' % (spec['url_env'], spec['url_env'])]
    if not url:
        return None, ['it has no url or url_env. Add one of them']
    if not str(url).startswith(('http://', 'https://')):
        # The URL may carry a secret, so the message names only its scheme.
        scheme = urllib.parse.urlsplit(str(url)).scheme
        scheme_text = "scheme '%s'" % scheme if scheme else 'no scheme'
        return None, ['its URL has %s. Use an http:// or https:// URL' % scheme_text]
    return str(url), []


def _headers(spec: dict, environ: t.Mapping[str, str]) -> tuple[dict, list[str]]:
    headers, problems = {}, []
    for name, value in (spec.get('headers') or {}).items():
        headers[str(name)] = str(value)
    for name, variable in (spec.get('headers_env') or {}).items():
        value = environ.get(str(variable))
        if value is None:
            problems.append('it reads header %s from the environment variable %s, which is not set. Set %s '
                            'where promptlib-rollback runs' % (name, variable, variable))
        else:
            headers[str(name)] = value
    return headers, problems


def _target(name: str, spec: t.Any, default_format: str, environ: t.Mapping[str, str]) -> tuple[dict, list[str]]:
    """Return a normalized target and its problems. A target with problems must not be used."""
    if not isinstance(spec, dict):
        return {'name': name}, ['it is a %s. Write it as a mapping with name, format and url or url_env'
                                % type(spec).__name__]
    problems = []
    target_format = spec.get('format', default_format)
    if target_format not in FORMATS:
        problems.append("its format '%s' is invalid. Use one of %s" % (target_format, ', '.join(FORMATS)))
    events = spec.get('events', list(EVENTS))
    if not isinstance(events, list) or not events or any(event not in EVENTS for event in events):
        problems.append('its events %r are invalid. Use a list of %s' % (events, ', '.join(EVENTS)))
    url, url_problems = _url_problems(spec, environ)
    headers, header_problems = _headers(spec, environ)
    target = {'name': name, 'format': target_format, 'url': url, 'events': events, 'headers': headers}
    return target, problems + url_problems + header_problems


def _positive_number(data: dict, key: str, default: float, warnings: list[dict]) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        warnings.append({'target': None, 'message': '%s must be a number above 0, got %r. Using %s.'
                         % (key, value, default)})
        return default
    return float(value)


def _skip(name: str, source: str, problems: list[str]) -> dict:
    return {'target': name, 'message': 'The notification target %s in %s is skipped because %s.'
                                       % (name, source, '. Also, '.join(problems))}


def parse_config(data: t.Any, source: str, environ: t.Mapping[str, str] | None = None) -> dict:
    """Check a loaded configuration and return it normalized.

    An invalid target is left out of ``targets`` and described in ``warnings``, a
    list of dicts with ``target`` (its name, or None for a problem outside the
    targets) and ``message``. An invalid number falls back to its default with a
    warning. Raises NotifyConfigError only when ``data`` is not a mapping.
    Target URLs are never quoted in messages, because webhook URLs often carry a secret.
    """
    environ = os.environ if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise NotifyConfigError('The notification configuration %s is not a YAML mapping. Fix the file; the rollback '
                                'runs without notifications until then.' % source)
    warnings: list[dict] = []
    targets = []
    raw_targets = data.get('targets') or []
    if not isinstance(raw_targets, list):
        warnings.append({'target': None, 'message': 'targets in %s must be a list of mappings, got a %s, so no '
                         'webhook target gets notifications.' % (source, type(raw_targets).__name__)})
        raw_targets = []
    for index, spec in enumerate(raw_targets):
        name = str(spec['name']) if isinstance(spec, dict) and spec.get('name') else 'targets[%d]' % index
        target, problems = _target(name, spec, 'json', environ)
        if problems:
            warnings.append(_skip(name, source, problems))
        else:
            targets.append(target)
    status_page = data.get('status_page')
    component = DEFAULT_COMPONENT
    if status_page is not None:
        spec = dict(status_page, format='statuspage') if isinstance(status_page, dict) else status_page
        target, problems = _target('status page', spec, 'statuspage', environ)
        if problems:
            warnings.append(_skip('status page', source, problems))
        else:
            targets.append(target)
        if isinstance(status_page, dict) and status_page.get('component'):
            component = str(status_page['component'])
    notice = data.get('customer_notice') or {}
    if not isinstance(notice, dict):
        warnings.append({'target': None, 'message': 'customer_notice in %s must be a mapping, so it is ignored.'
                         % source})
        notice = {}
    return {
        'targets': targets,
        'warnings': warnings,
        'component': component,
        'interval_minutes': _positive_number(data, 'interval_minutes', DEFAULT_INTERVAL_MINUTES, warnings),
        'timeout_seconds': _positive_number(data, 'timeout_seconds', DEFAULT_TIMEOUT_SECONDS, warnings),
        'notice_template': notice.get('template'),
        'impact': notice.get('impact'),
        'eta': notice.get('eta'),
    }


def load_config(path: str, environ: t.Mapping[str, str] | None = None) -> dict:
    """Read and check the YAML configuration at ``path``.

    Raises NotifyConfigError when the file cannot be read or is not a YAML mapping.
    """
    try:
        with open(path, encoding='utf-8') as handle:
            data = yaml.safe_load(handle)
    except OSError as error:
        raise NotifyConfigError('The notification configuration %s cannot be read: %s. Fix the path in '
                                'PROMPTLIB_NOTIFY_CONFIG; the rollback runs without notifications until then.'
                                % (path, error.strerror)) from error
    except yaml.YAMLError as error:
        raise NotifyConfigError('The notification configuration %s is not valid YAML: %s. Fix the file; the rollback '
                                'runs without notifications until then.' % (path, error)) from error
    return parse_config(data, path, environ)


def format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def estimate_eta(decision: dict | None, started_at: datetime.datetime, override: str | None = None) -> str | None:
    """Return the ETA: ``override`` when given, else the start plus the procedure's high estimate."""
    if override:
        return str(override)
    if not decision or not decision.get('estimated_minutes'):
        return None
    end = started_at + datetime.timedelta(minutes=decision['estimated_minutes'][1])
    return end.astimezone(datetime.timezone.utc).strftime('%H:%M UTC')


def describe(context: dict) -> str:
    """Return the one-line summary of a notification."""
    decision = context.get('decision') or {}
    what = decision.get('rollback_type') or context.get('procedure') or 'rollback'
    issue = decision.get('issue')
    hosts = ', '.join(context.get('hosts') or []) or 'no host yet'
    prefix = '%s rollback' % what
    if issue:
        prefix += ' for %s (%s)' % (issue, decision.get('severity'))
    event = context['event']
    if event == 'start':
        eta = ', ETA %s' % context['eta'] if context.get('eta') else ''
        return '%s started on %s%s.' % (prefix, hosts, eta)
    elapsed = context['elapsed_seconds']
    if event == 'progress':
        progress = context.get('progress') or {}
        failed = progress.get('failed_hosts') or []
        text = '%s running for %d min on %s: %d tasks done, now %s' % (
            prefix, elapsed // 60, hosts, progress.get('tasks_done', 0), progress.get('current_task') or 'starting')
        if failed:
            text += '; failed on %s' % ', '.join(failed)
        return text + '.'
    detail = ': %s' % context['outcome_detail'] if context.get('outcome_detail') else ''
    return '%s %s after %.0f s on %s%s.' % (prefix, context.get('outcome'), elapsed, hosts, detail)


def generic_payload(context: dict) -> dict:
    """Return the generic JSON payload of a notification."""
    decision = context.get('decision') or {}
    payload = {
        'event': context['event'],
        'run_id': context.get('run_id'),
        'sent_at': format_time(context['sent_at']),
        'playbook': context.get('playbook'),
        'procedure': context.get('procedure'),
        'issue_type': decision.get('issue_type'),
        'issue': decision.get('issue'),
        'severity': decision.get('severity'),
        'rollback_type': decision.get('rollback_type'),
        'hosts': list(context.get('hosts') or []),
        'started_at': format_time(context['started_at']),
        'elapsed_seconds': round(context['elapsed_seconds'], 1),
        'eta': context.get('eta'),
        'approval': context.get('approval'),
        'progress': context.get('progress'),
        'summary': describe(context),
        'customer_notice': context.get('customer_notice'),
    }
    if context['event'] == 'end':
        payload['outcome'] = context.get('outcome')
        payload['outcome_detail'] = context.get('outcome_detail')
    return payload


def slack_payload(context: dict) -> dict:
    """Return a payload that Slack incoming webhooks and compatible receivers accept: text plus blocks."""
    event = context['event']
    emoji_key = 'succeeded' if event == 'end' and context.get('outcome') == 'succeeded' else event
    summary = describe(context)
    title = {'start': 'Rollback started', 'progress': 'Rollback in progress',
             'end': 'Rollback %s' % context.get('outcome', 'ended')}[event]
    footer = 'run %s · %s' % (context.get('run_id') or 'unknown', context.get('playbook') or 'unknown playbook')
    return {
        'text': '%s %s: %s' % (SLACK_EMOJI[emoji_key], title, summary),
        'blocks': [
            {'type': 'section', 'text': {'type': 'mrkdwn', 'text': '*%s*\n%s' % (title, summary)}},
            {'type': 'context', 'elements': [{'type': 'mrkdwn', 'text': footer}]},
        ],
    }


def statuspage_payload(context: dict, component: str) -> dict:
    """Return the status page update: incident status, component status and the customer notice."""
    event = context['event']
    decision = context.get('decision') or {}
    if event == 'end' and context.get('outcome') == 'succeeded':
        status, component_status = 'monitoring', 'operational'
    else:
        status = 'identified'
        component_status = COMPONENT_STATUS_BY_SEVERITY.get(decision.get('severity'), 'partial_outage')
    notice = context.get('customer_notice') or {}
    return {
        'event': event,
        'run_id': context.get('run_id'),
        'component': component,
        'status': status,
        'component_status': component_status,
        'title': notice.get('subject') or 'Service Maintenance - %s' % component,
        'body': notice.get('body') or describe(context),
        'sent_at': format_time(context['sent_at']),
    }


def build_payload(target_format: str, context: dict, component: str = DEFAULT_COMPONENT) -> dict:
    if target_format == 'slack':
        return slack_payload(context)
    if target_format == 'statuspage':
        return statuspage_payload(context, component)
    return generic_payload(context)


def split_notice(text: str) -> dict:
    """Split a rendered notice into subject (from a first ``Subject:`` line) and body."""
    lines = text.strip('\n').splitlines()
    subject = None
    if lines and lines[0].lower().startswith('subject:'):
        subject = lines[0].split(':', 1)[1].strip()
        lines = lines[1:]
    return {'subject': subject, 'body': '\n'.join(lines).strip('\n')}


def render_notice(template_text: str, context: dict, impact: str | None, component: str) -> dict:
    """Render the customer notice template with the impact, the ETA and the notification state.

    The template is operator-supplied text, so it is rendered in Jinja2's sandbox with
    undefined names raising errors.
    """
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    environment = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    decision = context.get('decision') or {}
    text = environment.from_string(template_text).render(
        event=context['event'],
        outcome=context.get('outcome'),
        impact=impact or DEFAULT_IMPACT,
        eta=context.get('eta') or 'as soon as possible',
        component=component,
        severity=decision.get('severity'),
        started_at=format_time(context['started_at']),
    )
    return split_notice(text)
