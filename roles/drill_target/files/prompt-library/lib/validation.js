'use strict';

const MAX_TEMPLATE_BODY_LENGTH = 100000;
const PLACEHOLDER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// The fails-validation fault rejects every FAULTY_REJECT_INTERVAL-th validation,
// about 33% of requests, whatever the template contains.
const FAULTY_REJECT_INTERVAL = 3;

// Return the list of problems in a template body (empty when the body is valid).
// Placeholders are written {{name}}, where name is a letter or underscore followed
// by letters, digits or underscores. Spaces inside the braces are allowed.
function findTemplateErrors(body) {
  if (typeof body !== 'string') {
    return ['body must be a string'];
  }
  if (body.trim() === '') {
    return ['body must not be empty'];
  }
  if (body.length > MAX_TEMPLATE_BODY_LENGTH) {
    return [`body is ${body.length} characters long, more than the maximum of ${MAX_TEMPLATE_BODY_LENGTH}`];
  }

  const errors = [];
  if (body.includes('\u0000')) {
    errors.push('body must not contain NUL characters');
  }

  let position = 0;
  while (position < body.length) {
    const open = body.indexOf('{{', position);
    const strayClose = body.indexOf('}}', position);
    if (strayClose !== -1 && (open === -1 || strayClose < open)) {
      errors.push(`"}}" at offset ${strayClose} has no matching "{{"`);
      position = strayClose + 2;
      continue;
    }
    if (open === -1) {
      break;
    }
    const close = body.indexOf('}}', open + 2);
    if (close === -1) {
      errors.push(`placeholder opened at offset ${open} is never closed with "}}"`);
      break;
    }
    const name = body.slice(open + 2, close).trim();
    if (!PLACEHOLDER_NAME.test(name)) {
      errors.push(`invalid placeholder name ${JSON.stringify(name)} at offset ${open}`);
    }
    position = close + 2;
  }
  return errors;
}

// Template validator with pass and fail counters for /metrics and component health.
// With faulty = true it also rejects every third call, as the fails-validation
// release does.
class TemplateValidator {
  constructor({ faulty }) {
    this.faulty = faulty;
    this.calls = 0;
    this.passed = 0;
    this.failed = 0;
  }

  // Validate one body. Returns {valid, errors}.
  validate(body) {
    this.calls += 1;
    const errors = findTemplateErrors(body);
    if (errors.length === 0 && this.faulty && this.calls % FAULTY_REJECT_INTERVAL === 0) {
      errors.push('template validator failed unexpectedly');
    }
    if (errors.length === 0) {
      this.passed += 1;
    } else {
      this.failed += 1;
    }
    return { valid: errors.length === 0, errors };
  }
}

module.exports = { MAX_TEMPLATE_BODY_LENGTH, TemplateValidator, findTemplateErrors };
