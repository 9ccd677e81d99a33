# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Numbers an operator types: finite, not a boolean, within a range, or a ModuleError naming them.

Ansible's ``float`` turns ``true`` into 1.0 and ``.nan`` into a NaN that compares false with
every limit, and ``int`` keeps a boolean as it is; a module that needs a number takes the
option as ``raw`` (or ``int``) and passes it here, as the controller-side check does, so both
refuse the same values with the same words.
"""

from __future__ import annotations

import math

from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError


def _text(bound):
    return "%d" % bound if bound == int(bound) else "%g" % bound


def _bounds(minimum, maximum):
    if minimum is not None and maximum is not None:
        return "between %s and %s" % (_text(minimum), _text(maximum))
    if minimum is not None:
        return ">= %s" % _text(minimum)
    return "<= %s" % _text(maximum)


def finite_number(value, name, minimum=None, maximum=None):
    """``value`` as a float: an int, a float or a numeric string, finite, not a boolean, within
    [minimum, maximum] (either may be None). Raises ModuleError whose message starts with ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or (isinstance(value, str) and not value.isascii()):
        # float() reads "٥" (Arabic-Indic five) as 5: digits other than 0-9 are a typo, not a number.
        raise ModuleError("%s must be a number, got %r" % (name, value))
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ModuleError("%s must be a number, got %r" % (name, value))
    if not math.isfinite(number):
        raise ModuleError("%s must be a finite number, got %r" % (name, value))
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ModuleError("%s must be %s, got %r" % (name, _bounds(minimum, maximum), value))
    return number


def whole_number(value, name, minimum=None, maximum=None):
    """``value`` as an int: as finite_number(), and without a fraction (``3``, ``3.0``, ``"3"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value  # exact, however large
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise ModuleError("%s must be %s, got %r" % (name, _bounds(minimum, maximum), value))
        return number
    number = finite_number(value, name, minimum, maximum)
    if number != int(number):
        raise ModuleError("%s must be a whole number, got %r" % (name, value))
    return int(number)
