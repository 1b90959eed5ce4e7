'use strict';

const { Pool } = require('pg');
const DEFAULT_TEMPLATES = require('./default-templates');

// Key for pg_advisory_xact_lock, so that two processes starting at once do not
// race on CREATE TABLE or on seeding. Any number works that no other client of
// this database uses as an advisory lock key.
const SCHEMA_LOCK_KEY = 48151623;

const TEMPLATE_COLUMNS = 'id, name, body, category, is_default, created_at, updated_at';

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS prompt_templates (
  id serial PRIMARY KEY,
  name text UNIQUE NOT NULL,
  body text NOT NULL,
  category text NOT NULL DEFAULT 'general',
  is_default boolean NOT NULL DEFAULT false,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);
CREATE TABLE IF NOT EXISTS app_settings (
  key text PRIMARY KEY,
  value jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  applied_at timestamptz DEFAULT now()
);
`;

function createPool(databaseUrl, logger) {
  const pool = new Pool({
    connectionString: databaseUrl,
    application_name: 'prompt-library',
    max: 10,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30000,
    query_timeout: 10000,
  });
  // Without this listener, an idle connection dropped by the server (for example
  // PostgreSQL stopped during a database rollback) would crash the process.
  pool.on('error', (err) => {
    logger.error(`idle database connection failed: ${err.message}`);
  });
  return pool;
}

// Run fn(client) inside one transaction on a dedicated connection.
async function withTransaction(pool, fn) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

async function insertDefaultTemplate(client, template) {
  await client.query(
    `INSERT INTO prompt_templates (name, body, category, is_default)
     VALUES ($1, $2, $3, true)
     ON CONFLICT (name) DO UPDATE
       SET body = EXCLUDED.body, category = EXCLUDED.category, is_default = true, updated_at = now()`,
    [template.name, template.body, template.category],
  );
}

// Create the tables if missing, record the schema version and seed the default
// templates into an empty table. Returns {seeded, migrated}: the number of rows
// seeded, and whether this call recorded the schema version for the first time.
async function prepareDatabase(pool, schemaVersion) {
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
    await client.query(SCHEMA_SQL);
    const recorded = await client.query(
      'INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT (version) DO NOTHING',
      [schemaVersion],
    );
    const migrated = recorded.rowCount === 1;

    const { rows } = await client.query('SELECT count(*)::int AS count FROM prompt_templates');
    if (rows[0].count > 0) {
      return { seeded: 0, migrated };
    }
    for (const template of DEFAULT_TEMPLATES) {
      await insertDefaultTemplate(client, template);
    }
    return { seeded: DEFAULT_TEMPLATES.length, migrated };
  });
}

// Damage the template data the way a broken migration would: blank every body
// and delete every second row by id. Only the corrupts-data fault calls this.
// Returns {blanked, deleted}: affected row counts.
async function corruptTemplates(pool) {
  return withTransaction(pool, async (client) => {
    const blanked = await client.query("UPDATE prompt_templates SET body = ''");
    const deleted = await client.query(
      `DELETE FROM prompt_templates WHERE id IN (
         SELECT id FROM (
           SELECT id, row_number() OVER (ORDER BY id) AS position FROM prompt_templates
         ) AS numbered
         WHERE position % 2 = 0
       )`,
    );
    return { blanked: blanked.rowCount, deleted: deleted.rowCount };
  });
}

async function checkConnection(pool) {
  await pool.query('SELECT 1');
}

async function listTemplates(pool) {
  const { rows } = await pool.query(`SELECT ${TEMPLATE_COLUMNS} FROM prompt_templates ORDER BY id`);
  return rows;
}

// True when prompt_templates contains a template that is not one of the defaults.
async function hasCustomTemplates(pool) {
  const { rows } = await pool.query('SELECT EXISTS (SELECT 1 FROM prompt_templates WHERE NOT is_default) AS custom');
  return rows[0].custom;
}

async function countTemplates(pool) {
  const { rows } = await pool.query('SELECT count(*)::int AS count FROM prompt_templates');
  return rows[0].count;
}

// Return the template row with this id, or null.
async function getTemplate(pool, id) {
  const { rows } = await pool.query(`SELECT ${TEMPLATE_COLUMNS} FROM prompt_templates WHERE id = $1`, [id]);
  return rows[0] || null;
}

async function createTemplate(pool, { name, body, category }) {
  const { rows } = await pool.query(
    `INSERT INTO prompt_templates (name, body, category) VALUES ($1, $2, $3) RETURNING ${TEMPLATE_COLUMNS}`,
    [name, body, category],
  );
  return rows[0];
}

// Update the given fields (any of name, body, category) of one template.
// Returns the updated row, or null when no template has this id.
async function updateTemplate(pool, id, fields) {
  const assignments = [];
  const values = [];
  for (const column of ['name', 'body', 'category']) {
    if (fields[column] !== undefined) {
      values.push(fields[column]);
      assignments.push(`${column} = $${values.length}`);
    }
  }
  values.push(id);
  const { rows } = await pool.query(
    `UPDATE prompt_templates SET ${assignments.join(', ')}, updated_at = now()
     WHERE id = $${values.length} RETURNING ${TEMPLATE_COLUMNS}`,
    values,
  );
  return rows[0] || null;
}

// Delete every template that is not one of the built-in defaults (including
// default rows that were renamed), then write the defaults back with their
// original bodies. Returns {removed, count}.
async function resetDefaultTemplates(pool) {
  const defaultNames = DEFAULT_TEMPLATES.map((template) => template.name);
  return withTransaction(pool, async (client) => {
    const deleted = await client.query(
      'DELETE FROM prompt_templates WHERE NOT is_default OR NOT (name = ANY($1::text[]))',
      [defaultNames],
    );
    for (const template of DEFAULT_TEMPLATES) {
      await insertDefaultTemplate(client, template);
    }
    const { rows } = await client.query('SELECT count(*)::int AS count FROM prompt_templates');
    return { removed: deleted.rowCount, count: rows[0].count };
  });
}

// Return the stored JSON value of an app_settings key, or fallback when the key is absent.
async function getSetting(pool, key, fallback) {
  const { rows } = await pool.query('SELECT value FROM app_settings WHERE key = $1', [key]);
  return rows.length > 0 ? rows[0].value : fallback;
}

async function putSetting(pool, key, value) {
  await pool.query(
    `INSERT INTO app_settings (key, value) VALUES ($1, $2::jsonb)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
    [key, JSON.stringify(value)],
  );
}

async function listAppliedSchemaVersions(pool) {
  const { rows } = await pool.query('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((row) => row.version);
}

module.exports = {
  checkConnection,
  corruptTemplates,
  countTemplates,
  createPool,
  createTemplate,
  getSetting,
  getTemplate,
  hasCustomTemplates,
  listAppliedSchemaVersions,
  listTemplates,
  prepareDatabase,
  putSetting,
  resetDefaultTemplates,
  updateTemplate,
};
