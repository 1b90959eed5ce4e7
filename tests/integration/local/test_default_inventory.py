# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A playbook run without -i must match no host, whatever the machine's own inventory lists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name('ansible-playbook')


@pytest.mark.parametrize('playbook', ['rollback-full.yml', 'rollback.yml', 'rollback-database.yml'])
def test_no_inventory_matches_nothing(playbook):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    env.pop('ANSIBLE_INVENTORY', None)
    completed = subprocess.run([str(ANSIBLE_PLAYBOOK), str(REPO_ROOT / 'playbooks' / playbook), '--list-hosts'],
                               cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    counts = [line.strip() for line in completed.stdout.splitlines() if line.strip().startswith('hosts (')]
    assert counts and all(count == 'hosts (0):' for count in counts), completed.stdout
