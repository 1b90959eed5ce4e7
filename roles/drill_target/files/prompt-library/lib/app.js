'use strict';

// Route table and request dispatcher: slow-fault delay, routing, bearer-token
// checks, error responses, request metrics and the per-request log line.

const { extractBearerToken, tokensMatch } = require('./auth');
const db = require('./db');
const { HttpError, sendJson, sendText } = require('./http-json');
const admin = require('./handlers/admin');
const operations = require('./handlers/operations');
const templates = require('./handlers/templates');

// auth: 'required' needs a valid admin token, and 'optional' accepts a request
// without an Authorization header but rejects a wrong token.
const ROUTES = [
  { method: 'GET', path: '/health', handler: operations.getHealth },
  { method: 'GET', path: '/metrics', handler: operations.getMetrics },
  { method: 'GET', path: '/api/templates', handler: templates.listTemplates },
  { method: 'POST', path: '/api/templates', handler: templates.createTemplate },
  { method: 'POST', path: '/api/templates/validate', handler: templates.validateTemplate },
  { method: 'GET', path: '/api/templates/:id', handler: templates.getTemplate },
  { method: 'PUT', path: '/api/templates/:id', handler: templates.updateTemplate },
  { method: 'GET', path: '/api/admin/templates', auth: 'required', handler: admin.listTemplates },
  { method: 'POST', path: '/api/admin/templates/export-all', auth: 'required', handler: admin.exportAllTemplates },
  { method: 'POST', path: '/api/admin/templates/reset-defaults', auth: 'required', handler: admin.resetDefaultTemplates },
  { method: 'GET', path: '/api/admin/maintenance', auth: 'required', handler: admin.getMaintenance },
  { method: 'POST', path: '/api/admin/maintenance', auth: 'required', handler: admin.setMaintenance },
  { method: 'GET', path: '/api/admin/templates/safe-mode', auth: 'required', handler: admin.getSafeMode },
  { method: 'POST', path: '/api/admin/templates/safe-mode', auth: 'required', handler: admin.setSafeMode },
  { method: 'GET', path: '/api/admin/templates/health/:component', auth: 'optional', handler: admin.getComponentHealth },
  { method: 'GET', path: '/api/admin/config', auth: 'required', handler: admin.getConfig },
];

// Methods reported as themselves in metrics. Any other becomes "OTHER", which bounds the label values.
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

function compileRoute(route) {
  const parameterNames = [];
  const pattern = route.path.replace(/:([a-z]+)/g, (match, name) => {
    parameterNames.push(name);
    return '([^/]+)';
  });
  return { ...route, regex: new RegExp(`^${pattern}$`), parameterNames };
}

const COMPILED_ROUTES = ROUTES.map(compileRoute);

// Find the route for a path and method. Returns {route, params} on a match,
// {allowedMethods} when the path exists under other methods, or {} when nothing matches.
function matchRoute(pathname, method) {
  const allowedMethods = [];
  for (const route of COMPILED_ROUTES) {
    const match = route.regex.exec(pathname);
    if (match === null) {
      continue;
    }
    if (route.method !== method) {
      allowedMethods.push(route.method);
      continue;
    }
    const params = {};
    route.parameterNames.forEach((name, index) => {
      try {
        params[name] = decodeURIComponent(match[index + 1]);
      } catch (err) {
        throw new HttpError(400, `path segment ${JSON.stringify(match[index + 1])} is not valid percent-encoding`);
      }
    });
    return { route, params };
  }
  return allowedMethods.length > 0 ? { allowedMethods } : {};
}

function normalizePath(pathname) {
  return pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
}

function authorize(ctx, req, mode) {
  if (!mode) {
    return;
  }
  const header = req.headers.authorization;
  if (mode === 'optional' && header === undefined) {
    return;
  }
  if (ctx.config.adminToken === null) {
    throw new HttpError(503, 'admin API is unavailable because ADMIN_TOKEN is not set in the application environment');
  }
  const token = extractBearerToken(header);
  if (token === null || !tokensMatch(token, ctx.config.adminToken)) {
    const err = new HttpError(401, 'missing or invalid bearer token');
    err.headers = { 'WWW-Authenticate': 'Bearer' };
    throw err;
  }
}

