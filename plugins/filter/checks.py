# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn validation results into readable lines."""

from __future__ import annotations

DOCUMENTATION = r"""
name: format_check
short_description: Format one validation check as a line of text
version_added: 0.1.0
description:
  - Turns a validation check (a dict with C(name), C(value), C(threshold), C(passed) and
    C(critical)) into one line such as C(response time: 0.012 s (< 1.0 s) passed).
options:
  _input:
    description: The check to format.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show each check
  ansible.builtin.debug:
    msg: "{{ validate_results | map('promptlib.rollback.format_check') | list }}"
"""

RETURN = r"""
_value:
  description: The check as one line.
  type: str
"""


def format_check(check: dict) -> str:
    """Format a validation check as `name: value (threshold) passed|FAILED`."""
    if check.get("passed"):
        verdict = "passed"
    elif check.get("critical"):
        verdict = "FAILED"
    else:
        verdict = "failed (warning)"
    return "{0}: {1} ({2}) {3}".format(
        check.get("name", "unnamed check"),
        check.get("value", "no value"),
        check.get("threshold", "no threshold"),
        verdict,
    )


class FilterModule:
    """Validation result filters."""

    def filters(self):
        return {"format_check": format_check}
