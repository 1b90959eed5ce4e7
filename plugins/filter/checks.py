# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn validation results into readable lines."""

from __future__ import annotations

DOCUMENTATION = r"""
name: format_check
short_description: Format one validation check as a line of text
version_added: 0.1.0
description:
  - Turns a validation check, a dict with C(name), C(value), C(threshold), C(passed) and
    C(critical), into one line of text. The line holds the name, a colon, the value, the
    threshold in parentheses and the verdict.
  - The verdict is C(passed) for a check that passed. A check that did not pass ends in
    C(FAILED) when it is critical, and in C(failed) followed by C(warning) in parentheses
    otherwise.
  - A missing key is shown as C(unnamed check), C(no value) or C(no threshold).
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

# The message is "response time: 0.012 s (< 1.0 s) passed".
- name: Format one check
  ansible.builtin.debug:
    msg: >-
      {{ {'name': 'response time', 'value': '0.012 s', 'threshold': '< 1.0 s',
          'passed': true, 'critical': false} | promptlib.rollback.format_check }}
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
