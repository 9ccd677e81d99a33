"""Kernel configs as procfs/pressure.py finds and reads them: the running kernel's
(/proc/config.gz, else <dir>/config-<release>), an installed kernel's, every installed one's,
and the parser under them (with Hypothesis: generated configs read back as generated)."""

from __future__ import annotations

import gzip
import os

import pytest
from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import pressure
from unit_helpers import write

RADXA = "5.10.160-rockchip"
DEBIAN = "6.1.0-28-arm64"


@pytest.fixture
def board(tmp_path):
    proc, root = str(tmp_path / "proc"), str(tmp_path / "root")
    write(os.path.join(proc, "sys", "kernel", "osrelease"), RADXA + "\n")
    os.makedirs(os.path.join(root, "boot"))
    return proc, root


def boot(root, name, text, directory="boot"):
    return write(os.path.join(root, directory, name), text)


def test_the_running_kernel_from_proc_config_gz_first(board):
    proc, root = board
    with gzip.open(os.path.join(proc, "config.gz"), "wt") as handle:
        handle.write("CONFIG_PSI=y\nCONFIG_PSI_DEFAULT_DISABLED=y\n")
    boot(root, "config-" + RADXA, "# CONFIG_PSI is not set\n")
    assert pressure.kernel_config(proc, root) == {
        "source": "/proc/config.gz", "release": RADXA, "CONFIG_PSI": "y", "CONFIG_PSI_DEFAULT_DISABLED": "y"}


def test_the_running_kernel_from_a_given_config_dir(board):
    proc, root = board
    boot(root, "config-" + RADXA, "# CONFIG_PSI is not set\nCONFIG_MEMCG=y\n", directory="srv/fake-boot")
    assert pressure.kernel_config(proc, root) is None
    assert pressure.kernel_config(proc, root, config_dir="/srv/fake-boot/") == {
        "source": "/srv/fake-boot/config-" + RADXA, "release": RADXA, "CONFIG_PSI": None,
        "CONFIG_PSI_DEFAULT_DISABLED": None}


def test_an_installed_kernel_is_read_from_its_file_never_from_proc(board):
    proc, root = board
    with gzip.open(os.path.join(proc, "config.gz"), "wt") as handle:
        handle.write("CONFIG_PSI=y\n")
    boot(root, "config-" + DEBIAN, "CONFIG_PSI=y\n# CONFIG_PSI_DEFAULT_DISABLED is not set\n")
    assert pressure.kernel_config(proc, root, release=DEBIAN)["source"] == "/boot/config-" + DEBIAN
    assert pressure.kernel_config(proc, root, release="6.12.0-missing") is None


@pytest.mark.parametrize("text", ["", "hello\n", "\x00\x01\x02", "# just a comment\n"])
def test_a_file_that_names_no_option_is_no_kernel_config(board, text):
    proc, root = board
    boot(root, "config-" + RADXA, text)
    assert pressure.kernel_config(proc, root) is None


def test_a_config_that_is_not_utf8_is_still_read(board):
    proc, root = board
    path = os.path.join(root, "boot", "config-" + RADXA)
    with open(path, "wb") as handle:
        handle.write(b'CONFIG_LOCALVERSION="-\xff"\n# CONFIG_PSI is not set\n')
    assert pressure.kernel_config(proc, root)["CONFIG_PSI"] is None


def test_a_torn_config_gz_falls_back_to_boot(board):
    proc, root = board
    write(os.path.join(proc, "config.gz"), "not gzip")
    boot(root, "config-" + RADXA, "CONFIG_PSI=y\n")
    assert pressure.kernel_config(proc, root)["source"] == "/boot/config-" + RADXA


def test_installed_kernels_by_release_without_backups_or_junk(board):
    proc, root = board
    boot(root, "config-" + DEBIAN, "CONFIG_PSI=y\n")
    boot(root, "config-" + RADXA, "# CONFIG_PSI is not set\n")
    for name in ("config-" + DEBIAN + ".dpkg-old", "config-" + RADXA + "~", "config-x.bak", "config-", "config.txt",
                 "vmlinuz-" + DEBIAN, "config-junk"):
        boot(root, name, "CONFIG_PSI=y\n" if name != "config-junk" else "junk\n")
    found = pressure.installed_kernel_configs(root)
    assert [(k["release"], k["source"], k["CONFIG_PSI"]) for k in found] == [
        (RADXA, "/boot/config-" + RADXA, None), (DEBIAN, "/boot/config-" + DEBIAN, "y")]
    assert pressure.installed_kernel_configs(root, "/nowhere") == []


def test_diagnose_still_reads_the_running_kernels_config(board):
    proc, root = board
    boot(root, "config-" + RADXA, "# CONFIG_PSI is not set\n")
    assert pressure.diagnose(proc, root)["state"] == "not_compiled"


def test_parse_kernel_config_reads_values_not_set_and_the_last_line():
    text = ('#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0) 12.2.0"\n'
            "CONFIG_PSI=y \n# CONFIG_PSI_DEFAULT_DISABLED is not set\nCONFIG_PSI_DEFAULT_DISABLED=y\n"
            "CONFIG_NR_CPUS=8\n#CONFIG_X is not set\n  CONFIG_INDENTED=y\nCONFIG_ZRAM=m\n")
    assert pressure.parse_kernel_config(text) == {
        "CONFIG_CC_VERSION_TEXT": '"gcc (Debian 12.2.0) 12.2.0"', "CONFIG_PSI": "y",
        "CONFIG_PSI_DEFAULT_DISABLED": "y", "CONFIG_NR_CPUS": "8", "CONFIG_ZRAM": "m"}


# --- properties ------------------------------------------------------------------------------------
NAME = st.builds("CONFIG_{}".format, st.text("ABCDEFPSIZ019_", min_size=1, max_size=12))
VALUE = st.one_of(st.sampled_from(["y", "m", "n", "0x10", "42", '""', '"a b=c # d"']),
                  st.text("abcXYZ019_-./", min_size=1, max_size=10))
SETTING = st.tuples(NAME, st.one_of(st.none(), VALUE))
NOISE = st.sampled_from(["", "#", "# a comment", "#\n# Kernel hacking\n#", "  ", "menu foo"])


@given(st.lists(SETTING, max_size=20), st.lists(NOISE, max_size=20), st.sampled_from(["\n", "\r\n"]))
def test_a_generated_config_reads_back_as_generated(settings, noise, newline):
    lines = []
    for index, (name, value) in enumerate(settings):
        lines += noise[index:index + 1]
        lines.append("# %s is not set" % name if value is None else "%s=%s" % (name, value))
    expected = dict(settings)  # a later setting of a name wins, as kconfig reads it
    assert pressure.parse_kernel_config(newline.join(lines) + newline) == expected


@given(st.text(max_size=200))
def test_any_text_parses_to_config_names_only(text):
    options = pressure.parse_kernel_config(text)
    assert all(name.startswith("CONFIG_") and (value is None or value == value.strip()) for name, value in options.items())
