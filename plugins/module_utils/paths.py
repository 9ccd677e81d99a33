# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules for a path an operator types: the one place they are written.

- ``absolute_problem``: an absolute, normalized path (no ``..``, ``.`` or doubled slashes) without
  control characters: what every board or controller path the collection reads or writes must be.
- ``unit_path_problem``: an absolute path a systemd unit can name verbatim (``ExecStart=``,
  ``ReadWritePaths=``): letters, digits and ``._+@-`` only, so no space splits it, no ``%`` is a
  specifier, no ``$`` a variable and no quote starts a word.

Each returns why the path breaks its rule, naming ``name`` (the variable or option), or None.
"""

from __future__ import annotations

import os
import re

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
UNIT_PATH = re.compile(r"\A(/[A-Za-z0-9._+@-]+)+\Z")


def absolute_problem(path, name, where=""):
    """Why ``path`` is not an absolute, normalized path without control characters, or None.
    ``where`` (for example " on the controller") is said after the rule."""
    if not isinstance(path, str) or not os.path.isabs(path) or CONTROL.search(path):
        return "%s must be an absolute path%s, got %r" % (name, where, path)
    if path != "/" and os.path.normpath(path) != path.rstrip("/"):
        return "%s must be an absolute path%s written without '..', '.' or doubled slashes (%s), got %r" % (
            name, where, os.path.normpath(path), path)
    return None


def unit_path_problem(path, name):
    """Why ``path`` cannot be named verbatim in a systemd unit (absolute, normalized, plain characters), or None."""
    problem = absolute_problem(path, name)
    if problem:
        return problem
    if not UNIT_PATH.match(path) or re.search(r"/\.\.?(?:/|\Z)", path):
        return ("%s must be an absolute path of letters, digits and ._+@- only (a systemd unit names it: no spaces, "
                "':', '%%', '$' or quotes), got %r" % (name, path))
    return None
