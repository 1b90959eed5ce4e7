'use strict';

// In-memory key-value cache for template rows, on 127.0.0.1:${CACHE_PORT:-8001}.
//   GET /health          -> {"status":"ok","service":"template-cache-service","entries":n}
//   GET /cache/:key      -> {"key","value"} or 404
//   PUT /cache/:key      body: any JSON value -> {"key","stored":true}
//   DELETE /cache/:key   -> {"key","deleted":bool}
// Entries are lost on restart. Past MAX_ENTRIES the oldest entry is evicted.

const { HttpError, readBody, sendJson } = require('../lib/http-json');
const { runService } = require('../lib/service-runner');

const SERVICE_NAME = 'template-cache-service';
const MAX_ENTRIES = 10000;
const MAX_KEY_LENGTH = 512;

const entries = new Map();

function parseKey(pathname) {
  const match = /^\/cache\/([^/]+)$/.exec(pathname);
  if (match === null) {
    return null;
  }
  let key;
  try {
    key = decodeURIComponent(match[1]);
  } catch (err) {
    throw new HttpError(400, 'cache key is not valid percent-encoding');
  }
  if (key.length > MAX_KEY_LENGTH) {
    throw new HttpError(400, `cache key is longer than ${MAX_KEY_LENGTH} characters`);
  }
  return key;
}

async function storeEntry(req, key) {
  const text = await readBody(req);
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${err.message}`);
  }
  // Re-inserting moves the key to the end of the Map's insertion order.
  entries.delete(key);
  entries.set(key, value);
  if (entries.size > MAX_ENTRIES) {
    entries.delete(entries.keys().next().value);
  }
}

async function handle(req, res, pathname) {
  if (pathname === '/health') {
    if (req.method !== 'GET') {
      throw new HttpError(405, `method ${req.method} is not allowed on /health`);
    }
    sendJson(res, 200, { status: 'ok', service: SERVICE_NAME, entries: entries.size });
    return;
  }

  const key = parseKey(pathname);
  if (key === null) {
    throw new HttpError(404, `not found: ${req.method} ${pathname}`);
  }
  switch (req.method) {
    case 'GET':
      if (!entries.has(key)) {
        throw new HttpError(404, `cache key ${JSON.stringify(key)} not found`);
      }
      sendJson(res, 200, { key, value: entries.get(key) });
      return;
    case 'PUT':
      await storeEntry(req, key);
      sendJson(res, 200, { key, stored: true });
      return;
    case 'DELETE':
      sendJson(res, 200, { key, deleted: entries.delete(key) });
      return;
    default:
      throw new HttpError(405, `method ${req.method} is not allowed on /cache/:key; allowed: GET, PUT, DELETE`);
  }
}

runService({ name: SERVICE_NAME, portVariable: 'CACHE_PORT', defaultPort: 8001, handle });
