'use strict';

const DEFAULT_LOG_FILE = '/var/log/prompt-library/application.log';

// Feature flag keys as the code uses them, mapped to their environment variables.
const FEATURE_FLAG_VARIABLES = {
  viewing: 'TEMPLATE_VIEWING_ENABLED',
  creation: 'TEMPLATE_CREATION_ENABLED',
  editing: 'TEMPLATE_EDITING_ENABLED',
  validation: 'TEMPLATE_VALIDATION_ENABLED',
  cache: 'TEMPLATE_CACHE_ENABLED',
  analytics: 'TEMPLATE_ANALYTICS_ENABLED',
};

class ConfigError extends Error {}

function isBlank(value) {
  return value === undefined || value.trim() === '';
}

// Parse a feature flag. Unset or empty means enabled. Any value other than
// true/false/1/0 (case-insensitive) is rejected, so that a typo in .env cannot
// silently leave a feature on that an operator meant to switch off.
function parseFlag(env, name) {
  const raw = env[name];
  if (isBlank(raw)) {
    return true;
  }
  const value = raw.trim().toLowerCase();
  if (value === 'true' || value === '1') {
    return true;
  }
  if (value === 'false' || value === '0') {
    return false;
  }
  throw new ConfigError(`${name} must be true or false (1 or 0 also work), got ${JSON.stringify(raw)}`);
}

function parseInteger(env, name, defaultValue, minimum, maximum) {
  const raw = env[name];
  if (isBlank(raw)) {
    return defaultValue;
  }
  const text = raw.trim();
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < minimum || value > maximum) {
    throw new ConfigError(
      `${name} must be an integer from ${minimum} to ${maximum}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function parseHttpUrl(env, name, defaultValue) {
  const raw = isBlank(env[name]) ? defaultValue : env[name].trim();
  let url;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new ConfigError(`${name} is not a valid URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  return url.toString().replace(/\/$/, '');
}

// Check DATABASE_URL without echoing it, because it usually contains a password.
function parseDatabaseUrl(env) {
  const raw = env.DATABASE_URL;
  if (isBlank(raw)) {
    throw new ConfigError('DATABASE_URL is missing; set it to a postgres://user:password@host:port/database URL');
  }
  const value = raw.trim();
  if (!/^(postgres|postgresql|socket):/.test(value)) {
    throw new ConfigError('DATABASE_URL must start with postgres://, postgresql:// or socket:');
  }
  return value;
}

// Read the app's configuration from an environment object (normally process.env).
// Throws ConfigError naming the first invalid variable.
function loadConfig(env) {
  const flags = {};
  for (const [feature, variable] of Object.entries(FEATURE_FLAG_VARIABLES)) {
    flags[feature] = parseFlag(env, variable);
  }

  return {
    port: parseInteger(env, 'PORT', 8000, 1, 65535),
    host: isBlank(env.HOST) ? '0.0.0.0' : env.HOST.trim(),
    databaseUrl: parseDatabaseUrl(env),
    adminToken: isBlank(env.ADMIN_TOKEN) ? null : env.ADMIN_TOKEN.trim(),
    logFile: isBlank(env.LOG_FILE) ? DEFAULT_LOG_FILE : env.LOG_FILE.trim(),
    flags,
    cacheServiceUrl: parseHttpUrl(env, 'CACHE_SERVICE_URL', 'http://127.0.0.1:8001'),
    analyticsServiceUrl: parseHttpUrl(env, 'ANALYTICS_SERVICE_URL', 'http://127.0.0.1:8002'),
    // The schema version the database was rolled back to. The app then runs at that
    // version and applies no migration above it, so a database rollback holds.
    databaseSchemaVersion: parseInteger(env, 'DATABASE_SCHEMA_VERSION', null, 1, 1000000),
    slowDelayMs: parseInteger(env, 'SLOW_DELAY_MS', 1500, 0, 600000),
  };
}

module.exports = {
  ConfigError,
  DEFAULT_LOG_FILE,
  FEATURE_FLAG_VARIABLES,
  loadConfig,
};
