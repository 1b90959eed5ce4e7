# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests for the promptlib.rollback.journal_input_changes filter."""

from __future__ import annotations

from ansible_collections.promptlib.rollback.plugins.filter.journal_input_changes import (
    FilterModule, journal_input_changes)

INPUTS = {'procedure': 'full', 'promptlib_backup_path': '/a.sql', 'promptlib_restore_database': True}


def test_same_inputs_have_no_changes():
    assert journal_input_changes(dict(INPUTS), dict(INPUTS)) == []


def test_no_recorded_inputs_have_no_changes():
    assert journal_input_changes(INPUTS, None) == []
    assert journal_input_changes(INPUTS, {}) == []


def test_changed_value_is_named_with_both_values():
    changes = journal_input_changes({**INPUTS, 'promptlib_backup_path': '/b.sql'}, INPUTS)
    assert changes == ['promptlib_backup_path is "/b.sql", the interrupted run used "/a.sql".']


def test_type_matters():
    changes = journal_input_changes({**INPUTS, 'promptlib_restore_database': 'true'}, INPUTS)
    assert changes == ['promptlib_restore_database is "true", the interrupted run used true.']


def test_one_sided_inputs_differ():
    now = {'procedure': 'full', 'zeta': 1}
    changes = journal_input_changes(now, INPUTS)
    assert changes == [
        'promptlib_backup_path is not set, the interrupted run used "/a.sql".',
        'promptlib_restore_database is not set, the interrupted run used true.',
        'zeta is 1, the interrupted run used not set.',
    ]


def test_nested_values_compare_by_content():
    assert journal_input_changes({'a': {'x': 1, 'y': 2}}, {'a': {'y': 2, 'x': 1}}) == []


def test_filter_is_registered():
    assert FilterModule().filters()['journal_input_changes'] is journal_input_changes
