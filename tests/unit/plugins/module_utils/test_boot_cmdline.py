"""Token edits on kernel command lines and the boot files that hold them."""

from __future__ import annotations

import os

import pytest
from unit_helpers import write

from ansible_collections.rock5b.oom.plugins.module_utils.boot_cmdline import (
    arg_key, arg_value, argument_problem, edit_file, edit_tokens, missing_from_running, parse_shell_value,
    read_boot_file, resolve_link, shell_quote, split_args,
)
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS


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


# --- the command line as the kernel splits it (kernel/params.c next_arg) ---------------------------
@pytest.mark.parametrize("text, args", [
    ('dyndbg="file foo.c +p" quiet', ['dyndbg="file foo.c +p"', "quiet"]),
    ('  a=1\t\tb  "c d=e f"  g="h" ', ["a=1", "b", '"c d=e f"', 'g="h"']),
    ('a="b"c"d e" f', ['a="b"c"d e"', "f"]),
    ('a="unclosed b c', ['a="unclosed b c']),
    ("", []),
    ("\n", []),
])
def test_split_args_groups_double_quotes_like_the_kernel(text, args):
    assert split_args(text) == args


@pytest.mark.parametrize("arg, key, value", [
    ("quiet", "quiet", None),
    ("psi=1", "psi", "1"),
    ('dyndbg="file foo.c +p"', "dyndbg", "file foo.c +p"),
    ('"dyndbg=file foo.c"', "dyndbg", "file foo.c"),
    ('a="b"c', "a", 'b"c'),
    ("root=UUID=12", "root", "UUID=12"),
    ("a=", "a", ""),
])
def test_key_and_value_as_the_kernel_sees_them(arg, key, value):
    assert (arg_key(arg), arg_value(arg)) == (key, value)


@pytest.mark.parametrize("args, add, remove, expected", [
    ('dyndbg="file foo.c +p" quiet', [], ["dyndbg"], "quiet"),
    ('dyndbg="file foo.c +p" quiet', [], ["quiet"], 'dyndbg="file foo.c +p"'),
    ('dyndbg="file foo.c +p"  quiet', ["quiet"], [], 'dyndbg="file foo.c +p"  quiet'),
    ('psi="1" quiet', ["psi=1"], [], 'psi="1" quiet'),
    ("quiet -- quiet single", ["psi=1"], ["quiet"], "psi=1 -- quiet single"),
    ("a  b", [], ["c"], "a  b"),
])
def test_edits_keep_every_argument_they_do_not_touch(args, add, remove, expected):
    assert edit_tokens(args, add, remove) == expected


def test_an_unclosed_quote_stops_the_edit():
    with pytest.raises(ValueError, match="line 2.*not closed"):
        edit_file("extlinux", 'label l0\n  append root=/dev/sda a="b\n', ["psi=1"], [])
    with pytest.raises(ValueError, match="not closed"):
        edit_file("kernel_cmdline", 'root=/dev/sda a="b\n', [], ["quiet"])


def test_running_command_line_with_quotes_and_init_arguments():
    assert missing_from_running('dyndbg="a b" psi=1', ["psi=1"], ["a"]) == []
    assert missing_from_running('root=/dev/vda -- psi=1', ["psi=1"], []) == ["psi=1"]
    assert missing_from_running('root=/dev/vda psi="1"', ["psi=1"], []) == []


# --- one argument -----------------------------------------------------------------------------------
@pytest.mark.parametrize("arg", [
    "psi=1", "quiet", "console=ttyFIQ0,1500000n8", "cma=256M", "video=HDMI-A-1:1920x1080@60",
    "usbcore.quirks=0bda:8153:k", "isolcpus=1-3", "a=", "nfsroot=10.0.0.1:/srv/nfs,v3", "x_y.z-w=%^~+",
])
def test_ordinary_arguments_are_accepted(arg):
    assert argument_problem(arg) is None


@pytest.mark.parametrize("arg, words", [
    ("", ["empty"]), ("=foo", ["no key"]), ("=", ["no key"]), ("a b", ["whitespace"]), ("a\nb", ["whitespace"]),
    ("x=$(touch /tmp/p)", ["whitespace"]), ("x=$(id)", ["$", "(", ")"]), ("y=\\", ["\\"]), ("a=`id`", ["`"]),
    ("a=b;c", [";"]), ("a='b'", ["'"]), ('a="b"', ['"']), ("a=\u00e9", ["printable ASCII"]), ("a=\x7f", ["printable ASCII"]),
    ("--", ["key"]), ("$x=1", ["key"]), ("a=b#c", ["#"]), ("a=*", ["*"]),
    ("root=/dev/sda", ["root", "needed to boot"]), ("root", ["root"]), ("init=/bin/sh", ["init"]),
    ("rootfstype=ext4", ["rootfstype"]),
])
def test_argument_problem_says_what_is_wrong(arg, words):
    problem = argument_problem(arg)
    assert problem and repr(arg) in problem
    for word in words:
        assert word in problem


