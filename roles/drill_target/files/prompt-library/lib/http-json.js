'use strict';

// JSON request and response helpers shared by the app and the helper services.

const MAX_BODY_BYTES = 1024 * 1024;

// An error that the request dispatcher turns into a JSON response with this status.
class HttpError extends Error {
  constructor(status, message, extraFields = {}) {
    super(message);
    this.status = status;
    this.extraFields = extraFields;
  }
}

function sendJson(res, status, payload, headers = {}) {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function sendText(res, status, text, contentType, headers = {}) {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

// Read the whole request body as UTF-8. Rejects with a 413 HttpError past maxBytes,
// after draining the rest so that the client still receives the response.
function readBody(req, maxBytes = MAX_BODY_BYTES) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      if (size > maxBytes) {
        reject(new HttpError(413, `request body is larger than the maximum of ${maxBytes} bytes`));
        return;
      }
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

// Parse the request body as a JSON object. An empty body counts as {}.
// The Content-Type header is ignored on purpose, because operators call the admin
// API with `curl -d '{...}'`, which labels the JSON body application/x-www-form-urlencoded.
async function readJsonObject(req) {
  const text = await readBody(req);
  if (text.trim() === '') {
    return {};
  }

  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${err.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'request body must be a JSON object');
  }
  return value;
}

module.exports = {
  HttpError,
  MAX_BODY_BYTES,
  readBody,
  readJsonObject,
  sendJson,
  sendText,
};
