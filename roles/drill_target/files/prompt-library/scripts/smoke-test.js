'use strict';

// Post-deployment smoke test. Reads BASE_URL (default http://127.0.0.1:8000) and
// ADMIN_TOKEN from the environment, prints "ok - <check>" or "not ok - <check>: <reason>"
// per check, then "N passed, N failed", and exits 1 when any check failed.
// The token is sent to the app but never printed.

const http = require('http');
const https = require('https');

const BASE_URL = (process.env.BASE_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
const ADMIN_TOKEN = process.env.ADMIN_TOKEN || '';
const REQUEST_TIMEOUT_MS = 10000;

// Resolve with {status, text}; reject on connection errors and after REQUEST_TIMEOUT_MS.
function get(requestPath, headers = {}) {
  const url = new URL(BASE_URL + requestPath);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method: 'GET', headers });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => {
      req.destroy(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`));
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.end();
  });
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    return null;
  }
}

// Each check returns a short note on success or throws an Error with the reason.
const CHECKS = [
  ['health', async () => {
    const { status, text } = await get('/health');
    const body = parseJson(text);
    if (status !== 200) {
      throw new Error(`GET /health returned HTTP ${status}: ${text.slice(0, 200)}`);
    }
    if (!body || typeof body.version !== 'string' || body.version === '') {
      throw new Error('GET /health returned no "version"');
    }
    return `version ${body.version}`;
  }],
  ['templates', async () => {
    const { status, text } = await get('/api/templates');
    if (status === 403) {
      throw new Error('GET /api/templates returned 403: template viewing is disabled');
    }
    if (status !== 200) {
      throw new Error(`GET /api/templates returned HTTP ${status}: ${text.slice(0, 200)}`);
    }
    const body = parseJson(text);
    return body && Array.isArray(body.templates) ? `${body.templates.length} templates` : '';
  }],
  ['admin templates', async () => {
    if (ADMIN_TOKEN === '') {
      throw new Error('ADMIN_TOKEN is not set; export it before running the smoke test');
    }
    const { status, text } = await get('/api/admin/templates', { Authorization: `Bearer ${ADMIN_TOKEN}` });
    if (status !== 200) {
      throw new Error(`GET /api/admin/templates returned HTTP ${status}: ${text.slice(0, 200)}`);
    }
    const body = parseJson(text);
    if (!body || !Number.isInteger(body.count) || body.count <= 0) {
      throw new Error(`GET /api/admin/templates returned count ${body ? body.count : 'missing'}, expected more than 0`);
    }
    return `count ${body.count}`;
  }],
  ['metrics', async () => {
    const { status, text } = await get('/metrics');
    if (status !== 200) {
      throw new Error(`GET /metrics returned HTTP ${status}`);
    }
    if (!/^promptlib_release_info\{/m.test(text)) {
      throw new Error('GET /metrics has no promptlib_release_info sample');
    }
    return '';
  }],
];

async function main() {
  let passed = 0;
  let failed = 0;
  for (const [name, check] of CHECKS) {
    try {
      const note = await check();
      passed += 1;
      console.log(`ok - ${name}${note ? ` (${note})` : ''}`);
    } catch (err) {
      failed += 1;
      console.log(`not ok - ${name}: ${err.message}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main();