def test_argument_problem_rejects_a_non_string():
    assert "empty" in argument_problem(None)


# --- /etc/default/u-boot values -----------------------------------------------------------------------
@pytest.mark.parametrize("text, parsed", [
    ('"quiet rw"', ("quiet rw", '"', "")),
    ("'quiet rw'  # keep", ("quiet rw", "'", "  # keep")),
    ('"a \\"b c\\" \\\\ \\$ \\` \\x"', ('a "b c" \\ $ ` \\x', '"', "")),
    ("quiet", ("quiet", "", "")),
    ("", ("", "", "")),
    ("''", ("", "'", "")),
])
def test_parse_shell_value(text, parsed):
    assert parse_shell_value(text) == parsed


@pytest.mark.parametrize("text, reason", [
    ('"a $X"', "expansion"), ('"a `id`"', "expansion"), ('"a', "not closed"), ("'a", "not closed"),
    ("a b", "not one"), ("'a'$X", "not one"), ('"a"b', "not one"), ("$(id)", "not one"), ("~/x", "not one"),
])
def test_parse_shell_value_refuses_what_it_cannot_edit_safely(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_shell_value(text)


@pytest.mark.parametrize("value, quote, expected", [
    ("quiet rw", '"', '"quiet rw"'),
    ('a "b" $c `d` \\e', '"', '"a \\"b\\" \\$c \\`d\\` \\\\e"'),
    ("quiet rw", "'", "'quiet rw'"),
    ("it's", "'", '"it\'s"'),
    ("quiet", "", "quiet"),
    ("quiet rw", "", '"quiet rw"'),
    ("", "", '""'),
])
def test_shell_quote(value, quote, expected):
    assert shell_quote(value, quote) == expected


# --- links and encodings -----------------------------------------------------------------------------
def test_resolve_link_inside_its_directory(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs.path("/boot/env/armbianEnv.txt"), "extraargs=\n")
    os.symlink("/boot/env/armbianEnv.txt", fs.path("/boot/first"))
    os.symlink("first", fs.path("/boot/armbianEnv.txt"))
    assert resolve_link(fs, "/boot/armbianEnv.txt", "armbian_env") == "/boot/env/armbianEnv.txt"
    assert read_boot_file(fs, "armbian_env", "/boot/armbianEnv.txt") == ("/boot/env/armbianEnv.txt", "extraargs=\n")
    assert resolve_link(fs, "/boot/env/armbianEnv.txt", "armbian_env") == "/boot/env/armbianEnv.txt"


@pytest.mark.parametrize("target, reason", [
    ("/etc/armbianEnv.txt", "outside /boot"), ("../../../etc/x", "outside /boot"), ("armbianEnv.txt", "loop"),
    ("/bootx/armbianEnv.txt", "outside /boot"), ("linked/armbianEnv.txt", "linked directory"),
])
def test_resolve_link_refuses_links_out_of_the_boot_directory(tmp_path, target, reason):
    fs = HostFS(root=str(tmp_path))
    write(fs.path("/etc/x"), "")
    os.makedirs(fs.path("/boot"))
    os.symlink("/etc", fs.path("/boot/linked"))
    os.symlink(target, fs.path("/boot/armbianEnv.txt"))
    with pytest.raises(ValueError, match=reason):
        resolve_link(fs, "/boot/armbianEnv.txt", "armbian_env")


def test_read_boot_file_names_a_file_that_is_not_utf8(tmp_path):
    fs = HostFS(root=str(tmp_path))
    with open(write(fs.path("/boot/armbianEnv.txt"), ""), "wb") as handle:
        handle.write(b"extraargs=\xff\n")
    with pytest.raises(ValueError, match=r"/boot/armbianEnv.txt is not UTF-8 text \(byte 0xff at offset 10\)"):
        read_boot_file(fs, "armbian_env", "/boot/armbianEnv.txt")
    os.makedirs(fs.path("/etc/kernel/cmdline"))
    with pytest.raises(ValueError, match="not a regular file"):
        read_boot_file(fs, "kernel_cmdline", "/etc/kernel/cmdline")
