# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the pg_table_name and pg_copy_row_counts filters."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.promptlib.rollback.plugins.filter.postgres_tables import (
    FilterModule,
    pg_copy_row_counts,
    pg_table_name,
)


def test_filters_registered():
    assert set(FilterModule().filters()) == {'pg_table_name', 'pg_copy_row_counts'}


@pytest.mark.parametrize('text, expected', [
    ('public.prompt_templates', 'public.prompt_templates'),
    ('"public"."prompt_templates"', 'public.prompt_templates'),
    ('public."Mixed Case"', 'public."Mixed Case"'),
    ('audit.events', 'audit.events'),
    ('public."user"', 'public.user'),
    ('public."1st"', 'public."1st"'),
])
def test_table_name_minimal_quoting(text, expected):
    assert pg_table_name(text) == expected


@pytest.mark.parametrize('text, expected', [
    ('public.prompt_templates', '"public"."prompt_templates"'),
    ('public."Mixed Case"', '"public"."Mixed Case"'),
    ('public.user', '"public"."user"'),
])
def test_table_name_quote_all(text, expected):
    assert pg_table_name(text, quote_all=True) == expected


def test_table_name_invalid():
    with pytest.raises(AnsibleFilterError, match='Failed to read a table name'):
        pg_table_name('(id)')


def test_copy_row_counts_mixed_names():
    lines = [
        '2\tCOPY public."Mixed Case" (id, "Full Name") FROM stdin;',
        '0\tCOPY audit.events (id, at) FROM stdin;',
        '5\tCOPY public.prompt_templates (id, name) FROM stdin;',
    ]
    counts = pg_copy_row_counts(lines)
    assert counts == {
        'public."Mixed Case"': 2,
        'audit.events': 0,
        'public.prompt_templates': 5,
    }


@pytest.mark.parametrize('line', [
    'public.t\t2',
    '2 COPY public.t (id) FROM stdin;',
    'x\tCOPY public.t (id) FROM stdin;',
])
def test_copy_row_counts_invalid_line(line):
    with pytest.raises(AnsibleFilterError, match='Invalid line'):
        pg_copy_row_counts([line])
