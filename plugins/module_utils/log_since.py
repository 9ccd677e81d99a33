# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``since``, as an operator writes it for oom_facts: which part of the kernel log to read.

Standard library only, like kernel_log.py.
"""

from __future__ import annotations

import datetime
import re
import time

# The latest ``since`` a time can be: 9999-12-31T23:59:59Z, the last second datetime can show.
MAX_SINCE = 253402300799
# An age (-24h) may reach before 1970, where it means everything, but not before the year 1.
MIN_AGE_SINCE = -62135596800

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(
    r"^-?\s*(?P<n>\d+)\s*(?P<unit>s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)"
    r"(?:\s+ago)?$"
)


def parse_since(value, now=None, boot_time=None):
    """Turn a ``since`` value into seconds since the epoch (None for no limit).

    Accepts ``boot`` (this boot; needs ``boot_time``), a relative age (``-24h``, ``30m``,
    ``7 days ago``), seconds since the epoch (``1714557600`` or ``@1714557600``) and ISO 8601
    (``2024-05-01T10:00:00+02:00``, ``2024-05-01 10:00``; without an offset it is local time).
    Raises ValueError, its message starting with ``since``, for anything else and for a time
    before 1970 or after MAX_SINCE (the end of the year 9999); an age may reach back before 1970
    (it then means everything), not before the year 1.
    """
    if value is None:
        return None
    text = str(value).strip()
    if text in ("", "all", "none"):
        return None
    now = time.time() if now is None else now
    if text == "boot":
        if boot_time is None:
            raise ValueError("since=boot needs the boot time (btime in /proc/stat)")
        return float(boot_time)
    match = _RELATIVE.match(text.lower())
    if match:
        age = int(match.group("n")) * _UNITS[match.group("unit")[0]]
        return _in_range(value, now - min(age, now - MIN_AGE_SINCE + 1), MIN_AGE_SINCE)
    if re.match(r"^@?\d+(\.\d+)?$", text):
        return _in_range(value, float(text.lstrip("@")))
    try:
        parsed = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        return _in_range(value, parsed.timestamp())
    except (ValueError, OverflowError, OSError) as error:
        if str(error).startswith("since "):
            raise
        raise ValueError("since %r is not 'boot', an age such as -24h, seconds since the epoch or an "
                         "ISO 8601 date and time" % value)


def _in_range(value, timestamp, minimum=0):
    if not minimum <= timestamp <= MAX_SINCE:
        raise ValueError("since %r is out of range: the time must be between %s and the end of 9999 "
                         "(%d to %d seconds since the epoch)" % (value, "1970" if minimum == 0 else "the year 1",
                                                                 minimum, MAX_SINCE))
    return timestamp
