"""Size parsing and page rounding (sizes.py)."""

from __future__ import annotations

import ast
import sys

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import sizes
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import MAX, SizeError, parse_size, round_to_page


@pytest.mark.parametrize("value, expected", [
    ("512M", 512 << 20),
    ("512m", 512 << 20),
    ("512MiB", 512 << 20),
    ("1.5G", 1610612736),
    ("1.5GiB", 1610612736),
    ("1.1G", 1181116006),  # exact decimal: int(1.1 * 2**30) == 1181116006
    ("2G", 2 << 30),
    ("64K", 65536),
    ("1T", 1 << 40),
    ("0", 0),
    (" 4096 ", 4096),
    ("4096B", 4096),
    (536870912, 536870912),
    (0, 0),
    (1024.0, 1024),
])
def test_sizes_are_1024_based(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["max", "MAX", "infinity", "unlimited", "-1", -1])
def test_no_limit(value):
    assert parse_size(value) == MAX


@pytest.mark.parametrize("value, fragment", [
    ("512MB", "ambiguous"),
    ("1GB", "ambiguous"),
    ("12kB", "ambiguous"),
    ("512X", "unknown unit"),
    ("512 Mi", "unknown unit"),
    ("lots", "not a size"),
    ("", "not a size"),
    ("1.5", "whole number of bytes"),
    ("-5M", "not a size"),
    (-2, "negative"),
    (True, "not a size"),
    ([512], "not a size"),
    (1.5, "whole number"),
])
def test_bad_sizes_name_the_problem(value, fragment):
    with pytest.raises(SizeError) as caught:
        parse_size(value, "memory_max")
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("memory_max: ")


@pytest.mark.parametrize("value", [
    "1180591620717411303424",  # 2**70: the kernel's memparse() wraps it to 0
    "18446744073709551616",  # 2**64
    "1025T", "1048577G", "1024.5T",
    (1 << 50) + 1, 1 << 64, 1e30,
])
def test_sizes_above_the_largest_are_refused(value):
    with pytest.raises(SizeError) as caught:
        parse_size(value, "memory_max")
    message = str(caught.value)
    assert message.startswith("memory_max: ") and "above the largest size" in message
    assert "1024T" in message and "max for no limit" in message


def test_the_largest_size_is_accepted_and_far_below_the_kernels_limits():
    assert sizes.LARGEST == 1 << 50
    assert parse_size("1024T") == parse_size(sizes.LARGEST) == sizes.LARGEST
    # Well below 2**62, where cgroup v1 reads a limit back as unlimited, and 2**64, where memparse wraps.
    assert sizes.LARGEST < (1 << 62) // 1024


@pytest.mark.parametrize("digits", [4301, 10000])
def test_a_number_too_long_for_int_is_a_size_error(digits):
    # Python refuses int() of more than 4300 digits with a plain ValueError.
    for value in ("9" * digits, "9" * digits + "M", "9" * digits + ".5G"):
        with pytest.raises(SizeError, match="^memory_max: .*above the largest size"):
            parse_size(value, "memory_max")
    # A long fraction is still exact: 1.555...G is just below 14/9 G.
    assert parse_size("1." + "5" * digits + "G") == (14 << 30) // 9
    with pytest.raises(SizeError, match="^warn: "):
        sizes.parse_size_or_percent("9" * digits + "M", "warn")


def test_rounding_to_pages_goes_down_like_the_kernel():
    assert round_to_page(1000000, 4096) == 999424
    assert round_to_page(4096, 4096) == 4096
    assert round_to_page(4095, 4096) == 0
    assert round_to_page(1000000, 65536) == 983040  # 64 KiB page kernels
    assert round_to_page(MAX, 4096) == MAX
    assert round_to_page(8192) % sizes.page_size() == 0


def test_human_is_exact():
    assert sizes.human(512 << 20) == "512M"
    assert sizes.human(1610612736) == "1536M"
    assert sizes.human(2 << 30) == "2G"
    assert sizes.human(999424) == "976K"
    assert sizes.human(1000) == "1000"
    assert sizes.human(0) == "0"
    assert sizes.human(MAX) == "max"
    for value in (512 << 20, 1610612736, 999424, 1000, 1 << 40):
        assert parse_size(sizes.human(value)) == value


def test_order_with_max_on_top():
    assert sizes.less_or_equal(1, 2)
    assert sizes.less_or_equal(5, MAX)
    assert sizes.less_or_equal(MAX, MAX)
    assert not sizes.less_or_equal(MAX, 5)
    assert not sizes.less_or_equal(3, 2)


def test_imports_only_the_standard_library():
    # cgroupfs/memory.py reads through procfs.files: test_stdlib_only.py checks it.
    with open(sizes.__file__) as handle:
        tree = ast.parse(handle.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            names.add(node.module.split(".")[0])
    assert names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)


@pytest.mark.parametrize("text, unit, expected", [
    ("200M", 1024, (204800, None)), ("200MB", 1024, (204800, None)), ("200MiB", 1024, (204800, None)),
    ("1G", 1024, (1048576, None)), ("1.5G", 1024, (1572864, None)), ("512K", 1024, (512, None)),
    ("1.1G", 1, (1181116006, None)), ("4096b", 1, (4096, None)), ("2048B", 1024, (2, None)),
    ("5%", 1024, (None, 5.0)), (" 2.5 % ", 1, (None, 2.5)),
])
def test_size_or_percent(text, unit, expected):
    assert sizes.parse_size_or_percent(text, "warn", unit=unit) == expected


@pytest.mark.parametrize("value, message", [
    ("200", "not a size"), (200, "not a size"), ("abc", "not a size"), (True, "not a size"), (None, "not a size"),
    ("-5M", "not a size"), ("0M", "is zero"), ("100b", "is zero"), ("100%", "between 0 and 100"),
    ("0%", "between 0 and 100"), ("1025T", "above the largest size"), ("2000000G", "above the largest size"),
])
def test_size_or_percent_errors_name_the_setting(value, message):
    with pytest.raises(SizeError, match="^warn: .*%s" % message):
        sizes.parse_size_or_percent(value, "warn", unit=1024)


def test_size_or_percent_refuses_a_percentage_where_none_is_allowed():
    with pytest.raises(SizeError, match="^kill.threshold: a percentage is not allowed here"):
        sizes.parse_size_or_percent("5%", "kill.threshold", allow_percent=False)