// True for errors raised by PostgreSQL or by the connection to it.
function isDatabaseError(err) {
  const connectionCodes = ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'EPIPE'];
  if (err.severity !== undefined || connectionCodes.includes(err.code)) {
    return true;
  }
  return /timeout exceeded when trying to connect|Connection terminated|Query read timeout/i.test(err.message);
}

// Turn a thrown error into {status, body, headers} and log the errors that are not
// the client's fault.
function buildErrorResponse(ctx, err, method, pathname) {
  if (err instanceof HttpError) {
    return { status: err.status, body: { error: err.message, ...err.extraFields }, headers: err.headers || {} };
  }
  if (isDatabaseError(err)) {
    ctx.logger.error(`${method} ${pathname} failed: database query failed: ${err.message}`);
    return { status: 503, body: { error: `database query failed: ${err.message}` }, headers: {} };
  }
  ctx.logger.error(`${method} ${pathname} failed: ${err.stack || err.message}`);
  return { status: 500, body: { error: 'internal server error' }, headers: {} };
}

function sleep(milliseconds) {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

// A failed query counts as slowed: the delay then stays while the database is unreachable.
async function slowedByCustomTemplates(ctx) {
  try {
    return await db.hasCustomTemplates(ctx.pool);
  } catch (err) {
    return true;
  }
}

async function dispatch(ctx, req, res) {
  const startedAt = process.hrtime.bigint();
  let pathname = '(unparsable)';
  let routeLabel = 'unmatched';
  let status;

  try {
    pathname = normalizePath(new URL(req.url, 'http://localhost').pathname);
    // The slow release's template engine slows every response, including errors
    // and /health, while custom templates exist. Resetting to the default
    // templates ends the delay, as the gradual rollback does.
    if (ctx.release.fault === 'slow' && await slowedByCustomTemplates(ctx)) {
      await sleep(ctx.config.slowDelayMs);
    }

    // Node.js drops the body of a HEAD response itself, so HEAD can run the GET handler.
    const match = matchRoute(pathname, req.method === 'HEAD' ? 'GET' : req.method);
    if (match.allowedMethods) {
      const err = new HttpError(405, `method ${req.method} is not allowed on ${pathname}; allowed: ${match.allowedMethods.join(', ')}`);
      err.headers = { Allow: match.allowedMethods.join(', ') };
      throw err;
    }
    if (!match.route) {
      throw new HttpError(404, `not found: ${req.method} ${pathname}`);
    }
    routeLabel = match.route.path;

    authorize(ctx, req, match.route.auth);
    const result = await match.route.handler(ctx, req, match.params);
    status = result.status;
    if (result.text !== undefined) {
      sendText(res, status, result.text, result.contentType);
    } else {
      sendJson(res, status, result.body);
    }
  } catch (err) {
    const response = buildErrorResponse(ctx, err, req.method, pathname);
    status = response.status;
    if (res.headersSent) {
      res.destroy();
    } else {
      sendJson(res, status, response.body, response.headers);
    }
  }

  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const methodLabel = KNOWN_METHODS.has(req.method) ? req.method : 'OTHER';
  ctx.metrics.recordRequest(methodLabel, routeLabel, status, seconds);
  // Only method, path and status are logged: headers and query strings may carry credentials.
  ctx.logger.info(`${req.method} ${pathname} ${status} ${Math.round(seconds * 1000)}ms`);
}

// Build the http.Server request listener for an app context.
function createRequestListener(ctx) {
  return (req, res) => {
    dispatch(ctx, req, res).catch((err) => {
      ctx.logger.error(`request handling failed: ${err.stack || err.message}`);
      if (!res.headersSent) {
        sendJson(res, 500, { error: 'internal server error' });
      }
    });
  };
}

module.exports = { ROUTES, createRequestListener, matchRoute };
