'use strict';

const fs = require('fs');
const path = require('path');

// Faults a release can carry, so that drills have real failures to roll back from.
const FAULTS = ['none', 'wont-start', 'slow', 'corrupts-data', 'fails-validation'];

class ReleaseError extends Error {}

// Read and check release.json from the app folder: {"version", "fault", "schema_version"}.
// A missing "fault" means "none". Throws ReleaseError naming the file and the field.
function loadRelease(appDir) {
  const file = path.join(appDir, 'release.json');
  let data;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ReleaseError(`cannot read release file ${file}: ${err.message}`);
  }

  if (typeof data.version !== 'string' || data.version.trim() === '') {
    throw new ReleaseError(`${file}: "version" must be a non-empty string`);
  }
  const fault = data.fault === undefined ? 'none' : data.fault;
  if (!FAULTS.includes(fault)) {
    throw new ReleaseError(`${file}: "fault" must be one of ${FAULTS.join(', ')}, got ${JSON.stringify(fault)}`);
  }
  if (!Number.isInteger(data.schema_version) || data.schema_version < 1) {
    throw new ReleaseError(`${file}: "schema_version" must be a positive integer`);
  }

  return { version: data.version, fault, schemaVersion: data.schema_version };
}

module.exports = { FAULTS, ReleaseError, loadRelease };
