#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: release
short_description: Switch the live release folder back to the previous stable release
version_added: 0.1.0
description:
  - Replaces the live release folder O(current) of the application root O(path) with a copy of
    O(previous), and keeps the replaced release as O(failed_prefix) followed by O(timestamp).
  - Checks before it changes anything that O(previous) exists, is a non-empty folder and contains
    every file in O(required_files). It never picks a release by modification time.
  - Compares O(current) and O(previous) by a content fingerprint (relative paths, modes, symbolic link
    targets and SHA-256 of file contents) and does nothing when they are equal, so a finished rollback
    can run again without changes.
  - Copies O(previous) to a hidden staging folder C(.<current>-staging-<timestamp>) next to O(current),
    keeping symbolic links, modes, modification times and, when run as root, owners. The staged copy
    is then renamed to the failed-release name and swapped with O(current) in one atomic
    C(renameat2) call with the C(RENAME_EXCHANGE) flag, so O(current) never goes missing.
  - Where the kernel or file system does not support C(RENAME_EXCHANGE) (Linux before 3.15, some
    network and FUSE file systems, other systems), O(current) is renamed aside and the staged copy renamed
    into its place. Between those two renames O(current) does not exist. A run interrupted there can be
    run again, because a missing O(current) is then filled from O(previous).
  - O(previous) is copied, not moved, so the rollback can be repeated.
  - Staging folders left by an interrupted run contain only copies of O(previous) and are removed before
    a new copy is made. Dependencies are not reinstalled, so O(previous) should contain its
    C(node_modules).
author:
  - promptlib.rollback developers (@promptlib)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Runs every check and returns the failed-release path and the versions it would produce.
  diff_mode:
    support: full
    details: Shows the release version of O(current) before and after, from C(release.json) or else the fingerprint.
  platform:
    platforms: posix
options:
  path:
    description:
      - Application root that contains O(current) and O(previous).
    type: path
    default: /opt/prompt-library
  current:
    description:
      - Name of the live release folder in O(path).
    type: str
    default: current
  previous:
    description:
      - Name of the previous stable release folder in O(path), or an absolute path.
    type: str
    default: previous-stable
  failed_prefix:
    description:
      - Prefix of the name that the replaced release gets in O(path). O(timestamp) follows it.
    type: str
    default: current-failed-
  timestamp:
    description:
      - Timestamp in the failed-release and staging names, in the form C(YYYYmmdd_HHMMSS).
      - Defaults to the current time in UTC. Pass one value to every rollback step of a run, so that the
        names of its artifacts match.
    type: str
  required_files:
    description:
      - Paths relative to O(previous) that must exist for O(previous) to count as a complete release.
    type: list
    elements: str
    default: [package.json]
  check_dependencies:
    description:
      - Read C(package.json) of O(previous) and require the file named by its C(main) field and a
        C(node_modules/<name>/package.json) for every entry of its C(dependencies), since the module
        does not reinstall them and a release without them does not start.
      - Also require every package that C(package-lock.json) (lockfile version 2 or 3) installs, which
        includes the dependencies of dependencies, except optional and development packages.
      - Skipped when O(previous) has no C(package.json).
    type: bool
    default: true
notes:
  - The fingerprint reads every file of both releases, so its run time grows with the size of
    C(node_modules).
  - Owners are kept only when the module runs as root. The fingerprint does not include owners.
  - The free-space check before the copy compares the sum of file sizes with the free space, which is an
    estimate that ignores block rounding and directories.
  - If the failed-release name already exists the module fails before changing anything, unless that
    folder is an exact copy of O(previous) left by an interrupted run, which it then uses as the staged copy.
    A run interrupted at that point and run again with a new timestamp leaves that copy behind under the
    old failed-release name.
'''

EXAMPLES = r'''
- name: Switch to the previous stable release
  promptlib.rollback.release:
    path: /opt/prompt-library
  register: rollback_release

- name: Switch with the timestamp shared by the other rollback steps
  promptlib.rollback.release:
    path: /opt/prompt-library
    previous: /srv/releases/2024-05-01
    timestamp: "{{ rollback_timestamp }}"
    required_files:
      - package.json
      - node_modules
      - ecosystem.config.js
