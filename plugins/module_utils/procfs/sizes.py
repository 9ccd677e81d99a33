# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory sizes as users write them (``512M``, ``1.5G``, ``max``) and as the kernel keeps them.

Standard library only. Units are binary (1024-based), as the kernel's memparse() and systemd
read ``K``, ``M``, ``G``: ``512M`` is 536870912 bytes. ``KiB``/``MiB``/``GiB``/``TiB`` mean the
same. ``kB``/``MB``/``GB`` are refused because people read them as 1000-based. ``max`` (also
``infinity``, ``unlimited`` and ``-1``) means no limit.

No size is above :data:`LARGEST` (1 PiB, written ``1024T``): far above any board's RAM, and far
below what the kernel cannot hold - memparse() wraps at 2**64 (``2**70`` becomes a limit of 0,
which OOM-kills the group at once) and cgroup v1 reads a limit from 2**62 on back as unlimited.
A bigger number is a typo; ``max`` is how to say "no limit".

The kernel keeps cgroup memory limits in pages and rounds a byte value down to a whole page
(page_counter_memparse()), so a value is compared with what the kernel holds after the same
rounding (:func:`round_to_page`). Reading the kernel's files is cgroupfs/memory.py's job.
"""

from __future__ import annotations

import math
import os
import re

MAX = "max"
UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[A-Za-z]*)\s*$")
_MAX_WORDS = ("max", "infinity", "unlimited", "-1")
# The largest size the collection accepts: 1 PiB (1024T). See the module docstring.
LARGEST = 1 << 50
# More digits than this cannot be a size below LARGEST (and int() refuses more than 4300).
_MOST_DIGITS = 30


class SizeError(ValueError):
    """A size that cannot be parsed, with a message for a person."""


def page_size():
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4096


def _too_large(name, value):
    """The SizeError for a size above LARGEST (a long value shortened)."""
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:36] + "...(%d characters)" % len(shown)
    return SizeError("%s: %s is above the largest size accepted, %s (1 PiB); write max for no limit"
                     % (name, shown, human(LARGEST)))


def _bounded(number, name, value):
    if number > LARGEST:
        raise _too_large(name, value)
    return number


def parse_size(value, name="size"):
    """``512M`` -> 536870912; ``max`` -> ``"max"``. Raises SizeError naming ``name``.

    Integers (and digit strings) are bytes. A fraction is allowed with a unit (``1.5G``);
    the result is rounded down to a whole byte. The result is ``max`` or an int from 0 to
    LARGEST; anything else - a bool, NaN, infinity, a negative number, a size above LARGEST,
    text that is not a size - raises SizeError (a ValueError) whose message starts with
    ``name: ``. No page rounding and no lower bound here: cgroupfs/limits.py adds those.
    """
    if isinstance(value, bool):
        raise SizeError("%s: %r is not a size (use bytes, 512M, 1.5G or max)" % (name, value))
    if isinstance(value, int):
        if value == -1:
            return MAX
        if value < 0:
            raise SizeError("%s: %d is negative" % (name, value))
        return _bounded(value, name, value)
    if isinstance(value, float):
        if value < 0 or not math.isfinite(value) or value != int(value):
            raise SizeError("%s: %r is not a whole number of bytes" % (name, value))
        return _bounded(int(value), name, value)
    if not isinstance(value, str):
        raise SizeError("%s: %r is not a size (use bytes, 512M, 1.5G or max)" % (name, value))
    text = value.strip()
    if text.lower() in _MAX_WORDS:
        return MAX
    match = _SIZE.match(text)
    if not match:
        raise SizeError("%s: %r is not a size (use bytes, 512M, 1.5G or max)" % (name, value))
    number, unit = match.group("number"), match.group("unit").lower()
    if unit.endswith("ib") and len(unit) == 3:
        unit = unit[0]
    elif len(unit) == 2 and unit.endswith("b") and unit[0] in UNITS:
        raise SizeError("%s: %r is ambiguous (%s is read as 1000-based by some and 1024-based by "
                        "others); write %s or %siB, which are 1024-based as in the kernel and systemd"
                        % (name, value, match.group("unit"), unit[0].upper(), unit[0].upper()))
    if unit not in UNITS:
        raise SizeError("%s: %r has an unknown unit %r (known: K, M, G, T, or KiB, MiB, GiB, TiB; "
                        "no unit means bytes)" % (name, value, match.group("unit")))
    if "." in number and (not unit or unit == "b"):
        raise SizeError("%s: %r is not a whole number of bytes" % (name, value))
    if len(number.split(".")[0].lstrip("0")) > _MOST_DIGITS:
        raise _too_large(name, value)
    if "." in number:
        whole, fraction = number.split(".")
        # Exact decimal arithmetic: 1.1G must not come out one byte short through a float. Digits
        # past the 40th after the point cannot change the whole bytes (10**40 is a multiple of
        # 2**40, the largest unit), and int() refuses more than 4300.
        fraction = fraction[:40]
        scaled = int(whole + fraction) * UNITS[unit]
        return _bounded(scaled // (10 ** len(fraction)), name, value)
    return _bounded(int(number) * UNITS[unit], name, value)


def round_to_page(value, page=None):
    """Round bytes down to a whole page, as the kernel does; ``max`` stays ``max``."""
    if value == MAX:
        return MAX
    page = page or page_size()
    return value // page * page


def human(value):
    """``536870912`` -> ``512M`` (exact: only whole K, M, G, T); ``max`` stays ``max``."""
    if value == MAX:
        return MAX
    if value == 0:
        return "0"
    for suffix, factor in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value % factor == 0:
            return "%d%s" % (value // factor, suffix)
    return str(value)


def less_or_equal(low, high):
    """Order two sizes where ``max`` is above every number."""
    if high == MAX:
        return True
    if low == MAX:
        return False
    return low <= high


# A threshold as the monitor's config writes it: a number with a unit, or a percentage.
_AMOUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(%|[kmgt]i?b?|b)\s*$", re.I)


def parse_size_or_percent(value, name="size", allow_percent=True, unit=1):
    """``200M`` -> (200M in multiples of ``unit``, None); ``5%`` -> (None, 5.0). Raises SizeError.

    For thresholds on available memory. Unlike parse_size() a unit is required (is ``200``
    bytes or MiB?) and ``MB``/``GB`` are read as 1024-based like ``M``/``G``: a threshold a few
    percent off does no harm, while a refused config stops the low-memory monitor. The size is
    rounded down to a whole ``unit`` (1024: kB, as /proc/meminfo counts) and must not come out
    zero nor above LARGEST; a percentage lies strictly between 0 and 100.
    """
    if isinstance(value, bool) or not isinstance(value, str) or not _AMOUNT.match(value):
        raise SizeError("%s: %r is not a size; write it with a unit, e.g. 200M, 1G or 5%%" % (name, value))
    match = _AMOUNT.match(value)
    if len(match.group(1).split(".")[0].lstrip("0")) > _MOST_DIGITS:
        raise _too_large(name, value)
    number, suffix = match.group(1), match.group(2).lower()
    if suffix == "%":
        if not allow_percent:
            raise SizeError("%s: a percentage is not allowed here" % name)
        percent = float(number)
        if not 0 < percent < 100:
            raise SizeError("%s: %s is not a percentage between 0 and 100" % (name, value))
        return None, percent
    whole, _dot, fraction = number.partition(".")
    fraction = fraction[:40]
    # Exact decimal arithmetic, as parse_size() does.
    amount = _bounded(int(whole + fraction) * UNITS[suffix[0]] // (10 ** len(fraction)), name, value) // unit
    if amount <= 0:
        raise SizeError("%s: %s is zero" % (name, value))
    return amount, None
