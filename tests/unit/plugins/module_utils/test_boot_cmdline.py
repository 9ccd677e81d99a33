"""Token edits on kernel command lines and the boot files that hold them."""

from __future__ import annotations

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.boot_cmdline import (
    edit_file, edit_tokens, missing_from_running,
)


@pytest.mark.parametrize("args, add, remove, expected", [
    ("root=/dev/mmcblk0p2 rw", ["psi=1"], [], "root=/dev/mmcblk0p2 rw psi=1"),
    ("psi=0 quiet", ["psi=1"], [], "psi=1 quiet"),
    ("psi=1 quiet psi=0", ["psi=1"], [], "psi=1 quiet"),
    ("psi=1 quiet", ["psi=1"], [], "psi=1 quiet"),
    ("quiet psi=1 splash", [], ["psi"], "quiet splash"),
    ("quiet psi=1 psi=0", [], ["psi=0"], "quiet psi=1"),
    ("", ["psi=1"], [], "psi=1"),
])
def test_edit_tokens(args, add, remove, expected):
    assert edit_tokens(args, add, remove) == expected


EXTLINUX = """\
default l0
label l0
\tmenu label Debian GNU/Linux 12 6.1.84-rk2410
\tlinux /boot/vmlinuz-6.1.84
\tappend   root=UUID=1234 console=ttyFIQ0,1500000n8 quiet splash loglevel=4 rw
label l0r
\tappend root=UUID=1234 single psi=0
"""


def test_extlinux_every_append_line_gets_the_argument():
    text, problem = edit_file("extlinux", EXTLINUX, ["psi=1"], [])
    assert problem == ""
    assert "\tappend   root=UUID=1234 console=ttyFIQ0,1500000n8 quiet splash loglevel=4 rw psi=1\n" in text
    assert "\tappend root=UUID=1234 single psi=1\n" in text
    assert edit_file("extlinux", text, ["psi=1"], [])[0] == text


def test_extlinux_without_append_is_a_problem():
    assert edit_file("extlinux", "label l0\n", ["psi=1"], [])[1]


def test_armbian_env_gains_extraargs_line_or_extends_it():
    env = "verbosity=1\nbootlogo=false\noverlay_prefix=rockchip-rk3588\n"
    assert edit_file("armbian_env", env, ["psi=1"], []) == (env + "extraargs=psi=1\n", "")
    assert edit_file("armbian_env", "extraargs=cma=256M\nverbosity=1", ["psi=1"], []) == (
        "extraargs=cma=256M psi=1\nverbosity=1", "")


def test_u_boot_default_parameters_and_kernel_cmdline():
    text, problem = edit_file("u_boot_default", 'U_BOOT_UPDATE="true"\nU_BOOT_PARAMETERS="rw quiet"\n', ["psi=1"], [])
    assert problem == "" and 'U_BOOT_PARAMETERS="rw quiet psi=1"\n' in text
    assert edit_file("u_boot_default", 'U_BOOT_UPDATE="true"\n', ["psi=1"], [])[0] is None
    assert edit_file("kernel_cmdline", "root=/dev/sda1 ro\n", ["psi=1"], []) == ("root=/dev/sda1 ro psi=1\n", "")


def test_running_command_line_decides_the_reboot():
    assert missing_from_running("root=/dev/vda psi=0", ["psi=1"], []) == ["psi=1"]
    assert missing_from_running("root=/dev/vda psi=1", ["psi=1"], []) == []
    assert missing_from_running("root=/dev/vda psi=0", [], ["psi"]) == ["psi=0"]
