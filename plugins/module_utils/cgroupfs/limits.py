# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memory limits a user asks for, in the vocabulary of memory.py (``memory_max``, ...).

Sizes as users write them (``512M``, ``1.5G``, ``max``: procfs/sizes.py) become page-rounded
bytes, checked for the order the kernel's limits only make sense in:
memory_min <= memory_low <= memory_high <= memory_max.
"""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs.memory import SIZE_KEYS
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import sizes
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import MAX, human, less_or_equal

# memory_max and memory_high below this leave nothing to run in.
MIN_LIMIT = 1 << 20
# The order the sizes must keep.
ORDER = ("memory_min", "memory_low", "memory_high", "memory_max")


def parse_limits(params, page=None):
    """The size keys given in ``params``, parsed and rounded down to whole pages (as the kernel
    does), and a list of problems: unparsable sizes, a limit below 1M, and sizes out of the
    order memory_min <= memory_low <= memory_high <= memory_max. Reads nothing."""
    page = page or sizes.page_size()
    desired, errors = {}, []
    for key in SIZE_KEYS:
        if params.get(key) is None:
            continue
        try:
            value = sizes.round_to_page(sizes.parse_size(params[key], key), page)
        except sizes.SizeError as error:
            errors.append(str(error))
            continue
        if key in ("memory_max", "memory_high") and value != MAX and value < MIN_LIMIT:
            errors.append("%s: %s is below 1M; nothing can run in so little memory (use max for no limit)"
                          % (key, params[key]))
            continue
        desired[key] = value
    given = [key for key in ORDER if key in desired]
    for low_index, low in enumerate(given):
        for high in given[low_index + 1:]:
            if not less_or_equal(desired[low], desired[high]):
                errors.append("%s (%s) must not be above %s (%s)" % (low, human(desired[low]), high, human(desired[high])))
    return desired, errors


def shown(key, value):
    """A value for a person: sizes as 512M, missing files as "-"."""
    if value is None:
        return "-"
    return human(value) if key in SIZE_KEYS else value
