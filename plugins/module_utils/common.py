# -*- coding: utf-8 -*-
# Copyright: promptlib.rollback developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Small helpers shared by the promptlib.rollback modules."""

from __future__ import annotations

import datetime
import re

# Format of the timestamps that name failed releases, failed-state dumps and staging
# folders. It is the format of the runbook's `date +%Y%m%d_%H%M%S`.
TIMESTAMP_FORMAT = '%Y%m%d_%H%M%S'
TIMESTAMP_PATTERN = re.compile(r'^[0-9]{8}_[0-9]{6}$')


def utc_timestamp(now: datetime.datetime | None = None) -> str:
    """Format ``now`` (default: the current time) in UTC as ``YYYYmmdd_HHMMSS``.

    A naive ``now`` is taken to be in UTC already.
    """
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    elif now.tzinfo is not None:
        now = now.astimezone(datetime.timezone.utc)
    return now.strftime(TIMESTAMP_FORMAT)


def is_valid_timestamp(value: str) -> bool:
    """Return whether ``value`` has the ``YYYYmmdd_HHMMSS`` form of `utc_timestamp`.

    The check is on the form only, and it uses fullmatch because ``$`` alone would
    also accept a trailing newline.
    """
    return bool(TIMESTAMP_PATTERN.fullmatch(value))
