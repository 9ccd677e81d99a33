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
