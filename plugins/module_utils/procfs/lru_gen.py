# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The multi-gen LRU (MGLRU) as /sys/kernel/mm/lru_gen shows it (Linux 6.1+, CONFIG_LRU_GEN).

Documentation/admin-guide/mm/multigen_lru.rst: ``enabled`` is a hex mask of components
(0x0001 the main switch, 0x0002 clearing the accessed bit in leaf page tables, 0x0004 in
non-leaf ones); writing ``y`` turns on every component the CPU supports, ``n`` all off.
``min_ttl_ms`` keeps the working set of the last N milliseconds from eviction: when it cannot,
the kernel OOM-kills rather than thrash (0 = off). Standard library and procfs.files only;
readers take the root of the /sys tree (``sys_root``) so unit tests run them on fake trees.
"""

from __future__ import annotations

import os

from .files import read_text

LRU_GEN_DIR = os.path.join("kernel", "mm", "lru_gen")
MAIN_SWITCH = 0x0001
# The first release with the multi-gen LRU (Linux 6.1, built with CONFIG_LRU_GEN).
MGLRU_SINCE = (6, 1)


def lru_gen_path(sys_root, name=""):
    """The path of the lru_gen directory (or of one file in it) under ``sys_root``."""
    return os.path.join(sys_root, LRU_GEN_DIR, name) if name else os.path.join(sys_root, LRU_GEN_DIR)


def parse_enabled(text):
    """The component mask of ``enabled`` text (``0x0007``); None when missing or not hex."""
    text = (text or "").strip()
    try:
        return int(text, 16)
    except ValueError:
        return None


def parse_min_ttl_ms(text):
    """``min_ttl_ms`` as an int; None when missing or not a number."""
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def read_lru_gen(sys_root):
    """dict(present, enabled, enabled_mask, min_ttl_ms): ``present`` False (the rest None) where
    the kernel has no MGLRU; ``enabled`` is the main switch (bool), ``enabled_mask`` the hex
    text as the kernel shows it."""
    if not os.path.isdir(lru_gen_path(sys_root)):
        return {"present": False, "enabled": None, "enabled_mask": None, "min_ttl_ms": None}
    enabled_text = read_text(lru_gen_path(sys_root, "enabled"))
    mask = parse_enabled(enabled_text)
    return {
        "present": True,
        "enabled": None if mask is None else bool(mask & MAIN_SWITCH),
        "enabled_mask": None if mask is None else (enabled_text or "").strip(),
        "min_ttl_ms": parse_min_ttl_ms(read_text(lru_gen_path(sys_root, "min_ttl_ms"))),
    }
