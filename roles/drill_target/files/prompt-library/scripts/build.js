'use strict';

// "npm run build" for a release: there is nothing to compile, so this checks that
// every .js file outside node_modules parses (node --check) and that release.json
// is valid. Reports every problem and exits 1 if there was any.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { loadRelease } = require('../lib/release');

const APP_DIR = path.resolve(__dirname, '..');

function listJavaScriptFiles(dir) {
  const files = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) {
      continue;
    }
    const fullPath = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      files.push(...listJavaScriptFiles(fullPath));
    } else if (entry.isFile() && entry.name.endsWith('.js')) {
      files.push(fullPath);
    }
  }
  return files;
}

function main() {
  let failures = 0;
  const files = listJavaScriptFiles(APP_DIR);
  for (const file of files) {
    const result = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
    if (result.status !== 0) {
      failures += 1;
      process.stderr.write(`syntax check failed: ${path.relative(APP_DIR, file)}\n${result.stderr}\n`);
    }
  }

  try {
    const release = loadRelease(APP_DIR);
    console.log(`release ${release.version} (fault ${release.fault}, schema version ${release.schemaVersion})`);
  } catch (err) {
    failures += 1;
    process.stderr.write(`${err.message}\n`);
  }

  console.log(`checked ${files.length} JavaScript files, ${failures} problems`);
  process.exitCode = failures > 0 ? 1 : 0;
}

main();
