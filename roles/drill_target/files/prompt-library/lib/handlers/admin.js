'use strict';

// Admin API. The dispatcher checks the bearer token before these run.

const db = require('../db');
const { FEATURE_FLAG_VARIABLES } = require('../config');
const { HttpError, readJsonObject } = require('../http-json');
const settings = require('../settings');

const MAX_MAINTENANCE_MESSAGE_LENGTH = 500;
const COMPONENTS = ['validation', 'cache', 'analytics'];

function readEnabledField(input) {
  if (typeof input.enabled !== 'boolean') {
    throw new HttpError(400, 'field "enabled" is required and must be true or false');
  }
  return input.enabled;
}

async function listTemplates(ctx) {
  const templates = await db.listTemplates(ctx.pool);
  return { status: 200, body: { count: templates.length, templates } };
}

async function exportAllTemplates(ctx) {
  const templates = await db.listTemplates(ctx.pool);
  ctx.logger.info(`exported ${templates.length} templates`);
  return {
    status: 200,
    body: { exported_at: new Date().toISOString(), count: templates.length, templates },
  };
}

async function resetDefaultTemplates(ctx) {
  const result = await db.resetDefaultTemplates(ctx.pool);
  ctx.logger.info(`reset templates to defaults: removed ${result.removed} rows, ${result.count} templates remain`);
  return { status: 200, body: result };
}

async function getMaintenance(ctx) {
  return { status: 200, body: await settings.readMaintenance(ctx.pool) };
}

async function setMaintenance(ctx, req) {
  const input = await readJsonObject(req);
  const enabled = readEnabledField(input);
  let message = null;
  if (enabled && input.message !== undefined && input.message !== null) {
    if (typeof input.message !== 'string' || input.message.length > MAX_MAINTENANCE_MESSAGE_LENGTH) {
      throw new HttpError(400, `field "message" must be a string of at most ${MAX_MAINTENANCE_MESSAGE_LENGTH} characters`);
    }
    message = input.message;
  }

  const state = { enabled, message };
  await settings.writeMaintenance(ctx.pool, state);
  ctx.logger.info(enabled ? `maintenance mode enabled: ${JSON.stringify(message)}` : 'maintenance mode disabled');
  return { status: 200, body: state };
}

async function getSafeMode(ctx) {
  return { status: 200, body: await settings.readSafeMode(ctx.pool) };
}

async function setSafeMode(ctx, req) {
  const enabled = readEnabledField(await readJsonObject(req));
  const state = { enabled };
  await settings.writeSafeMode(ctx.pool, state);
  ctx.logger.info(`safe mode ${enabled ? 'enabled' : 'disabled'}`);
  return { status: 200, body: state };
}

// Report the validator's own state. Unlike requests, this check ignores safe mode,
// so that an operator can test the component while requests bypass it.
function checkValidation(ctx) {
  const { validator } = ctx;
  const counts = `${validator.failed} of ${validator.calls} validations failed since start`;
  if (validator.faulty) {
    return { status: 'unhealthy', detail: `validator rejects valid templates; ${counts}` };
  }
  return { status: 'healthy', detail: `validator is working; ${counts}` };
}

async function checkHelper(client, serviceName) {
  const result = await client.checkHealth();
  if (!result.healthy) {
    return { status: 'unhealthy', detail: result.detail };
  }
  const countField = serviceName === 'cache' ? 'entries' : 'events';
  const count = result.body[countField];
  const suffix = count === undefined ? '' : ` (${countField}: ${count})`;
  return { status: 'healthy', detail: `${result.detail}${suffix}` };
}

async function getComponentHealth(ctx, req, params) {
  const component = params.component;
  if (!COMPONENTS.includes(component)) {
    throw new HttpError(404, `unknown component ${JSON.stringify(component)}; expected one of ${COMPONENTS.join(', ')}`);
  }

  let result;
  if (!ctx.config.flags[component]) {
    result = { status: 'disabled', detail: `${FEATURE_FLAG_VARIABLES[component]} is false` };
  } else if (component === 'validation') {
    result = checkValidation(ctx);
  } else {
    result = await checkHelper(ctx[component], component);
  }

  const safeMode = await settings.readSafeMode(ctx.pool).catch(() => null);
  if (safeMode && safeMode.enabled && result.status !== 'disabled') {
    result.detail += '; safe mode is on, so requests bypass this component';
  }

  const httpStatus = result.status === 'unhealthy' ? 503 : 200;
  return { status: httpStatus, body: { component, status: result.status, detail: result.detail } };
}

async function getConfig(ctx) {
  const flags = {};
  for (const [feature, variable] of Object.entries(FEATURE_FLAG_VARIABLES)) {
    flags[variable] = ctx.config.flags[feature];
  }
  return {
    status: 200,
    body: {
      flags,
      version: ctx.release.version,
      fault: ctx.release.fault,
      schema_version: ctx.release.schemaVersion,
      database_schema_version: ctx.config.databaseSchemaVersion,
      active_schema_version: ctx.config.databaseSchemaVersion === null ? ctx.release.schemaVersion : ctx.config.databaseSchemaVersion,
      applied_schema_versions: await db.listAppliedSchemaVersions(ctx.pool),
      cache_service_url: ctx.config.cacheServiceUrl,
      analytics_service_url: ctx.config.analyticsServiceUrl,
    },
  };
}

module.exports = {
  exportAllTemplates,
  getComponentHealth,
  getConfig,
  getMaintenance,
  getSafeMode,
  listTemplates,
  resetDefaultTemplates,
  setMaintenance,
  setSafeMode,
};
