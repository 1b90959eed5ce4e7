# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Helpers to run an Ansible module's ``main()`` inside a unit test.

A module ends by calling ``exit_json`` or ``fail_json``, which print JSON and call
``sys.exit``. The tests patch both to raise `AnsibleExitJson` or `AnsibleFailJson`
instead, so the result is a dictionary that the test can inspect.

Usage with the ``module_exits`` fixture from ``tests/unit/conftest.py``::

    from module_harness import AnsibleExitJson, AnsibleFailJson, set_module_args

    def test_release_no_previous(module_exits, tmp_path):
        with set_module_args({'path': str(tmp_path)}):
            with pytest.raises(AnsibleFailJson) as failure:
                release.main()
        assert 'No previous release' in failure.value.result['msg']

`run_module` does both steps and returns ``(result, failed)``. Without the fixture,
`patch_module_exits` is a context manager that does the same patching.

`set_module_args` works with ansible-core 2.17 and 2.18, where AnsibleModule reads
``ansible.module_utils.basic._ANSIBLE_ARGS``, and with 2.19 and later, where
``ansible.module_utils.testing.patch_module_args`` is the supported way. Arguments are
not masked by ``no_log`` here, so a test that checks for leaked secrets gets the raw
result.
"""

from __future__ import annotations

import contextlib
import json
import typing as t
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args as _patch_module_args
except ImportError:  # ansible-core 2.18 and older
    _patch_module_args = None

# Internal arguments that AnsibleModule expects from the controller.
INTERNAL_ARGS = (('_ansible_remote_tmp', '/tmp'), ('_ansible_keep_remote_files', False))


class AnsibleExitJson(Exception):
    """Raised in place of ``AnsibleModule.exit_json``. ``result`` is the module result."""

    def __init__(self, result: dict) -> None:
        super().__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    """Raised in place of ``AnsibleModule.fail_json``. ``result`` is the module result,
    with ``failed`` set and the message in ``msg``."""

    def __init__(self, result: dict) -> None:
        super().__init__(result)
        self.result = result


def exit_json(module: t.Any, **kwargs: t.Any) -> t.NoReturn:
    kwargs.setdefault('changed', False)
    raise AnsibleExitJson(kwargs)


def fail_json(module: t.Any, msg: str = '', **kwargs: t.Any) -> t.NoReturn:
    kwargs['failed'] = True
    kwargs['msg'] = msg
    raise AnsibleFailJson(kwargs)


@contextlib.contextmanager
def set_module_args(args: dict | None = None) -> t.Iterator[None]:
    """Make AnsibleModule instances created inside the block receive ``args``.

    The ``_ansible_check_mode`` and ``_ansible_diff`` keys turn on check and diff mode.
    ``args`` itself is not changed.
    """
    module_args = dict(args or {})
    for key, value in INTERNAL_ARGS:
        module_args.setdefault(key, value)
    if _patch_module_args is not None:
        with _patch_module_args(module_args):
            yield
        return
    serialized = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': module_args}))
    with mock.patch.object(basic, '_ANSIBLE_ARGS', serialized):
        yield


@contextlib.contextmanager
def patch_module_exits() -> t.Iterator[None]:
    """Make ``exit_json`` and ``fail_json`` raise AnsibleExitJson and AnsibleFailJson."""
    with mock.patch.multiple(basic.AnsibleModule, exit_json=exit_json, fail_json=fail_json):
        yield


def run_module(main: t.Callable[[], None], args: dict | None = None) -> tuple[dict, bool]:
    """Run a module's ``main`` with ``args`` and return ``(result, failed)``.

    Fails the test with AssertionError if ``main`` returns without calling
    ``exit_json`` or ``fail_json``.
    """
    with patch_module_exits(), set_module_args(args):
        try:
            main()
        except AnsibleExitJson as exit_:
            return exit_.result, False
        except AnsibleFailJson as failure:
            return failure.result, True
    raise AssertionError('The module returned without calling exit_json or fail_json.')
