# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter that parses and checks a release-manifest.json."""

from __future__ import annotations

import json
import re

DOCUMENTATION = r"""
name: release_manifest
short_description: Parse and check the release-manifest.json of a release
version_added: 0.1.0
description:
  - Parses the text of a C(release-manifest.json) and checks its fields. A release manifest names the release
    and what belongs with it, so that code, configuration and database go back together.
  - "The manifest is a JSON object: C(release_id) and C(version) (strings), C(schema_version) (the database
    schema version the release expects, a positive integer), C(env_sha256) and C(nginx_sha256) (SHA-256 digests
    of its C(.env) and nginx site), and C(backup): C(null), or an object with the C(path) and C(sha256) of the
    database backup it pairs with."
  - Returns the fields with C(valid) and a list of C(errors), so that a task can fail with all of them at once.
options:
  _input:
    description: Text of the manifest.
    type: str
    required: true
  path:
    description: Path of the manifest, for the error messages.
    type: str
    default: release-manifest.json
"""

EXAMPLES = r"""
- name: Read the manifest of the previous release
  ansible.builtin.slurp:
    path: /opt/prompt-library/previous-stable/release-manifest.json
  register: manifest_file

- name: Check it
  ansible.builtin.assert:
    that: manifest.valid
    fail_msg: "{{ manifest.errors | join(' ') }}"
  vars:
    manifest: "{{ manifest_file.content | b64decode | promptlib.rollback.release_manifest(manifest_file.source) }}"
"""

RETURN = r"""
_value:
  description:
    - The manifest fields C(release_id), C(version), C(schema_version), C(env_sha256), C(nginx_sha256) and
      C(backup), each V(null) when missing or invalid, plus C(valid) (bool) and C(errors) (list of sentences).
  type: dict
"""

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
FIELDS = ("release_id", "version", "schema_version", "env_sha256", "nginx_sha256", "backup")


def _check_string(manifest: dict, key: str, errors: list[str], path: str) -> str | None:
    value = manifest.get(key)
    if isinstance(value, str) and value.strip():
        return value
    errors.append('{0}: "{1}" must be a non-empty string, got {2}.'.format(path, key, json.dumps(value)))
    return None


def _check_sha256(value, label: str, errors: list[str], path: str) -> str | None:
    if isinstance(value, str) and SHA256_PATTERN.match(value):
        return value
    errors.append("{0}: {1} must be 64 lowercase hexadecimal digits, got {2}.".format(path, label, json.dumps(value)))
    return None


def _check_backup(value, errors: list[str], path: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append('{0}: "backup" must be null or an object with "path" and "sha256", got {1}.'.format(
            path, json.dumps(value)))
        return None
    backup_path = value.get("path")
    if not (isinstance(backup_path, str) and backup_path.startswith("/")):
        errors.append('{0}: "backup.path" must be an absolute path, got {1}.'.format(path, json.dumps(backup_path)))
        backup_path = None
    digest = _check_sha256(value.get("sha256"), '"backup.sha256"', errors, path)
    if backup_path is None or digest is None:
        return None
    return {"path": backup_path, "sha256": digest}


def release_manifest(text: str, path: str = "release-manifest.json") -> dict:
    """Parse manifest ``text`` and return its fields with ``valid`` and ``errors``."""
    result = dict.fromkeys(FIELDS)
    errors: list[str] = []
    try:
        manifest = json.loads(text)
    except ValueError as error:
        manifest = None
        errors.append("{0} is not valid JSON: {1}.".format(path, error))
    if manifest is not None and not isinstance(manifest, dict):
        errors.append("{0} must hold a JSON object, got {1}.".format(path, type(manifest).__name__))
        manifest = None

    if manifest is not None:
        result["release_id"] = _check_string(manifest, "release_id", errors, path)
        result["version"] = _check_string(manifest, "version", errors, path)
        schema_version = manifest.get("schema_version")
        # bool is an int in Python, and true is no schema version.
        if isinstance(schema_version, int) and not isinstance(schema_version, bool) and schema_version > 0:
            result["schema_version"] = schema_version
        else:
            errors.append('{0}: "schema_version" must be a positive integer, got {1}.'.format(
                path, json.dumps(schema_version)))
        result["env_sha256"] = _check_sha256(manifest.get("env_sha256"), '"env_sha256"', errors, path)
        result["nginx_sha256"] = _check_sha256(manifest.get("nginx_sha256"), '"nginx_sha256"', errors, path)
        result["backup"] = _check_backup(manifest.get("backup"), errors, path)

    result["valid"] = not errors
    result["errors"] = errors
    return result


class FilterModule:
    """Release manifest filters."""

    def filters(self):
        return {"release_manifest": release_manifest}
