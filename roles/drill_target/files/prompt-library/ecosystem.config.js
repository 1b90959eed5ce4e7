'use strict';

// pm2 process file: `pm2 start ecosystem.config.js`.
// The .env file is read when pm2 evaluates this file, so a changed .env reaches the
// app through a fresh `pm2 start ecosystem.config.js` (after `pm2 delete`) or
// `pm2 restart|reload ecosystem.config.js --update-env`. A plain `pm2 restart all`
// keeps the environment the process started with.
// PROMPTLIB_ENV_FILE and PROMPTLIB_APP_DIR override the two paths below.

const fs = require('fs');

const ENV_FILE = process.env.PROMPTLIB_ENV_FILE || '/opt/prompt-library/.env';
// The stable path, not __dirname: pm2 keeps the script path it was given, so after a
// release switch a restart runs the code that `current` now points to.
const APP_DIR = process.env.PROMPTLIB_APP_DIR || '/opt/prompt-library/current';

// Parse KEY=VALUE lines. Blank lines, "#" comments and a leading "export " are
// ignored, and one pair of matching single or double quotes around a value is removed.
// A missing file yields {}, so pm2 falls back to the caller's environment.
function readEnvFile(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') {
      return {};
    }
    throw err;
  }

  const env = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim().replace(/^export\s+/, '');
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (match === null) {
      continue;
    }
    let value = match[2];
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value[value.length - 1] === value[0]) {
      value = value.slice(1, -1);
    }
    env[match[1]] = value;
  }
  return env;
}

module.exports = {
  apps: [
    {
      name: 'prompt-library',
      script: `${APP_DIR}/server.js`,
      cwd: APP_DIR,
      exec_mode: 'fork',
      instances: 1,
      env: readEnvFile(ENV_FILE),
      // A release that exits within min_uptime is marked "errored" after
      // max_restarts attempts instead of restarting forever. No restart_delay:
      // with one, pm2 7.0.4 left such a release in "waiting restart" instead.
      min_uptime: '5s',
      max_restarts: 5,
      kill_timeout: 5000,
      time: false,
    },
  ],
};
