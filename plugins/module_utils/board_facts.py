# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The board facts file_set's content_if chooses a file's variant by: each read once, by the
layer that owns it, before anything is written."""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.kernel import psi_trigger_unprivileged
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import CAP_SYS_ADMIN, has_capability

# name -> (what is read, how: fs -> bool, or None when it cannot be read).
BOARD_FACTS = {
    "pid1_cap_sys_admin": ("CapEff of PID 1 (/proc/1/status)",
                           lambda fs: has_capability(fs.proc, CAP_SYS_ADMIN, pid=1)),
    # never None: a kernel whose release cannot be read or parsed is not known to allow it (False)
    "psi_trigger_unprivileged": ("the kernel release (/proc/sys/kernel/osrelease)",
                                 lambda fs: psi_trigger_unprivileged(fs.proc)),
}
# One condition of a content_if variant (its own fact, and each of its also).
FACT_OPTIONS = dict(
    fact=dict(type="str", required=True, choices=sorted(BOARD_FACTS)),
    value=dict(type="bool", default=True),
)


def read_facts(fs, names):
    """The board facts ``names``, read once; ModuleError when one cannot be read."""
    facts = {}
    for name in names:
        what, reader = BOARD_FACTS[name]
        facts[name] = reader(fs)
        if facts[name] is None:
            raise ModuleError("cannot read %s (board fact %s), nothing was changed" % (what, name))
    return facts


def conditions(variant):
    """The (fact, value) pairs that must all hold for a content_if variant: its own, then its also."""
    return [(variant["fact"], variant["value"])] + [(item["fact"], item["value"]) for item in variant.get("also") or []]


def choose(variants, facts):
    """The content of the first variant whose conditions all hold in ``facts``; None when none does."""
    for variant in variants or []:
        if all(facts[fact] == value for fact, value in conditions(variant)):
            return variant["content"]
    return None


def facts_needed(entries):
    """The names of the facts the entries' content_if variants name, sorted."""
    return sorted(set(fact for entry in entries for variant in entry.get("content_if") or []
                      for fact, value in conditions(variant)))
