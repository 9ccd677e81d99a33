# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ManagedOOMPreference=`` in oom_score_adj's drop-ins: what systemd-oomd spares.

systemd-oomd kills whole cgroups by memory pressure or swap use and ignores oom_score_adj, so
a unit protected with a negative score is still one of its candidates. systemd.resource-control(5):
``ManagedOOMPreference=avoid`` makes oomd pick the unit's cgroup only when nothing else is left,
``omit`` never (systemd 248 or later; oomd reads it only from cgroups owned by root, that is
units of the system manager, not of a user manager).

The choice (``managed_oom_preference``): ``none`` writes none; ``avoid`` or ``omit`` for every
unit protected (negative score); ``auto`` ``omit`` for -1000 (never kill) and ``avoid`` for the
other negative scores; a unit with a score of 0 or more gets none. Written only where
systemd-oomd.service is installed and not masked (what ``systemctl`` would load) or the caller
says it will be (``assume_oomd``: the run that installs it, so check mode predicts it).
"""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils import systemd
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import OOM_SCORE_ADJ_MIN

KEY = "ManagedOOMPreference"
CHOICES = ("none", "auto", "avoid", "omit")
SINCE = 248
OOMD_UNIT = "systemd-oomd.service"


def preference_for(choice, value):
    """The ManagedOOMPreference= for a unit protected with the score ``value``, or None."""
    if choice not in CHOICES or choice == "none" or value is None or value >= 0:
        return None
    if choice == "auto":
        return "omit" if value == OOM_SCORE_ADJ_MIN else "avoid"
    return choice


def oomd_installed(fs):
    """Whether systemd-oomd.service is defined on the board and not masked."""
    try:
        info = systemd.resolve_unit(fs, OOMD_UNIT)
    except ModuleError:
        return False
    return info["exists"] and not info["masked"]


def preference_rule(fs, choice, assume_oomd=False):
    """(rule, warnings): ``rule(value)`` is the ManagedOOMPreference= of a drop-in for the score
    ``value`` on this board (None: none). None everywhere for ``none``, without systemd-oomd
    (unless ``assume_oomd``) and, with a warning, on systemd older than SINCE or of unknown version."""
    if choice == "none":
        return _none, []
    if not (assume_oomd or oomd_installed(fs)):
        return _none, []
    version = systemd.installed_version(fs)
    if version is None or version < SINCE:
        shown = "an unknown version" if version is None else "systemd %d" % version
        return _none, ["managed_oom_preference=%s: %s= needs systemd %d or later and this board runs %s; the "
                       "drop-ins are written without it, so systemd-oomd may still kill the protected units"
                       % (choice, KEY, SINCE, shown)]
    return lambda value: preference_for(choice, value), []


def _none(_value):
    return None
