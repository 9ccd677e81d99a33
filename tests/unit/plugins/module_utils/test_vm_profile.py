"""Validation of the vm.* profile and the overcommit pre-flight."""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils import vm_profile


def test_auto_min_free_is_the_seed_value_on_4g_and_capped():
    assert vm_profile.auto_min_free_kbytes(4 * 1024 * 1024) == 32768
    assert vm_profile.auto_min_free_kbytes(2 * 1024 * 1024) == 32768
    assert vm_profile.auto_min_free_kbytes(8 * 1024 * 1024) == 65536
    assert vm_profile.auto_min_free_kbytes(32 * 1024 * 1024) == 262144
    assert vm_profile.auto_min_free_kbytes(64 * 1024 * 1024) == 262144


def test_validate_normalizes_and_collects_every_error():
    resolved, errors = vm_profile.validate_settings(
        {"vm.overcommit_memory": "2", "vm/panic_on_oom": 3, "vm.lowmem_reserve_ratio": "256  256\t32",
         "vm.watermark_scale_factor": None, "net.core.somaxconn": 1}, 4000000)
    assert resolved == {"vm.overcommit_memory": "2", "vm.lowmem_reserve_ratio": "256 256 32"}
    assert errors == ["net.core.somaxconn: only vm.* keys belong in this profile",
                      "vm.panic_on_oom = 3: out of range, must be one of 0, 1, 2"]


def test_preflight_skips_profiles_without_strict_overcommit():
    result = vm_profile.overcommit_preflight({"Committed_AS": 10**9}, {"vm.overcommit_memory": "0"}, {}, 0)
    assert result["applies"] is False and result["ok"] is True


def test_preflight_uses_the_live_ratio_when_the_profile_has_none():
    meminfo = {"MemTotal": 1000000, "Committed_AS": 400000, "CommitLimit": 500000}
    result = vm_profile.overcommit_preflight(
        meminfo, {"vm.overcommit_memory": "2"}, {"vm.overcommit_memory": "0", "vm.overcommit_ratio": "50"}, 50000)
    assert result["new_limit_kb"] == 500000 and result["ok"] is True
    result = vm_profile.overcommit_preflight(
        meminfo, {"vm.overcommit_memory": "2"}, {"vm.overcommit_memory": "0", "vm.overcommit_ratio": "50"}, 150000)
    assert result["ok"] is False and "500000 kB" in result["message"]


def test_preflight_applies_when_an_active_limit_is_tightened():
    meminfo = {"MemTotal": 1000000, "Committed_AS": 700000, "CommitLimit": 800000}
    result = vm_profile.overcommit_preflight(
        meminfo, {"vm.overcommit_memory": "2", "vm.overcommit_ratio": "60"},
        {"vm.overcommit_memory": "2", "vm.overcommit_ratio": "80"}, 0)
    assert result["applies"] is True and result["ok"] is False


# --- issue #14: every value checked, the same key spelled twice --------------------------------

import pytest  # noqa: E402


@pytest.mark.parametrize("key, value, problem", [
    ("vm.min_free_kbytes", 2 ** 70, "out of range"),
    ("vm.min_free_kbytes", 2 ** 31, "out of range, must be an integer >= 0 and <= 2147483647"),
    ("vm.min_free_kbytes", -1, "out of range"),
    ("vm.overcommit_ratio", 2 ** 31, "out of range"),
    ("vm.overcommit_kbytes", 2 ** 64, "out of range"),
    ("vm.vfs_cache_pressure", 2 ** 31, "out of range"),
    ("vm.watermark_boost_factor", 2 ** 31, "out of range"),
    ("vm.dirty_ratio", 101, "out of range, must be an integer from 0 to 100"),
    ("vm.min_free_kbytes", float("nan"), "vm.min_free_kbytes = nan"),
    ("vm.min_free_kbytes", True, "vm.min_free_kbytes = True"),
    ("vm.lowmem_reserve_ratio", float("nan"), "must be an integer or a line of integers"),
    ("vm.lowmem_reserve_ratio", float("-inf"), "must be an integer or a line of integers"),
    ("vm.lowmem_reserve_ratio", False, "must be an integer or a line of integers"),
    ("vm.lowmem_reserve_ratio", 1.0, "must be an integer or a line of integers"),
    ("vm.lowmem_reserve_ratio", "0x10", "must be an integer or a line of integers"),
    ("vm.lowmem_reserve_ratio", "1\n2", "must be an integer or a line of integers"),
    ("vm.lowmem_reserve_ratio", 2 ** 64, "must be an integer or a line of integers"),
    ("vm.lowmem_reserve_ratio", [1], "must be an integer or a line of integers"),
])
def test_check_value_refuses_naming_the_key(key, value, problem):
    resolved, message = vm_profile.check_value(key, value)
    assert resolved is None and problem in message and message.startswith(key)


@pytest.mark.parametrize("key, value, resolved", [
    ("vm.min_free_kbytes", " 65536 ", "65536"),
    ("vm.min_free_kbytes", 2 ** 31 - 1, "2147483647"),
    ("vm.overcommit_kbytes", 2 ** 64 - 1, "18446744073709551615"),
    ("vm.lowmem_reserve_ratio", "256  256\t32", "256 256 32"),
    ("vm.lowmem_reserve_ratio", -5, "-5"),
])
def test_check_value_accepts_and_normalizes(key, value, resolved):
    assert vm_profile.check_value(key, value) == (resolved, None)


def test_min_free_kbytes_is_bounded_by_a_quarter_of_ram_when_known():
    assert vm_profile.check_value("vm.min_free_kbytes", 1000000, memtotal_kb=4000000) == ("1000000", None)
    resolved, message = vm_profile.check_value("vm.min_free_kbytes", 1000001, memtotal_kb=4000000)
    assert resolved is None and "at most a quarter of MemTotal (1000000 kB)" in message


def test_one_key_in_two_spellings_is_refused_naming_both():
    resolved, errors = vm_profile.validate_settings(
        {"vm.swappiness": 10, "vm/swappiness": 60, " vm.panic_on_oom": 0, "vm.panic_on_oom": None}, 4000000)
    assert errors == [
        "' vm.panic_on_oom' and 'vm.panic_on_oom' are the same key vm.panic_on_oom: set it once",
        "'vm.swappiness' and 'vm/swappiness' are the same key vm.swappiness: set it once"]
    assert vm_profile.duplicate_keys(["vm/a", "vm.b", "vm.a", "vm/b/"]) == [("vm.a", ["vm.a", "vm/a"])]
