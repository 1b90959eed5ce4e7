'use strict';

// In-memory event counter for template usage, on 127.0.0.1:${ANALYTICS_PORT:-8002}.
//   GET /health   -> {"status":"ok","service":"template-analytics-service","events":n}
//   POST /events  body: {"type": "...", ...} -> 202 {"accepted":true,"total":n}
//   GET /stats    -> {"total":n,"by_type":{type: n},"since":ISO time of start}
// Counts are lost on restart.

const { HttpError, readJsonObject, sendJson } = require('../lib/http-json');
const { runService } = require('../lib/service-runner');

const SERVICE_NAME = 'template-analytics-service';
const MAX_EVENT_TYPE_LENGTH = 100;
// Bounds memory when callers send many distinct types; later new types count as "other".
const MAX_EVENT_TYPES = 1000;

const startedAt = new Date().toISOString();
const countsByType = new Map();
let totalEvents = 0;

function recordEvent(type) {
  const bucket = countsByType.has(type) || countsByType.size < MAX_EVENT_TYPES ? type : 'other';
  countsByType.set(bucket, (countsByType.get(bucket) || 0) + 1);
  totalEvents += 1;
}

function requireMethod(req, pathname, method) {
  if (req.method !== method) {
    throw new HttpError(405, `method ${req.method} is not allowed on ${pathname}; allowed: ${method}`);
  }
}

async function handle(req, res, pathname) {
  switch (pathname) {
    case '/health':
      requireMethod(req, pathname, 'GET');
      sendJson(res, 200, { status: 'ok', service: SERVICE_NAME, events: totalEvents });
      return;
    case '/events': {
      requireMethod(req, pathname, 'POST');
      const event = await readJsonObject(req);
      if (typeof event.type !== 'string' || event.type === '' || event.type.length > MAX_EVENT_TYPE_LENGTH) {
        throw new HttpError(400, `field "type" must be a non-empty string of at most ${MAX_EVENT_TYPE_LENGTH} characters`);
      }
      recordEvent(event.type);
      sendJson(res, 202, { accepted: true, total: totalEvents });
      return;
    }
    case '/stats':
      requireMethod(req, pathname, 'GET');
      sendJson(res, 200, { total: totalEvents, by_type: Object.fromEntries(countsByType), since: startedAt });
      return;
    default:
      throw new HttpError(404, `not found: ${req.method} ${pathname}`);
  }
}

runService({ name: SERVICE_NAME, portVariable: 'ANALYTICS_PORT', defaultPort: 8002, handle });
