"""The multi-gen LRU from /sys/kernel/mm/lru_gen (module_utils/procfs/lru_gen.py)."""

from __future__ import annotations

import os

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import lru_gen


def lru_gen_tree(sys_root, files):
    base = os.path.join(str(sys_root), "kernel", "mm", "lru_gen")
    os.makedirs(base)
    for name, text in files.items():
        with open(os.path.join(base, name), "w") as handle:
            handle.write(text)


def test_absent_on_a_kernel_without_mglru(tmp_path):
    assert lru_gen.read_lru_gen(str(tmp_path)) == {"present": False, "enabled": None, "enabled_mask": None, "min_ttl_ms": None}


def test_enabled_is_the_main_switch_of_the_mask(tmp_path):
    lru_gen_tree(tmp_path, {"enabled": "0x0007\n", "min_ttl_ms": "1000\n"})
    assert lru_gen.read_lru_gen(str(tmp_path)) == {"present": True, "enabled": True, "enabled_mask": "0x0007", "min_ttl_ms": 1000}


def test_components_without_the_main_switch_are_off(tmp_path):
    lru_gen_tree(tmp_path, {"enabled": "0x0006\n", "min_ttl_ms": "0\n"})
    facts = lru_gen.read_lru_gen(str(tmp_path))
    assert facts["enabled"] is False and facts["min_ttl_ms"] == 0


def test_unreadable_values_are_none_not_guesses(tmp_path):
    lru_gen_tree(tmp_path, {"enabled": "yes\n"})
    facts = lru_gen.read_lru_gen(str(tmp_path))
    assert facts == {"present": True, "enabled": None, "enabled_mask": None, "min_ttl_ms": None}
