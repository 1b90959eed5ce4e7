'use strict';

const http = require('http');
const https = require('https');
const { createRateLimitedWarning } = require('./logger');

const HEALTH_TIMEOUT_MS = 1000;
const BEST_EFFORT_TIMEOUT_MS = 1000;

// Send one JSON request and resolve with {status, body}, where body is the parsed
// JSON response or null. Rejects on connection errors and after timeoutMs.
function requestJson(baseUrl, method, requestPath, payload, timeoutMs) {
  const base = new URL(baseUrl);
  const url = new URL(base.pathname.replace(/\/$/, '') + requestPath, base);
  const transport = url.protocol === 'https:' ? https : http;
  const data = payload === undefined ? null : JSON.stringify(payload);

  return new Promise((resolve, reject) => {
    const req = transport.request(url, {
      method,
      headers: data === null ? {} : {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(data),
      },
    });
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error(`timed out after ${timeoutMs} ms`));
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body = null;
        try {
          body = text === '' ? null : JSON.parse(text);
        } catch (err) {
          body = null;
        }
        resolve({ status: res.statusCode, body });
      });
    });
    req.end(data === null ? undefined : data);
  });
}

// Client for one helper service (template-cache-service or template-analytics-service).
// send() is fire-and-forget: a failure only counts in /metrics and logs a
// rate-limited WARN, because the app must keep working without its helpers.
class HelperClient {
  constructor({ service, baseUrl, logger, metrics }) {
    this.service = service;
    this.baseUrl = baseUrl;
    this.metrics = metrics;
    this.warn = createRateLimitedWarning(logger);
  }

  send(method, requestPath, payload) {
    requestJson(this.baseUrl, method, requestPath, payload, BEST_EFFORT_TIMEOUT_MS)
      .then(({ status }) => {
        if (status >= 400) {
          throw new Error(`HTTP status ${status}`);
        }
      })
      .catch((err) => {
        this.metrics.recordHelperFailure(this.service);
        this.warn(`${this.service}: ${method} ${this.baseUrl}${requestPath} failed: ${err.message}`);
      });
  }

  // Query the service's /health with a 1 s timeout.
  // Returns {healthy, detail, body}, where body is the parsed response or null.
  async checkHealth() {
    const target = `${this.baseUrl}/health`;
    try {
      const { status, body } = await requestJson(this.baseUrl, 'GET', '/health', undefined, HEALTH_TIMEOUT_MS);
      if (status === 200 && body && body.status === 'ok') {
        return { healthy: true, detail: `GET ${target} returned status ok`, body };
      }
      return { healthy: false, detail: `GET ${target} returned HTTP ${status}`, body };
    } catch (err) {
      return { healthy: false, detail: `GET ${target} failed: ${err.message}`, body: null };
    }
  }
}

module.exports = { HelperClient, requestJson };
