'use strict';

const fs = require('fs');
const path = require('path');

// Format one log line: "2026-12-04T15:00:00.000Z INFO message". Line breaks inside
// the message become " | " so that every event stays on one line for grep.
function formatLogLine(level, message, now = new Date()) {
  const text = String(message).replace(/\r?\n\s*/g, ' | ');
  return `${now.toISOString()} ${level} ${text}`;
}

// Create a logger that appends each line to logFile and echoes it to stdout (INFO)
// or stderr (WARN, ERROR, FATAL), where pm2 or journald pick it up.
// Writes are synchronous, so a FATAL line is on disk before process.exit().
// The file is reopened on every write, so logrotate needs no copytruncate.
function createLogger(logFile, { stdout = process.stdout, stderr = process.stderr } = {}) {
  let fileFailed = false;

  function appendToFile(line) {
    try {
      fs.appendFileSync(logFile, `${line}\n`);
      fileFailed = false;
      return;
    } catch (err) {
      let lastError = err;
      if (err.code === 'ENOENT') {
        try {
          fs.mkdirSync(path.dirname(logFile), { recursive: true });
          fs.appendFileSync(logFile, `${line}\n`);
          fileFailed = false;
          return;
        } catch (retryErr) {
          lastError = retryErr;
        }
      }
      // Report a broken log file once per outage instead of once per line.
      if (!fileFailed) {
        fileFailed = true;
        const notice = `cannot write log file ${logFile}: ${lastError.message}; logging to stderr only`;
        stderr.write(`${formatLogLine('ERROR', notice)}\n`);
      }
    }
  }

  function log(level, message) {
    const line = formatLogLine(level, message);
    appendToFile(line);
    const stream = level === 'INFO' ? stdout : stderr;
    stream.write(`${line}\n`);
  }

  try {
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
  } catch (err) {
    // appendToFile reports the failure on the first write.
  }

  return {
    file: logFile,
    info: (message) => log('INFO', message),
    warn: (message) => log('WARN', message),
    error: (message) => log('ERROR', message),
    fatal: (message) => log('FATAL', message),
  };
}

// Wrap logger.warn so that it logs at most once per intervalMs. The next line that
// is logged carries the number of warnings suppressed in between.
function createRateLimitedWarning(logger, intervalMs = 60000) {
  let lastLoggedAt = 0;
  let suppressed = 0;
  return (message) => {
    const now = Date.now();
    if (now - lastLoggedAt < intervalMs) {
      suppressed += 1;
      return;
    }
    const suffix = suppressed > 0 ? ` (${suppressed} similar warnings suppressed)` : '';
    logger.warn(`${message}${suffix}`);
    lastLoggedAt = now;
    suppressed = 0;
  };
}

module.exports = { createLogger, createRateLimitedWarning, formatLogLine };
