'use strict';

const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabelValue(value) {
  return String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(labels) {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
}

// In-process request and helper-call counters, rendered in the Prometheus text
// exposition format 0.0.4. Counts are per process and reset on restart.
class Metrics {
  constructor() {
    this.requestCounts = new Map();
    this.routeDurations = new Map();
    this.helperFailures = new Map();
  }

  recordRequest(method, route, status, durationSeconds) {
    const key = JSON.stringify([method, route, String(status)]);
    this.requestCounts.set(key, (this.requestCounts.get(key) || 0) + 1);

    const duration = this.routeDurations.get(route) || { sum: 0, count: 0 };
    duration.sum += durationSeconds;
    duration.count += 1;
    this.routeDurations.set(route, duration);
  }

  recordHelperFailure(service) {
    this.helperFailures.set(service, (this.helperFailures.get(service) || 0) + 1);
  }

  // Render all metrics. state carries the values read at scrape time:
  // release, validator, flags, databaseUp, and templatesTotal, maintenanceEnabled
  // and safeModeEnabled, each null when the database could not be read.
  render(state) {
    const lines = [];
    const family = (name, type, help) => {
      lines.push(`# HELP ${name} ${help}`);
      lines.push(`# TYPE ${name} ${type}`);
    };
    const sample = (name, labels, value) => {
      lines.push(`${name}${formatLabels(labels)} ${value}`);
    };

    family('http_requests_total', 'counter', 'HTTP requests handled, by method, route and status code.');
    for (const [key, count] of this.requestCounts) {
      const [method, route, status] = JSON.parse(key);
      sample('http_requests_total', { method, route, status }, count);
    }

    family('http_request_duration_seconds', 'summary', 'Time spent handling HTTP requests, by route.');
    for (const [route, duration] of this.routeDurations) {
      sample('http_request_duration_seconds_sum', { route }, duration.sum.toFixed(6));
      sample('http_request_duration_seconds_count', { route }, duration.count);
    }

    family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
    sample('process_resident_memory_bytes', {}, process.memoryUsage().rss);

    family('process_start_time_seconds', 'gauge', 'Start time of the process since the Unix epoch in seconds.');
    sample('process_start_time_seconds', {}, Math.floor(Date.now() / 1000 - process.uptime()));

    family('promptlib_release_info', 'gauge', 'Release version of the running code; the value is always 1.');
    sample('promptlib_release_info', { version: state.release.version }, 1);

    family('promptlib_database_up', 'gauge', 'Whether the last database query for this scrape succeeded (1) or failed (0).');
    sample('promptlib_database_up', {}, state.databaseUp ? 1 : 0);

    // The name is fixed by the drills although it is a gauge; the sample is left
    // out when the database could not be read.
    family('promptlib_templates_total', 'gauge', 'Rows in the prompt_templates table.');
    if (state.templatesTotal !== null) {
      sample('promptlib_templates_total', {}, state.templatesTotal);
    }

    family('promptlib_template_validation_total', 'counter', 'Template validations, by result.');
    sample('promptlib_template_validation_total', { result: 'passed' }, state.validator.passed);
    sample('promptlib_template_validation_total', { result: 'failed' }, state.validator.failed);

    family('promptlib_maintenance_enabled', 'gauge', 'Whether maintenance mode is on (1) or off (0).');
    if (state.maintenanceEnabled !== null) {
      sample('promptlib_maintenance_enabled', {}, state.maintenanceEnabled ? 1 : 0);
    }

    family('promptlib_safe_mode_enabled', 'gauge', 'Whether template safe mode is on (1) or off (0).');
    if (state.safeModeEnabled !== null) {
      sample('promptlib_safe_mode_enabled', {}, state.safeModeEnabled ? 1 : 0);
    }

    family('promptlib_feature_enabled', 'gauge', 'Feature flags as this process read them at start (1 enabled, 0 disabled).');
    for (const [feature, enabled] of Object.entries(state.flags)) {
      sample('promptlib_feature_enabled', { feature }, enabled ? 1 : 0);
    }

    family('promptlib_helper_request_failures_total', 'counter', 'Failed best-effort calls to the cache and analytics services.');
    for (const [service, count] of this.helperFailures) {
      sample('promptlib_helper_request_failures_total', { service }, count);
    }

    return `${lines.join('\n')}\n`;
  }
}

module.exports = { Metrics, PROMETHEUS_CONTENT_TYPE };
