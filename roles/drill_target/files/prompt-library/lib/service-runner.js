'use strict';

// Shared start-up for the small helper services that systemd runs: port parsing,
// one-line logging to stdout/stderr for the journal, and clean stop on SIGTERM.

const http = require('http');
const { HttpError, sendJson } = require('./http-json');
const { formatLogLine } = require('./logger');

const LISTEN_HOST = '127.0.0.1';

function log(level, message) {
  const stream = level === 'INFO' ? process.stdout : process.stderr;
  stream.write(`${formatLogLine(level, message)}\n`);
}

function readPort(variable, defaultPort) {
  const raw = process.env[variable];
  if (raw === undefined || raw.trim() === '') {
    return defaultPort;
  }
  const port = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || port < 1 || port > 65535) {
    log('FATAL', `${variable} must be an integer from 1 to 65535, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return port;
}

// Start an HTTP service on 127.0.0.1. handle(req, res, pathname) sends the response
// or throws an HttpError; any other error becomes a logged 500.
function runService({ name, portVariable, defaultPort, handle }) {
  const port = readPort(portVariable, defaultPort);

  const server = http.createServer((req, res) => {
    let pathname = '(unparsable)';
    Promise.resolve()
      .then(() => {
        pathname = new URL(req.url, 'http://localhost').pathname;
        return handle(req, res, pathname);
      })
      .catch((err) => {
        if (err instanceof HttpError) {
          sendJson(res, err.status, { error: err.message });
          return;
        }
        log('ERROR', `${req.method} ${pathname} failed: ${err.stack || err.message}`);
        if (!res.headersSent) {
          sendJson(res, 500, { error: 'internal server error' });
        }
      });
  });

  server.on('error', (err) => {
    log('FATAL', `${name} cannot listen on ${LISTEN_HOST}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, LISTEN_HOST, () => {
    log('INFO', `${name} listening on ${LISTEN_HOST}:${port}, pid ${process.pid}`);
  });

  const stop = (signal) => {
    log('INFO', `${name} received ${signal}, shutting down`);
    server.close(() => process.exit(0));
    if (typeof server.closeIdleConnections === 'function') {
      server.closeIdleConnections();
    }
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return server;
}

module.exports = { log, runService };
