# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters that turn PostgreSQL table names from tool output into one form.

pg_dump and quote_ident() quote a name only when they must, and a name such as
public."Mixed Case" contains a space, so the names are parsed, never split on
whitespace. The documentation of each filter is in the YAML file of the same
name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.promptlib.rollback.plugins.module_utils.postgres import (
    format_qualified_name,
    split_qualified_name,
)

COPY_PREFIX = 'COPY '


def pg_table_name(text, quote_all=False):
    """Return the table name at the start of ``text`` in one form.

    Each part is quoted unless it is a bare lower-case name, or every part with
    ``quote_all``. Only the ``quote_all`` form is safe in SQL for a keyword such
    as ``user``.
    """
    try:
        schema, table = split_qualified_name(str(text))
        return format_qualified_name(schema, table, quote_all=bool(quote_all))
    except ValueError as error:
        raise AnsibleFilterError('Failed to read a table name from %r: %s' % (text, error)) from error


def pg_copy_row_counts(lines, separator='\t'):
    """Map each table of ``count<separator>COPY ... FROM stdin;`` lines to its row count.

    The table names are written as pg_table_name returns them without ``quote_all``.
    """
    counts = {}
    for line in lines:
        count, _separator, statement = str(line).partition(separator)
        if not statement.startswith(COPY_PREFIX) or not count.strip().isdigit():
            raise AnsibleFilterError('Invalid line %r: expected a row count, the separator %r and a COPY statement.'
                                     % (line, separator))
        counts[pg_table_name(statement[len(COPY_PREFIX):])] = int(count)
    return counts


class FilterModule:
    """PostgreSQL table name filters."""

    def filters(self):
        return {
            'pg_table_name': pg_table_name,
            'pg_copy_row_counts': pg_copy_row_counts,
        }
