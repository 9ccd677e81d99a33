# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""/proc/<pid>/status: the sizes it gives in kB (VmRSS, VmSwap, VmHWM, RssAnon, ...).

Standard library and procfs.files only. Readers take the root of the
/proc tree (``proc_root``), so unit tests run them against fake trees.

A size line is ``Name:<tabs/spaces><number> kB`` (fs/proc/task_mmu.c); kernel threads have
none of them.
"""

from __future__ import annotations

import os

from .files import read_text


def parse_status_kb(text):
    """Map each ``Name: <number> kB`` field of status text to its number of kB."""
    sizes = {}
    for line in (text or "").splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and len(parts) == 2 and parts[0].isascii() and parts[0].isdigit() and parts[1] == "kB":
            sizes[name.strip()] = int(parts[0])
    return sizes


def read_status_kb(proc_root, pid):
    """The kB fields of process ``pid``'s status; {} when it is gone, unreadable or a kernel thread."""
    text = read_text(os.path.join(proc_root, str(pid), "status"))
    return parse_status_kb(text) if text is not None else {}