'''

RETURN = r'''
failed_path:
  description: Path that the replaced release was kept at, or would be in check mode. Null when nothing was replaced.
  returned: always
  type: str
  sample: /opt/prompt-library/current-failed-20240501_101500
current_version_before:
  description:
    - Version of O(current) before the run, from the C(version) field of its C(release.json), else its fingerprint.
    - Null when O(current) did not exist.
  returned: always
  type: str
  sample: 2.4.0
current_version_after:
  description: Version of O(current) after the run, in the same form as RV(current_version_before).
  returned: always
  type: str
  sample: 2.3.1
fingerprint:
  description: Content fingerprint of O(previous), which O(current) has after the run.
  returned: always
  type: str
  sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
removed_staging:
  description: Staging folders of interrupted runs that were removed, or would be in check mode.
  returned: always
  type: list
  elements: str
  sample: [/opt/prompt-library/.current-staging-20240501_101000]
switch_method:
  description:
    - How O(current) was replaced. V(exchange) is the atomic swap, V(rename) the two-rename fallback, and
      V(create) means O(current) did not exist. Null when nothing changed. In check mode, the method that
      would be tried first.
  returned: always
  type: str
  sample: exchange
'''

import ctypes  # noqa: E402 (Ansible modules import after their documentation)
import errno  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.promptlib.rollback.plugins.module_utils.common import (  # noqa: E402
    is_valid_timestamp,
    utc_timestamp,
)

# Linux values from <fcntl.h> and <linux/fs.h>.
AT_FDCWD = -100
RENAME_EXCHANGE = 1 << 1

HASH_CHUNK_BYTES = 1024 * 1024


class ReleaseError(Exception):
    """A check or step of the switch failed. The message is a full sentence for fail_json."""


class ExchangeUnsupported(Exception):
    """renameat2 with RENAME_EXCHANGE is not available for these paths."""


class TreeFingerprint:
    """Content fingerprint of a folder tree, with what the checks before a copy need."""

    def __init__(self, digest: str, special_files: list, size_bytes: int, entries: int) -> None:
        self.digest = digest
        self.special_files = special_files
        self.size_bytes = size_bytes
        self.entries = entries


# ===========================================================================
# Fingerprints and versions
# ===========================================================================

def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(root: str, relative: str = ''):
    """Yield (relative path, absolute path, lstat result) for every entry under ``root``.

    Symbolic links are reported, never followed.
    """
    folder = os.path.join(root, relative) if relative else root
    with os.scandir(folder) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        entry_relative = os.path.join(relative, name) if relative else name
        entry_path = os.path.join(root, entry_relative)
        entry_stat = os.lstat(entry_path)
        yield entry_relative, entry_path, entry_stat
        if stat.S_ISDIR(entry_stat.st_mode):
            yield from _walk(root, entry_relative)


def fingerprint_tree(root: str) -> TreeFingerprint:
    """Fingerprint the tree under ``root`` (a symbolic link to a folder is followed).

    Each entry adds its type, relative path, permission bits and either the SHA-256 of
    its content or its link target. Modification times and owners are left out, so a
    copy has the fingerprint of its source.
    """
    digest = hashlib.sha256()
    special_files = []
    size_bytes = 0
    entries = 0
    real_root = os.path.realpath(root)
    for relative, path, entry_stat in sorted(_walk(real_root), key=lambda item: item[0]):
        entries += 1
        mode = entry_stat.st_mode
        if stat.S_ISLNK(mode):
            record = ('link', relative, '', os.readlink(path))
        elif stat.S_ISDIR(mode):
            record = ('dir', relative, '%o' % stat.S_IMODE(mode), '')
        elif stat.S_ISREG(mode):
            size_bytes += entry_stat.st_size
            record = ('file', relative, '%o' % stat.S_IMODE(mode), _hash_file(path))
        else:
            special_files.append(path)
            record = ('special', relative, '%o' % mode, '')
        digest.update(b'\0'.join(os.fsencode(part) for part in record) + b'\n')
    return TreeFingerprint('sha256:' + digest.hexdigest(), special_files, size_bytes, entries)


def read_release_version(folder: str) -> str | None:
    """Return the ``version`` field of ``release.json`` in ``folder``, or None."""
    try:
        with open(os.path.join(folder, 'release.json'), 'rb') as handle:
            data = json.loads(handle.read().decode('utf-8'))
    except (OSError, ValueError):
        return None
    version = data.get('version') if isinstance(data, dict) else None
    if version is None or isinstance(version, (dict, list)):
        return None
    return str(version)


# ===========================================================================
# Copying and switching
# ===========================================================================

def copy_release(source: str, destination: str) -> None:
    """Copy the tree ``source`` to the new folder ``destination``.

    Keeps symbolic links as links, and modes and modification times of every entry.
    When run as root, also keeps owners and groups. chown clears the setuid and setgid
    bits, so the modes are set again after it.
    """
    real_source = os.path.realpath(source)
    shutil.copytree(real_source, destination, symlinks=True, copy_function=shutil.copy2)
    if os.geteuid() != 0:
        return
    entries = [('', real_source, os.lstat(real_source))] + list(_walk(real_source))
    for relative, path, entry_stat in entries:
        target = os.path.join(destination, relative) if relative else destination
        os.lchown(target, entry_stat.st_uid, entry_stat.st_gid)
        if not stat.S_ISLNK(entry_stat.st_mode):
            os.chmod(target, stat.S_IMODE(entry_stat.st_mode))


def rename_exchange(first: str, second: str) -> None:
    """Swap the names ``first`` and ``second`` atomically with Linux renameat2.

    Raises ExchangeUnsupported when the C library, the kernel or the file system lacks
    RENAME_EXCHANGE, and OSError for other failures.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        renameat2 = libc.renameat2
    except AttributeError:
        raise ExchangeUnsupported('the C library has no renameat2 function') from None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return
    error = ctypes.get_errno()
    # ENOSYS: kernel before 3.15 or a seccomp filter. EINVAL: file system without support.
    if error in (errno.ENOSYS, errno.EINVAL):
        raise ExchangeUnsupported(os.strerror(error))
    raise OSError(error, os.strerror(error), first, None, second)


def switch_release(staging: str, current: str, failed: str) -> str:
    """Put the staged copy at ``current`` and keep the old ``current`` at ``failed``.

    The staged copy first takes the name ``failed`` and is then exchanged with
    ``current`` in one atomic step. A staging name therefore never holds the live or
    the failed release, even if the run stops between two steps, which keeps leftover
    staging folders safe to delete. Returns "exchange", or "rename" for the fallback
    used when RENAME_EXCHANGE is not supported.
    """
    os.rename(staging, failed)
    try:
        rename_exchange(failed, current)
        return 'exchange'
    except ExchangeUnsupported:
        os.rename(failed, staging)
    # Fallback: current does not exist between these two renames.
    os.rename(current, failed)
    try:
        os.rename(staging, current)
    except OSError:
        os.rename(failed, current)
        raise
    return 'rename'


# ===========================================================================
# Checks before anything changes
# ===========================================================================

def check_name(option: str, value: str) -> None:
    if not value or '/' in value or value in ('.', '..') or '\0' in value:
        raise ReleaseError('The %s option must be a plain folder name without "/", got %r.' % (option, value))


def missing_dependencies(previous_path: str) -> list:
    """Return the entry point and installed dependencies that package.json names but the release lacks."""
    manifest_path = os.path.join(previous_path, 'package.json')
    if not os.path.isfile(manifest_path):
        return []
    try:
        with open(manifest_path, encoding='utf-8') as manifest_file:
            manifest = json.load(manifest_file)
    except (OSError, ValueError) as error:
        raise ReleaseError('The previous release %s has an unreadable package.json: %s. Restore it from the '
                           'release archive, or set check_dependencies to false.' % (previous_path, error)) from None
    if not isinstance(manifest, dict):
        raise ReleaseError('The package.json of the previous release %s is not a JSON object. Restore it from the '
                           'release archive, or set check_dependencies to false.' % previous_path)
    missing = []
    main_file = manifest.get('main')
    if isinstance(main_file, str) and main_file and not os.path.exists(os.path.join(previous_path, main_file)):
        missing.append(main_file)
    dependencies = manifest.get('dependencies')
    installed = ['node_modules/%s' % name for name in (dependencies if isinstance(dependencies, dict) else {})]
    installed.extend(locked_packages(previous_path))
    for folder in sorted(set(installed)):
        if not os.path.isfile(os.path.join(previous_path, folder, 'package.json')):
            missing.append(folder)
    return missing


def locked_packages(previous_path: str) -> list:
    """Return the node_modules folders that package-lock.json installs outside development.

    Reads the ``packages`` map of lockfile version 2 and 3, which also lists the dependencies
    of dependencies. Optional and development packages are left out, since a production
    install may skip them. An unreadable lock file adds nothing: package.json is checked anyway.
    """
    try:
        with open(os.path.join(previous_path, 'package-lock.json'), encoding='utf-8') as lock_file:
            packages = json.load(lock_file).get('packages')
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(packages, dict):
        return []
    skipped = ('dev', 'optional', 'devOptional')
    return [folder for folder, entry in packages.items()
            if folder.startswith('node_modules/') and isinstance(entry, dict)
            and not any(entry.get(flag) for flag in skipped)]


def check_previous(previous_path: str, required_files: list, check_dependencies: bool = True) -> TreeFingerprint:
    """Check that ``previous_path`` is a complete release and return its fingerprint."""
    fix = ('Restore it from the release archive or a backup, or set the previous option (promptlib_previous_release '
           'in the rollback playbooks) to the release to return to.')
    if not os.path.exists(previous_path):
        raise ReleaseError('No previous release to roll back to: %s does not exist. %s' % (previous_path, fix))
    if not os.path.isdir(previous_path):
        raise ReleaseError('No previous release to roll back to: %s is not a folder. %s' % (previous_path, fix))
    if not os.listdir(previous_path):
        raise ReleaseError('No previous release to roll back to: %s is empty. %s' % (previous_path, fix))
    missing = []
    for required in required_files:
        parts = required.split('/')
        if os.path.isabs(required) or '..' in parts or not required:
            raise ReleaseError('The required_files entry %r must be a path relative to the release without "..".'
                               % required)
        if not os.path.exists(os.path.join(previous_path, required)):
            missing.append(required)
    if check_dependencies:
        missing.extend(name for name in missing_dependencies(previous_path) if name not in missing)
    if missing:
        named = ', '.join(missing[:5]) + (' and %d more' % (len(missing) - 5) if len(missing) > 5 else '')
        raise ReleaseError('The previous release %s is incomplete: %s missing. %s'
                           % (previous_path, named + (' is' if len(missing) == 1 else ' are'), fix))
    fingerprint = fingerprint_tree(previous_path)
    if fingerprint.special_files:
        raise ReleaseError('The previous release %s contains files that cannot be copied (sockets, FIFOs or '
                           'devices): %s. Remove them from the release.'
                           % (previous_path, ', '.join(fingerprint.special_files[:5])))
    return fingerprint


def check_free_space(root: str, fingerprint: TreeFingerprint, previous_path: str) -> None:
    free = shutil.disk_usage(root).free
    if fingerprint.size_bytes > free:
        raise ReleaseError('Not enough free space in %s to copy %s: the files need about %d MiB and %d MiB are '
                           'free. Free some space, for example by removing old failed releases.'
                           % (root, previous_path, fingerprint.size_bytes // 2 ** 20, free // 2 ** 20))


def leftover_staging(root: str, current: str) -> list:
    prefix = '.%s-staging-' % current
    return sorted(os.path.join(root, name) for name in os.listdir(root) if name.startswith(prefix))


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def exchange_probably_supported() -> bool:
    try:
        ctypes.CDLL(None).renameat2
    except AttributeError:
        return False
    return True


# ===========================================================================
# Module
# ===========================================================================

class ReleaseSwitch:
    """One run of the module: the checks, then the switch unless in check mode."""

    def __init__(self, module: AnsibleModule) -> None:
        params = module.params
        self.module = module
        self.root = params['path']
        self.current_name = params['current']
        self.timestamp = params['timestamp'] if params['timestamp'] is not None else utc_timestamp()
        self.current = os.path.join(self.root, params['current'])
        self.previous = os.path.join(self.root, params['previous'])
        self.failed = os.path.join(self.root, params['failed_prefix'] + self.timestamp)
        self.staging = os.path.join(self.root, '.%s-staging-%s' % (params['current'], self.timestamp))
        self.required_files = params['required_files']
        self.check_dependencies = params['check_dependencies']

    def check_options(self) -> None:
        params = self.module.params
        if not is_valid_timestamp(self.timestamp):
            raise ReleaseError('The timestamp %r is invalid: it must have the form YYYYmmdd_HHMMSS, for example %s.'
                               % (self.timestamp, utc_timestamp()))
        check_name('current', params['current'])
        check_name('failed_prefix', params['failed_prefix'])
        if not params['previous']:
            raise ReleaseError('The previous option must not be empty.')
        if not os.path.isdir(self.root):
            raise ReleaseError('The application root %s does not exist or is not a folder. Set path to the folder '
                               'that contains %s and %s.' % (self.root, params['current'], params['previous']))
        if os.path.realpath(self.previous) == os.path.realpath(self.current):
            raise ReleaseError('The previous release %s is the live release %s. Set previous to another release.'
                               % (self.previous, self.current))

    def run(self) -> dict:
        self.check_options()
        previous_print = check_previous(self.previous, self.required_files, self.check_dependencies)
        current_exists = os.path.lexists(self.current)
        current_print = None
        if current_exists:
            if not os.path.isdir(self.current):
                raise ReleaseError('The live release %s exists but is not a folder. Move it away and run again.'
                                   % self.current)
            current_print = fingerprint_tree(self.current)

        version_before = None
        if current_exists:
            version_before = read_release_version(self.current) or current_print.digest
        version_after = read_release_version(self.previous) or previous_print.digest
        result = dict(changed=False, failed_path=None, fingerprint=previous_print.digest,
                      current_version_before=version_before, current_version_after=version_after,
                      removed_staging=[], switch_method=None)
        if self.module._diff:
            result['diff'] = dict(before_header='%s (release version)' % self.current,
                                  after_header='%s (release version)' % self.current,
                                  before='%s\n' % version_before if version_before else '',
                                  after='%s\n' % version_after)

        if current_print is not None and current_print.digest == previous_print.digest:
            return result

        result['changed'] = True
        resume = False
        if current_exists:
            result['failed_path'] = self.failed
            if os.path.lexists(self.failed):
                resume = os.path.isdir(self.failed) and fingerprint_tree(self.failed).digest == previous_print.digest
                if not resume:
                    raise ReleaseError('The failed-release name %s already exists, so the live release cannot be kept '
                                       'under it. Nothing was changed. Pass another timestamp or move that folder.'
                                       % self.failed)
        if not resume:
            check_free_space(self.root, previous_print, self.previous)
        result['removed_staging'] = leftover_staging(self.root, self.current_name)

        if self.module.check_mode:
            if not current_exists:
                result['switch_method'] = 'create'
            else:
                result['switch_method'] = 'exchange' if exchange_probably_supported() else 'rename'
            return result

        for path in result['removed_staging']:
            remove_path(path)
        if not resume:
            self._stage()
        result['switch_method'] = self._switch(current_exists, resume)
        return result

    def _stage(self) -> None:
        try:
            copy_release(self.previous, self.staging)
        except (OSError, shutil.Error) as error:
            if os.path.lexists(self.staging):
                shutil.rmtree(self.staging, ignore_errors=True)
            raise ReleaseError('Failed to copy the previous release %s to %s: %s. Nothing was switched, %s is '
                               'unchanged. Check permissions and free space, then run again.'
                               % (self.previous, self.staging, error, self.current)) from None

    def _switch(self, current_exists: bool, resume: bool) -> str:
        try:
            if resume:
                # An interrupted run left the staged copy under the failed-release name.
                os.rename(self.failed, self.staging)
            if not current_exists:
                os.rename(self.staging, self.current)
                return 'create'
            return switch_release(self.staging, self.current, self.failed)
        except OSError as error:
            raise ReleaseError('Failed to switch %s to the staged copy of %s: %s. Check %s, %s and %s, then run '
                               'again.' % (self.current, self.previous, error, self.current, self.failed,
                                           self.staging)) from None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/opt/prompt-library'),
            current=dict(type='str', default='current'),
            previous=dict(type='str', default='previous-stable'),
            failed_prefix=dict(type='str', default='current-failed-'),
            timestamp=dict(type='str'),
            required_files=dict(type='list', elements='str', default=['package.json']),
            check_dependencies=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    try:
        result = ReleaseSwitch(module).run()
    except ReleaseError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
