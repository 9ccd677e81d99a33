"""The running kernel's release and what its version allows (module_utils/procfs/kernel.py)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import kernel
from unit_helpers import write


@pytest.mark.parametrize("text, expected", [
    ("6.1.0-28-arm64\n", (6, 1, 0)),             # Debian 12 bookworm
    ("6.12.12+deb13-arm64\n", (6, 12, 12)),      # Debian 13 trixie
    ("5.10.160-rockchip\n", (5, 10, 160)),       # Radxa BSP
    ("6.1.84-1-rk2410", (6, 1, 84)),
    ("6.5.0-rc1", (6, 5, 0)),
    ("6.5-rc1", (6, 5, 0)),
    ("6.4", (6, 4, 0)),
    ("  6.5.3  \n", (6, 5, 3)),
    ("2.6.32.71-1", (2, 6, 32)),
])
def test_parse_release_reads_the_version_and_ignores_the_builders_suffix(text, expected):
    assert kernel.parse_release(text) == expected


@pytest.mark.parametrize("text", [
    "", "\n", "6", "6.", ".5.0", "v6.5.0", "six.five", "6.x.1", "6..5", "-6.5", "6 .5",
    "\u0666.\u0665.0",          # Arabic-Indic digits: int() would read them, the kernel never writes them
    "1234567890.1.0",           # a ten-digit major is junk, not a version
    None, 6.5, b"6.5.0",
])
def test_parse_release_refuses_junk(text):
    assert kernel.parse_release(text) is None


@pytest.mark.parametrize("release, expected", [
    ("5.10.160-rockchip\n", False),
    ("6.1.0-28-arm64\n", False),
    ("6.4.16-arm64\n", False),
    ("6.5.0-rc1\n", True),
    ("6.5.0\n", True),
    ("6.12.12+deb13-arm64\n", True),
    ("7.0.0\n", True),
])
def test_psi_trigger_unprivileged_from_6_5_on(tmp_path, release, expected):
    write(os.path.join(str(tmp_path), "sys", "kernel", "osrelease"), release)
    assert kernel.read_release(str(tmp_path)) == release.strip()
    assert kernel.psi_trigger_unprivileged(str(tmp_path)) is expected
    assert kernel.version_at_least(str(tmp_path), (6, 5)) is expected


@pytest.mark.parametrize("release", [None, "", "junk\n", "v6.12\n"])
def test_an_unknown_kernel_is_not_known_to_allow_unprivileged_triggers(tmp_path, release):
    if release is not None:
        write(os.path.join(str(tmp_path), "sys", "kernel", "osrelease"), release)
    assert kernel.version_at_least(str(tmp_path), (6, 5)) is None
    assert kernel.psi_trigger_unprivileged(str(tmp_path)) is False


NUMBERS = st.integers(min_value=0, max_value=999999999)
# What builders append after the version: Debian's -28-arm64 and +deb13, -rc1, -rockchip, ...
SUFFIXES = st.text(alphabet=st.sampled_from("-+_~abcdefrkdeb0123456789"), max_size=20).filter(
    lambda text: not text[:1].isdigit())


@given(NUMBERS, NUMBERS, st.none() | NUMBERS, SUFFIXES)
def test_any_release_round_trips_and_compares_as_its_numbers(major, minor, patch, suffix):
    text = "%d.%d%s%s\n" % (major, minor, "" if patch is None else ".%d" % patch, suffix)
    parsed = kernel.parse_release(text)
    assert parsed == (major, minor, patch or 0)
    assert (parsed >= kernel.PSI_UNPRIVILEGED_TRIGGERS) is ((major, minor) >= (6, 5))


@given(st.text(max_size=40) | st.binary(max_size=10))
def test_junk_gives_a_version_or_none_never_an_exception(text):
    parsed = kernel.parse_release(text)
    assert parsed is None or (len(parsed) == 3 and all(isinstance(part, int) and part >= 0 for part in parsed))
    if parsed is not None:
        major, minor = text.strip().split(".")[:2]
        assert major.isascii() and major.isdigit() and int(major) == parsed[0]
        assert minor[:1].isascii() and minor[:1].isdigit()
