# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Name the issue type of the decision matrix that measured signals point to.

The diagnose role measures the signals on each host and passes them here as a dict:

* ``app``: ``health_status`` (HTTP status of /health, -1 without an answer),
  ``health_error``, ``version``, ``pm2`` (processes with name, status, restarts);
* ``database``: ``queries``, each with name, rc, value, min, max and error;
* ``response``: ``samples`` (seconds), ``baseline_seconds`` (or None),
  ``baseline_source``, ``limit_seconds``, ``min_increase_seconds``;
* ``validation``: ``codes`` (HTTP status of each probe of a valid template) and
  ``skipped`` (probes the application answered without validating);
* ``cache``: ``enabled`` (True, False, or None when unknown), ``unit_state``,
  ``direct_status``, ``direct_error``, ``component_status``, ``component_detail``.

The limits for performance and validation come from the triggers of the matrix.
"""

from __future__ import annotations

import statistics

from ansible_collections.promptlib.rollback.plugins.plugin_utils.decision import issue_types

# Issue types no host signal reveals; a person has to report them.
UNDETECTABLE = ('security-vulnerability', 'minor-ui-issues')

VALIDATION_ANSWERED = (200, 422)
VALIDATION_REJECTED = 422


def as_int(value, default: int = -1) -> int:
    """Return ``value`` as an int; templating can turn numbers into strings."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def as_float(value) -> float | None:
    if value is None or str(value).strip() in ('', 'None'):
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def as_text(value) -> str | None:
    """Return ``value`` as text, or None for None and the text templating makes of it."""
    if value is None or str(value).strip() in ('', 'None'):
        return None
    return str(value)


def _trigger_limit(matrix: dict, issue_type: str) -> float:
    return float(matrix['issue_types'][issue_type]['trigger']['above'])


def _answers(status) -> bool:
    return 100 <= as_int(status) <= 599


def _pm2_summary(processes: list) -> str:
    if not processes:
        return 'pm2 lists no process'
    described = ['%s %s after %s restarts' % (process.get('name'), process.get('status'), process.get('restarts', 0))
                 for process in processes]
    return ', '.join(described)


def check_application(app: dict) -> tuple[list, str]:
    """Return the evidence that the application will not start (empty when it answers) and a measurement line."""
    status = as_int(app.get('health_status', -1))
    pm2 = _pm2_summary(app.get('pm2') or [])
    if _answers(status):
        return [], 'GET /health answered %s (version %s); %s' % (status, as_text(app.get('version')) or 'unknown', pm2)
    evidence = ['GET /health got no answer (%s)' % (as_text(app.get('health_error')) or 'no response'), pm2]
    return evidence, '; '.join(evidence)


def check_database(database: dict) -> tuple[list, str]:
    """Return the failed integrity checks and a measurement line."""
    evidence, results = [], []
    for query in database.get('queries') or []:
        name = query.get('name', 'unnamed query')
        value = as_float(query.get('value'))
        if as_int(query.get('rc', 1), 1) != 0 or value is None:
            evidence.append('integrity query "%s" failed: %s' % (name, query.get('error') or 'no number returned'))
            results.append('%s failed' % name)
            continue
        low, high = as_float(query.get('min')), as_float(query.get('max'))
        results.append('%s = %g' % (name, value))
        if low is not None and value < low:
            evidence.append('integrity check "%s" = %g, below the minimum %g' % (name, value, low))
        if high is not None and value > high:
            evidence.append('integrity check "%s" = %g, above the maximum %g' % (name, value, high))
    return evidence, '; '.join(results) or 'no integrity query ran'


def check_response_time(response: dict, limit_percent: float) -> tuple[list, str]:
    """Compare the median response time with the baseline, or with the absolute limit without one.

    An increase counts only when it is above ``limit_percent`` and also at least
    ``min_increase_seconds``, because a few milliseconds more on a fast endpoint is a large
    percentage but no degradation anyone notices.
    """
    samples = [sample for sample in (as_float(item) for item in response.get('samples') or []) if sample is not None]
    if not samples:
        return [], 'not measured: no response time sample'
    median = statistics.median(samples)
    baseline = as_float(response.get('baseline_seconds'))
    measured = 'median %.3f s over %d samples' % (median, len(samples))
    if baseline:
        increase = (median - baseline) / baseline * 100.0
        measured += ' against the baseline %.3f s from %s (%+.0f%%)' % (
            baseline, as_text(response.get('baseline_source')) or 'the inventory', increase)
        min_increase = as_float(response.get('min_increase_seconds')) or 0.0
        if increase > limit_percent and median - baseline >= min_increase:
            return ['response time %s, more than %g%% slower' % (measured, limit_percent)], measured
        return [], measured
    limit = as_float(response.get('limit_seconds')) or 1.0
    measured += '; no recorded baseline, compared with the %.1f s limit' % limit
    if median > limit:
        return ['response time %s' % measured], measured
    return [], measured


