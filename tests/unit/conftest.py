# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared fixtures for the unit tests.

This folder is put on sys.path so that tests anywhere below it can write
``from module_harness import ...``. See that module for the module test helpers.
"""

from __future__ import annotations

import contextlib
import os
import sys

import pytest

_UNIT_TEST_FOLDER = os.path.dirname(os.path.abspath(__file__))
if _UNIT_TEST_FOLDER not in sys.path:
    sys.path.insert(0, _UNIT_TEST_FOLDER)

from module_harness import patch_module_exits, set_module_args  # noqa: E402


@pytest.fixture
def module_exits():
    """Patch AnsibleModule so that exit_json and fail_json raise AnsibleExitJson and
    AnsibleFailJson from module_harness for the duration of the test."""
    with patch_module_exits():
        yield


@pytest.fixture
def module_args():
    """Return a function that sets the module arguments for the rest of the test.

    Use it where a ``with set_module_args(...)`` block does not fit, for example in
    a parametrized test that builds its arguments in several steps.
    """
    with contextlib.ExitStack() as stack:
        yield lambda args: stack.enter_context(set_module_args(args))
