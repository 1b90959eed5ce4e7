"""Run the database_verify role's backup row count command on a small plain dump.

The command is taken from roles/database_verify/tasks/main.yml and reads the
dump with cat, as the role does for a plain backup, so the test checks the awk
program that the role runs together with the filter that reads its output.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from ansible.parsing.yaml.loader import AnsibleLoader

from ansible_collections.promptlib.rollback.plugins.filter.postgres_tables import pg_copy_row_counts

TASKS = Path(__file__).resolve().parents[3] / "roles" / "database_verify" / "tasks" / "main.yml"
COUNT_TASK = "Count the rows of each table in the backup"

DUMP = '''SET client_encoding = 'UTF8';

COPY audit.events (id, at) FROM stdin;
1\t2026-01-01
2\t2026-01-02
3\t2026-01-03
\\.


COPY public."Mixed Case" (id, "Full Name") FROM stdin;
1\tAda Lovelace
2\tGrace Hopper
\\.


COPY public.prompt_templates (id, name) FROM stdin;
\\.

-- PostgreSQL database dump complete
'''


def count_command(dump: Path) -> str:
    tasks = AnsibleLoader(TASKS.read_text(encoding="utf-8")).get_single_data()
    task = next(task for task in tasks if task["name"] == COUNT_TASK)
    return task["ansible.builtin.shell"]["cmd"].replace("{{ database_verify_read_backup }}", "cat '%s'" % dump)


@pytest.mark.skipif(shutil.which("awk") is None, reason="needs awk")
def test_backup_counts_quoted_names(tmp_path):
    dump = tmp_path / "backup.sql"
    dump.write_text(DUMP, encoding="utf-8")
    output = subprocess.run(["bash", "-c", count_command(dump)], check=True, capture_output=True, text=True).stdout

    counts = pg_copy_row_counts(output.splitlines())

    assert counts == {
        'audit.events': 3,
        'public."Mixed Case"': 2,
        'public.prompt_templates': 0,
    }