def check_validation(validation: dict, limit_percent: float) -> tuple[list, str]:
    """Return evidence when more than ``limit_percent`` of valid probe templates were rejected."""
    codes = [as_int(code) for code in validation.get('codes') or []]
    skipped = as_int(validation.get('skipped'), 0)
    answered = [code for code in codes if code in VALIDATION_ANSWERED]
    if not answered:
        reason = ('validation is off or safe mode is on' if skipped
                  else 'no probe was answered (status %s)' % ', '.join(str(code) for code in codes) if codes
                  else 'no probe ran')
        return [], 'not measured: %s' % reason
    rejected = sum(1 for code in answered if code == VALIDATION_REJECTED)
    rate = rejected * 100.0 / len(answered)
    measured = '%d of %d valid probe templates rejected (%.0f%%)' % (rejected, len(answered), rate)
    if skipped:
        measured += ', %d answered without validation' % skipped
    if rate > limit_percent:
        return ['%s, more than %g%%' % (measured, limit_percent)], measured
    return [], measured


def check_cache(cache: dict) -> tuple[list, str]:
    """Return evidence that the cache fails while it is enabled (or its setting is unknown)."""
    if cache.get('enabled') in (False, 'False', 'false'):
        return [], 'disabled (TEMPLATE_CACHE_ENABLED is false)'
    evidence = []
    unit_state = as_text(cache.get('unit_state')) or 'unknown'
    if unit_state != 'active':
        evidence.append('template-cache-service is %s' % unit_state)
    direct = as_int(cache.get('direct_status', -1))
    if direct != 200:
        evidence.append('cache health check answered %s' % (
            direct if _answers(direct) else 'nothing (%s)' % (as_text(cache.get('direct_error')) or 'no response')))
    component = as_text(cache.get('component_status'))
    if component == 'unhealthy':
        evidence.append('the application reports the cache unhealthy: %s'
                        % (as_text(cache.get('component_detail')) or 'no detail'))
    measured = 'unit %s; health check %s; application sees %s' % (unit_state, direct, component or 'nothing')
    return evidence, measured


def diagnose(signals: dict, matrix: dict) -> dict:
    """Return the issue type the signals point to, every finding with its evidence, and the measurements.

    ``issue_type`` is the finding that comes first in the matrix, which lists the most
    severe issues first, or None when no signal crossed its limit. Signals that need an
    answering application are not measured when it does not answer.
    """
    app = signals.get('app') or {}
    app_evidence, app_measured = check_application(app)
    app_answers = not app_evidence
    checks = {
        'application-wont-start': (app_evidence, app_measured),
        'database-corruption': check_database(signals.get('database') or {}),
        'cache-failures': check_cache(signals.get('cache') or {}),
    }
    if app_answers:
        checks['performance-degradation'] = check_response_time(
            signals.get('response') or {}, _trigger_limit(matrix, 'performance-degradation'))
        checks['template-validation-failures'] = check_validation(
            signals.get('validation') or {}, _trigger_limit(matrix, 'template-validation-failures'))
    else:
        skipped = 'not measured: the application does not answer'
        checks['performance-degradation'] = ([], skipped)
        checks['template-validation-failures'] = ([], skipped)

    findings, measurements = [], {}
    for issue_type in issue_types(matrix):
        if issue_type not in checks:
            continue
        evidence, measured = checks[issue_type]
        measurements[issue_type] = measured
        if evidence:
            row = matrix['issue_types'][issue_type]
            findings.append({'issue_type': issue_type, 'issue': row['issue'], 'severity': row['severity'],
                             'evidence': evidence})
    return {
        'issue_type': findings[0]['issue_type'] if findings else None,
        'findings': findings,
        'measurements': measurements,
        'not_detectable': [issue_type for issue_type in UNDETECTABLE if issue_type in matrix['issue_types']],
    }
