'use strict';

// Entry point of the prompt library service: read configuration and release.json,
// apply the release's start-up fault, prepare the database, then serve HTTP.

const http = require('http');
const { createRequestListener } = require('./lib/app');
const { DEFAULT_LOG_FILE, loadConfig } = require('./lib/config');
const db = require('./lib/db');
const { HelperClient } = require('./lib/helper-client');
const { createLogger } = require('./lib/logger');
const { Metrics } = require('./lib/metrics');
const { loadRelease } = require('./lib/release');
const { TemplateValidator } = require('./lib/validation');

const DATABASE_ATTEMPTS = 5;
const DATABASE_RETRY_DELAY_MS = 2000;
const SHUTDOWN_TIMEOUT_MS = 3000;

function sleep(milliseconds) {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

// Prepare the schema, retrying while PostgreSQL is still starting
// (for example right after a database rollback).
async function prepareDatabaseWithRetry(pool, schemaVersion, logger) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await db.prepareDatabase(pool, schemaVersion);
    } catch (err) {
      if (attempt >= DATABASE_ATTEMPTS) {
        throw err;
      }
      logger.warn(
        `database not ready (attempt ${attempt} of ${DATABASE_ATTEMPTS}): ${err.message}; ` +
        `retrying in ${DATABASE_RETRY_DELAY_MS / 1000} s`,
      );
      await sleep(DATABASE_RETRY_DELAY_MS);
    }
  }
}

function describeFlags(flags) {
  return Object.entries(flags).map(([feature, enabled]) => `${feature}=${enabled}`).join(' ');
}

function installShutdownHandlers(server, pool, logger) {
  let stopping = false;
  const stop = (signal) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info(`received ${signal}, shutting down`);
    setTimeout(() => {
      logger.warn(`shutdown took longer than ${SHUTDOWN_TIMEOUT_MS} ms; exiting with open connections`);
      process.exit(0);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    server.close(() => {
      pool.end().finally(() => {
        logger.info('stopped');
        process.exit(0);
      });
    });
    // closeIdleConnections exists from Node.js 18.2. Without it, idle keep-alive
    // sockets would hold server.close() open until the shutdown timeout.
    if (typeof server.closeIdleConnections === 'function') {
      server.closeIdleConnections();
    }
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main() {
  const logger = createLogger(process.env.LOG_FILE && process.env.LOG_FILE.trim() !== '' ? process.env.LOG_FILE.trim() : DEFAULT_LOG_FILE);
  const fail = (message) => {
    logger.fatal(message);
    process.exit(1);
  };

  let config;
  let release;
  try {
    config = loadConfig(process.env);
    release = loadRelease(__dirname);
  } catch (err) {
    fail(`cannot start: ${err.message}`);
    return;
  }

  if (release.fault === 'wont-start') {
    fail(`release ${release.version} cannot start: startup check failed (fault "wont-start" in release.json)`);
    return;
  }
  // DATABASE_SCHEMA_VERSION pins the schema after a database rollback: the release
  // runs at that version and skips its migrations above it.
  const pinned = config.databaseSchemaVersion;
  if (pinned !== null && pinned > release.schemaVersion) {
    fail(`cannot start: DATABASE_SCHEMA_VERSION ${pinned} is newer than schema version ${release.schemaVersion} of release ${release.version}`);
    return;
  }
  const schemaVersion = pinned === null ? release.schemaVersion : pinned;
  logger.info(`starting prompt-library ${release.version} (fault ${release.fault}, schema version ${release.schemaVersion}), pid ${process.pid}`);
  if (schemaVersion !== release.schemaVersion) {
    logger.info(`running at schema version ${schemaVersion} from DATABASE_SCHEMA_VERSION; migrations above it are skipped`);
  }
  logger.info(`feature flags: ${describeFlags(config.flags)}`);
  if (config.adminToken === null) {
    logger.warn('ADMIN_TOKEN is not set: admin API requests return 503 until it is set and the app is restarted');
  }

  const pool = db.createPool(config.databaseUrl, logger);
  try {
    const { seeded, migrated } = await prepareDatabaseWithRetry(pool, schemaVersion, logger);
    if (seeded > 0) {
      logger.info(`seeded ${seeded} default templates into an empty prompt_templates table`);
    }
    // The damage is the release's migration, so it runs once per database: on the
    // start that records the release's schema version.
    if (release.fault === 'corrupts-data' && migrated && schemaVersion === release.schemaVersion) {
      // Logged as a routine migration on purpose: the drill must find the damage from the data.
      const { blanked, deleted } = await db.corruptTemplates(pool);
      logger.info(`migration to schema version ${schemaVersion}: rewrote ${blanked} template bodies, removed ${deleted} templates`);
    }
  } catch (err) {
    fail(`cannot prepare database: ${err.message}`);
    return;
  }

  const metrics = new Metrics();
  const ctx = {
    config,
    release,
    pool,
    logger,
    metrics,
    validator: new TemplateValidator({ faulty: release.fault === 'fails-validation' }),
    cache: new HelperClient({ service: 'template-cache-service', baseUrl: config.cacheServiceUrl, logger, metrics }),
    analytics: new HelperClient({ service: 'template-analytics-service', baseUrl: config.analyticsServiceUrl, logger, metrics }),
  };

  const server = http.createServer(createRequestListener(ctx));
  server.on('error', (err) => fail(`cannot listen on ${config.host}:${config.port}: ${err.message}`));
  server.listen(config.port, config.host, () => {
    logger.info(`listening on ${config.host}:${config.port}`);
  });
  installShutdownHandlers(server, pool, logger);

  process.on('unhandledRejection', (reason) => {
    logger.error(`unhandled promise rejection: ${reason && reason.stack ? reason.stack : reason}`);
  });
}

main().catch((err) => {
  process.stderr.write(`${new Date().toISOString()} FATAL start-up failed: ${err.stack || err.message}\n`);
  process.exit(1);
});
