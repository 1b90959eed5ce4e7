'use strict';

// Public template API: list, read, create, update and validate.

const db = require('../db');
const { HttpError, readJsonObject } = require('../http-json');
const { readMaintenance, readSafeMode } = require('../settings');
const { MAX_TEMPLATE_BODY_LENGTH } = require('../validation');

const MAX_NAME_LENGTH = 200;
const MAX_CATEGORY_LENGTH = 100;
const UNIQUE_VIOLATION = '23505';

function requireFeature(ctx, feature, action) {
  if (!ctx.config.flags[feature]) {
    throw new HttpError(403, `template ${action} is disabled`);
  }
}

// Throw 503 while maintenance mode is on. Only public write requests call this.
async function rejectDuringMaintenance(ctx) {
  const maintenance = await readMaintenance(ctx.pool);
  if (maintenance.enabled) {
    const message = maintenance.message || 'the template system is in maintenance mode; try again later';
    throw new HttpError(503, message, { maintenance: true });
  }
}

function parseTemplateId(params) {
  const text = params.id;
  if (!/^[1-9]\d{0,9}$/.test(text) || Number(text) > 2147483647) {
    throw new HttpError(400, `template id must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

function readStringField(input, field, maxLength) {
  const value = input[field];
  if (typeof value !== 'string' || value.trim() === '' || value.length > maxLength) {
    throw new HttpError(400, `field "${field}" must be a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

// Check the fields of a create or update request. With partial = true (update),
// each field is optional but at least one must be present.
function parseTemplateFields(input, { partial }) {
  const fields = {};
  if (!partial || input.name !== undefined) {
    fields.name = readStringField(input, 'name', MAX_NAME_LENGTH).trim();
  }
  if (!partial || input.body !== undefined) {
    fields.body = readStringField(input, 'body', MAX_TEMPLATE_BODY_LENGTH);
  }
  if (input.category !== undefined) {
    fields.category = readStringField(input, 'category', MAX_CATEGORY_LENGTH).trim();
  } else if (!partial) {
    fields.category = 'general';
  }
  if (partial && Object.keys(fields).length === 0) {
    throw new HttpError(400, 'request body must contain at least one of "name", "body" or "category"');
  }
  return fields;
}

// Validate a body unless TEMPLATE_VALIDATION_ENABLED is false or safe mode is on.
// Returns {valid, errors} or, when skipped, {valid: true, skipped: true, reason}.
async function runValidation(ctx, body) {
  if (!ctx.config.flags.validation) {
    return { valid: true, skipped: true, reason: 'TEMPLATE_VALIDATION_ENABLED is false' };
  }
  const safeMode = await readSafeMode(ctx.pool);
  if (safeMode.enabled) {
    return { valid: true, skipped: true, reason: 'safe mode is on' };
  }
  return ctx.validator.validate(body);
}

async function isSafeModeOn(ctx) {
  const safeMode = await readSafeMode(ctx.pool);
  return safeMode.enabled;
}

// Send a read to the cache and analytics services (best effort) unless they are
// disabled or safe mode is on.
async function recordTemplateRead(ctx, cacheKey, value, event) {
  const { cache: cacheEnabled, analytics: analyticsEnabled } = ctx.config.flags;
  if ((!cacheEnabled && !analyticsEnabled) || await isSafeModeOn(ctx)) {
    return;
  }
  if (cacheEnabled) {
    ctx.cache.send('PUT', `/cache/${encodeURIComponent(cacheKey)}`, value);
  }
  if (analyticsEnabled) {
    ctx.analytics.send('POST', '/events', event);
  }
}

// Refresh the cached copy of a written template and drop the cached list.
async function refreshCacheAfterWrite(ctx, template) {
  if (!ctx.config.flags.cache || await isSafeModeOn(ctx)) {
    return;
  }
  ctx.cache.send('PUT', `/cache/${encodeURIComponent(`template:${template.id}`)}`, template);
  ctx.cache.send('DELETE', `/cache/${encodeURIComponent('templates:list')}`);
}

function rethrowNameConflict(err, name) {
  if (err.code === UNIQUE_VIOLATION) {
    throw new HttpError(409, `a template named ${JSON.stringify(name)} already exists`);
  }
  throw err;
}

async function listTemplates(ctx) {
  requireFeature(ctx, 'viewing', 'viewing');
  const templates = await db.listTemplates(ctx.pool);
  await recordTemplateRead(ctx, 'templates:list', templates, { type: 'template.list', count: templates.length });
  return { status: 200, body: { count: templates.length, templates } };
}

async function getTemplate(ctx, req, params) {
  requireFeature(ctx, 'viewing', 'viewing');
  const id = parseTemplateId(params);
  const template = await db.getTemplate(ctx.pool, id);
  if (template === null) {
    throw new HttpError(404, `template ${id} not found`);
  }
  await recordTemplateRead(ctx, `template:${id}`, template, { type: 'template.view', template_id: id });
  return { status: 200, body: { template } };
}

async function createTemplate(ctx, req) {
  requireFeature(ctx, 'creation', 'creation');
  await rejectDuringMaintenance(ctx);
  const fields = parseTemplateFields(await readJsonObject(req), { partial: false });

  const validation = await runValidation(ctx, fields.body);
  if (!validation.valid) {
    throw new HttpError(422, 'template validation failed', { errors: validation.errors });
  }

  let template;
  try {
    template = await db.createTemplate(ctx.pool, fields);
  } catch (err) {
    rethrowNameConflict(err, fields.name);
  }
  await refreshCacheAfterWrite(ctx, template);
  ctx.logger.info(`created template ${template.id} (${JSON.stringify(template.name)})`);
  return { status: 201, body: { template } };
}

async function updateTemplate(ctx, req, params) {
  requireFeature(ctx, 'editing', 'editing');
  await rejectDuringMaintenance(ctx);
  const id = parseTemplateId(params);
  const fields = parseTemplateFields(await readJsonObject(req), { partial: true });

  if (fields.body !== undefined) {
    const validation = await runValidation(ctx, fields.body);
    if (!validation.valid) {
      throw new HttpError(422, 'template validation failed', { errors: validation.errors });
    }
  }

  let template;
  try {
    template = await db.updateTemplate(ctx.pool, id, fields);
  } catch (err) {
    rethrowNameConflict(err, fields.name);
  }
  if (template === null) {
    throw new HttpError(404, `template ${id} not found`);
  }
  await refreshCacheAfterWrite(ctx, template);
  ctx.logger.info(`updated template ${id} (fields: ${Object.keys(fields).join(', ')})`);
  return { status: 200, body: { template } };
}

async function validateTemplate(ctx, req) {
  const input = await readJsonObject(req);
  if (typeof input.body !== 'string') {
    throw new HttpError(400, 'field "body" is required and must be a string');
  }
  const result = await runValidation(ctx, input.body);
  if (result.skipped) {
    return { status: 200, body: result };
  }
  if (!result.valid) {
    return { status: 422, body: { valid: false, errors: result.errors } };
  }
  return { status: 200, body: { valid: true } };
}

module.exports = {
  createTemplate,
  getTemplate,
  listTemplates,
  updateTemplate,
  validateTemplate,
};
