"""DietPi's dietpiEnv.txt in boot_cmdline.py: a known file in /boot, whose extraargs= line is read
and edited exactly as Armbian's armbianEnv.txt's (Hypothesis: for any env text and arguments)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils.boot_cmdline import (
    KNOWN_FILES, LINK_DIRS, edit_file, file_args, read_boot_file, resolve_link,
)
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from unit_helpers import write


def test_dietpi_env_is_a_known_boot_file_in_boot_after_armbian_env():
    kinds = [kind for kind, _path in KNOWN_FILES]
    assert dict(KNOWN_FILES)["dietpi_env"] == "/boot/dietpiEnv.txt" and LINK_DIRS["dietpi_env"] == "/boot"
    assert kinds.index("dietpi_env") == kinds.index("armbian_env") + 1


def test_dietpi_env_extraargs_is_edited_and_read():
    env = "rootfstype=ext4\nextraargs=net.ifnames=0 psi=0 -- single\n"
    new, problem = edit_file("dietpi_env", env, ["psi=1"], [])
    assert (new, problem) == ("rootfstype=ext4\nextraargs=net.ifnames=0 psi=1 -- single\n", "")
    assert file_args("dietpi_env", new) == ["net.ifnames=0", "psi=1"]
    assert edit_file("dietpi_env", "rootfstype=ext4\n", [], ["quiet"]) == ("rootfstype=ext4\n", "")


def test_an_unknown_kind_is_still_refused():
    with pytest.raises(ValueError):
        edit_file("grub", "", ["psi=1"], [])
    with pytest.raises(KeyError):
        file_args("grub", "extraargs=psi=1\n")


def test_a_dietpi_env_link_stays_inside_boot(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs.path("/boot/env/dietpiEnv.txt"), "extraargs=\n")
    os.symlink("env/dietpiEnv.txt", fs.path("/boot/dietpiEnv.txt"))
    assert read_boot_file(fs, "dietpi_env", "/boot/dietpiEnv.txt") == ("/boot/env/dietpiEnv.txt", "extraargs=\n")
    write(fs.path("/etc/dietpiEnv.txt"), "extraargs=\n")
    os.unlink(fs.path("/boot/dietpiEnv.txt"))
    os.symlink("../etc/dietpiEnv.txt", fs.path("/boot/dietpiEnv.txt"))
    with pytest.raises(ValueError, match="outside /boot"):
        resolve_link(fs, "/boot/dietpiEnv.txt", "dietpi_env")


ENV_LINE = st.one_of(
    st.builds("extraargs={}".format, st.text("ab= \t\"psi01", max_size=20)),
    st.builds("  extraargs={}".format, st.text("ab= psi01", max_size=10)),
    st.sampled_from(["rootfstype=ext4", "overlays=", "# comment", "", "consoleargs=console=tty1", "EXTRAARGS=x"]),
)
ARGS = st.lists(st.sampled_from(["psi=1", "psi=0", "quiet", "cma=256M", "psi"]), max_size=3)


@given(st.lists(ENV_LINE, max_size=8), st.booleans(), ARGS, ARGS)
def test_dietpi_env_reads_and_edits_as_armbian_env(lines, final_newline, add, remove):
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    remove = [item for item in remove if item not in add and item.split("=")[0] not in [a.split("=")[0] for a in add]]
    try:
        armbian = edit_file("armbian_env", text, add, remove)
    except ValueError as error:
        with pytest.raises(ValueError) as caught:
            edit_file("dietpi_env", text, add, remove)
        assert str(caught.value) == str(error)
        return
    assert edit_file("dietpi_env", text, add, remove) == armbian
    assert file_args("dietpi_env", text) == file_args("armbian_env", text)
