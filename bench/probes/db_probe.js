'use strict';

// Connect to PostgreSQL and run one query at a fixed interval, recording each
// attempt as one JSON line. Runs inside a drill container with the `pg` library
// the drill image carries (NODE_PATH=/usr/local/lib/promptlib-drill/node_modules).
//
// Every attempt opens a new connection, as an application that lost its
// connections during a restore would, so an attempt fails while the database
// refuses connections, does not exist, or lacks the queried table.
//
// Usage: node db_probe.js --out FILE [--interval-ms 100] [--timeout-ms 1000]
//          [--duration-s 3600] [--query SQL]
// The connection comes from DATABASE_URL, or from the DATABASE_URL line of
// /opt/prompt-library/.env. Stops on SIGTERM or SIGINT after the attempt in
// flight. Each line: {"t": <start, epoch s>, "ms": <latency>, "ok": bool, "error": text|null}.

const fs = require('fs');
const { Client } = require('pg');

function parseArgs(argv) {
  const options = {
    out: null,
    intervalMs: 100,
    timeoutMs: 1000,
    durationS: 3600,
    query: 'SELECT 1 FROM prompt_templates LIMIT 1',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) {
      throw new Error(`${flag} needs a value`);
    }
    if (flag === '--out') options.out = value;
    else if (flag === '--interval-ms') options.intervalMs = Number(value);
    else if (flag === '--timeout-ms') options.timeoutMs = Number(value);
    else if (flag === '--duration-s') options.durationS = Number(value);
    else if (flag === '--query') options.query = value;
    else throw new Error(`unknown option ${flag}`);
  }
  if (!options.out) {
    throw new Error('--out FILE is required');
  }
  return options;
}

function databaseUrl() {
  if (process.env.DATABASE_URL) {
    return process.env.DATABASE_URL;
  }
  const text = fs.readFileSync('/opt/prompt-library/.env', 'utf8');
  const match = /^DATABASE_URL=(.*)$/m.exec(text);
  if (!match) {
    throw new Error('no DATABASE_URL in the environment or in /opt/prompt-library/.env');
  }
  return match[1].trim();
}

function sleep(milliseconds) {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

async function attempt(connectionString, options) {
  const started = Date.now();
  const record = { t: started / 1000, ok: false, error: null };
  const client = new Client({
    connectionString,
    connectionTimeoutMillis: options.timeoutMs,
    query_timeout: options.timeoutMs,
    application_name: 'promptlib-bench-probe',
  });
  // A connection the server ends while it is idle must not crash the probe.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(options.query);
    record.ok = true;
  } catch (err) {
    record.error = err.message;
  } finally {
    await client.end().catch(() => {});
  }
  record.ms = Date.now() - started;
  return record;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const connectionString = databaseUrl();
  const out = fs.openSync(options.out, 'w');
  let stopping = false;
  process.on('SIGTERM', () => { stopping = true; });
  process.on('SIGINT', () => { stopping = true; });

  const deadline = Date.now() + options.durationS * 1000;
  let next = Date.now();
  while (!stopping && Date.now() < deadline) {
    const record = await attempt(connectionString, options);
    fs.writeSync(out, `${JSON.stringify(record)}\n`);
    next += options.intervalMs;
    // A slow attempt delays the next one instead of piling attempts up, so the
    // gaps between attempts bound the resolution of the measured outage.
    await sleep(Math.max(0, next - Date.now()));
    if (next < Date.now()) {
      next = Date.now();
    }
  }
  fs.closeSync(out);
}

main().catch((err) => {
  process.stderr.write(`db_probe: ${err.message}\n`);
  process.exit(2);
});
