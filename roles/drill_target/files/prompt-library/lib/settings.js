'use strict';

// Maintenance mode and safe mode live in the app_settings table, so they survive
// restarts and every process behind pm2 reads the same state.

const db = require('./db');

const MAINTENANCE_KEY = 'maintenance';
const SAFE_MODE_KEY = 'safe_mode';

// Returns {enabled, message}.
async function readMaintenance(pool) {
  const stored = await db.getSetting(pool, MAINTENANCE_KEY, null);
  return {
    enabled: Boolean(stored && stored.enabled === true),
    message: stored && typeof stored.message === 'string' ? stored.message : null,
  };
}

async function writeMaintenance(pool, state) {
  await db.putSetting(pool, MAINTENANCE_KEY, state);
}

// Returns {enabled}.
async function readSafeMode(pool) {
  const stored = await db.getSetting(pool, SAFE_MODE_KEY, null);
  return { enabled: Boolean(stored && stored.enabled === true) };
}

async function writeSafeMode(pool, state) {
  await db.putSetting(pool, SAFE_MODE_KEY, state);
}

module.exports = { readMaintenance, readSafeMode, writeMaintenance, writeSafeMode };
