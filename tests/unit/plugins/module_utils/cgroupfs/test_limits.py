"""The limits a user asks for (cgroupfs/limits.py): sizes, page rounding and their order."""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils.cgroupfs import limits
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import MAX


def test_sizes_are_parsed_and_rounded_to_pages():
    desired, problems = limits.parse_limits({"memory_max": "512M", "memory_high": "200000000", "swap_max": 0,
                                             "memory_low": None}, page=4096)
    assert problems == []
    assert desired == {"memory_max": 536870912, "memory_high": 199999488, "swap_max": 0}


def test_every_problem_is_listed():
    _desired, problems = limits.parse_limits({"memory_max": "512K", "memory_high": "lots", "memory_min": "1G",
                                              "memory_low": "512M"}, page=4096)
    assert any("below 1M" in problem for problem in problems)
    assert any("memory_high" in problem for problem in problems)
    assert "memory_min (1G) must not be above memory_low (512M)" in problems


def test_max_is_above_every_size():
    desired, problems = limits.parse_limits({"memory_max": "max", "memory_high": "1G"}, page=4096)
    assert problems == [] and desired["memory_max"] == MAX
    assert limits.shown("memory_max", MAX) == "max" and limits.shown("memory_max", 1 << 30) == "1G"
    assert limits.shown("memory_min", None) == "-" and limits.shown("oom_group", True) is True
