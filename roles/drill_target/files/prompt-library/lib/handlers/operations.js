'use strict';

// /health and /metrics.

const db = require('../db');
const { PROMETHEUS_CONTENT_TYPE } = require('../metrics');
const settings = require('../settings');

async function getHealth(ctx) {
  const base = {
    version: ctx.release.version,
    fault: ctx.release.fault,
  };
  try {
    await db.checkConnection(ctx.pool);
  } catch (err) {
    ctx.logger.error(`health check: database query failed: ${err.message}`);
    return {
      status: 503,
      body: {
        status: 'degraded',
        ...base,
        database: 'error',
        detail: `database query failed: ${err.message}`,
        uptime_seconds: Math.floor(process.uptime()),
      },
    };
  }
  return {
    status: 200,
    body: { status: 'ok', ...base, database: 'ok', uptime_seconds: Math.floor(process.uptime()) },
  };
}

// Run a database read for a scrape; on failure log it and return null, so that
// /metrics still returns the in-process metrics.
async function readOrNull(ctx, description, read) {
  try {
    return await read();
  } catch (err) {
    ctx.logger.error(`metrics: cannot read ${description}: ${err.message}`);
    return null;
  }
}

async function getMetrics(ctx) {
  const templatesTotal = await readOrNull(ctx, 'template count', () => db.countTemplates(ctx.pool));
  let maintenance = null;
  let safeMode = null;
  if (templatesTotal !== null) {
    maintenance = await readOrNull(ctx, 'maintenance mode', () => settings.readMaintenance(ctx.pool));
    safeMode = await readOrNull(ctx, 'safe mode', () => settings.readSafeMode(ctx.pool));
  }

  const text = ctx.metrics.render({
    release: ctx.release,
    validator: ctx.validator,
    flags: ctx.config.flags,
    databaseUp: templatesTotal !== null,
    templatesTotal,
    maintenanceEnabled: maintenance === null ? null : maintenance.enabled,
    safeModeEnabled: safeMode === null ? null : safeMode.enabled,
  });
  return { status: 200, text, contentType: PROMETHEUS_CONTENT_TYPE };
}

module.exports = { getHealth, getMetrics };
