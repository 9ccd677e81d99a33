"""rock5b.oom.kernel_cmdline refuses what could break a board's boot, before any change.

Every refusal is checked the same way: the run fails, the message names the option (and the
file when the file is the problem), and every boot file stays byte-identical.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.rock5b.oom.plugins.modules import kernel_cmdline

U_BOOT = (
    "## /etc/default/u-boot - configuration file for u-boot-update(8)\n"
    "U_BOOT_DEFAULT=\"l0\"\n"
    "U_BOOT_PARAMETERS=\"console=ttyFIQ0,1500000n8 quiet rw\"\n"
)
ARMBIAN_ENV = "verbosity=1\noverlay_prefix=rockchip-rk3588\nextraargs=cma=256M\n"


@pytest.fixture
def board(host_fs):
    with open(os.path.join(host_fs.proc, "cmdline"), "w") as handle:
        handle.write("root=UUID=1234 rootwait cma=256M\n")
    return host_fs


def boot_bytes(board):
    """Every file and link under the fake root, as bytes (and link targets), to prove nothing changed."""
    state = {}
    for directory, _dirs, files in os.walk(board.root):
        for name in files:
            full = os.path.join(directory, name)
            if os.path.islink(full):
                state[full] = ("link", os.readlink(full))
            else:
                with open(full, "rb") as handle:
                    state[full] = (handle.read(), os.stat(full).st_mode)
    return state


def refused(board, run_module, args, *words):
    before = boot_bytes(board)
    result = run_module(kernel_cmdline, args)
    assert result.get("failed"), result
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert boot_bytes(board) == before
    return result


# --- item 4: nothing that a shell would run reaches /etc/default/u-boot ------------------------------
@pytest.mark.parametrize("arg", [
    "x=$(touch /tmp/p)", "y=\\", "a=`id`", "a=b;reboot", "a=b&", "a=b|c", "a=<b", "a=>b", "a=(b)",
    "a='b'", 'a="b"', "a=b\nc", "a=\tb", "psi=\u00e9", "a=b\x00", "=foo", "=", "a b", "$x", "-- init",
])
def test_shell_and_malformed_arguments_are_refused_before_any_change(board, run_module, arg):
    board.write("/etc/default/u-boot", U_BOOT)
    board.write("/boot/armbianEnv.txt", ARMBIAN_ENV)
    refused(board, run_module, {"add": [arg]}, "add", "nothing was changed")
    refused(board, run_module, {"remove": [arg]}, "remove")


def test_every_bad_argument_is_named_in_one_message(board, run_module):
    board.write("/etc/default/u-boot", U_BOOT)
    result = refused(board, run_module, {"add": ["psi=1", "x=$(id)", "=foo"], "remove": ["y=\\"]})
    assert "x=$(id)" in result["msg"] and "'=foo'" in result["msg"] and "y=\\\\" in result["msg"]
    assert "psi=1" not in result["msg"].replace("x=$(id)", "")


def test_u_boot_default_stays_valid_shell(board, run_module):
    board.write("/etc/default/u-boot", U_BOOT)
    result = run_module(kernel_cmdline, {"add": ["psi=1", "cma=256M"], "backup": False})
    assert result["changed"]
    text = board.read("/etc/default/u-boot")
    assert 'U_BOOT_PARAMETERS="console=ttyFIQ0,1500000n8 quiet rw psi=1 cma=256M"\n' in text
    assert subprocess.run(["sh", "-n", board.path("/etc/default/u-boot")], check=False).returncode == 0


# --- item 5: quoted arguments stay whole --------------------------------------------------------------
def test_removing_next_to_a_quoted_argument_keeps_it_whole(board, run_module):
    board.write("/boot/armbianEnv.txt", 'verbosity=1\nextraargs=dyndbg="file foo.c +p" quiet cma=256M\n')
    run_module(kernel_cmdline, {"remove": ["dyndbg"], "backup": False})
    assert board.read("/boot/armbianEnv.txt") == "verbosity=1\nextraargs=quiet cma=256M\n"
    board.write("/boot/armbianEnv.txt", 'extraargs=dyndbg="file foo.c +p" quiet cma=256M\n')
    run_module(kernel_cmdline, {"remove": ["quiet"], "add": ["psi=1"], "backup": False})
    assert board.read("/boot/armbianEnv.txt") == 'extraargs=dyndbg="file foo.c +p" cma=256M psi=1\n'


def test_quoted_argument_in_u_boot_parameters(board, run_module):
    board.write("/etc/default/u-boot", 'U_BOOT_PARAMETERS="dyndbg=\\"file foo.c +p\\" quiet"\n')
    run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    text = board.read("/etc/default/u-boot")
    assert text == 'U_BOOT_PARAMETERS="dyndbg=\\"file foo.c +p\\" quiet psi=1"\n'
    assert subprocess.run(["sh", "-n", board.path("/etc/default/u-boot")], check=False).returncode == 0


def test_an_unclosed_quote_is_not_edited(board, run_module):
    """The kernel reads everything after an unclosed quote as one value: an argument appended
    there would be swallowed. The file is named and nothing at all is changed, not even the
    other boot files (they would disagree with it)."""
    board.write("/boot/armbianEnv.txt", 'extraargs=dyndbg="file foo.c quiet\n')
    refused(board, run_module, {"add": ["psi=1"], "targets": ["armbian_env"]}, "/boot/armbianEnv.txt", "quote")
    board.write("/etc/kernel/cmdline", "root=/dev/mmcblk0p2\n")
    refused(board, run_module, {"add": ["psi=1"]}, "/boot/armbianEnv.txt", "line 1", "quote")
    board.write("/etc/kernel/cmdline", 'root=/dev/mmcblk0p2 a="b\n')
    refused(board, run_module, {"remove": ["quiet"], "targets": ["kernel_cmdline"]}, "/etc/kernel/cmdline", "quote")


def test_arguments_for_init_after_double_dash_are_left_to_init(board, run_module):
    board.write("/etc/kernel/cmdline", "root=/dev/mmcblk0p2 quiet -- single quiet\n")
    run_module(kernel_cmdline, {"add": ["psi=1"], "remove": ["quiet"], "backup": False})
    assert board.read("/etc/kernel/cmdline") == "root=/dev/mmcblk0p2 psi=1 -- single quiet\n"


# --- armbianEnv.txt -----------------------------------------------------------------------------------
def test_an_indented_extraargs_line_is_edited_not_doubled(board, run_module):
    board.write("/boot/armbianEnv.txt", "verbosity=1\n  extraargs=cma=256M\n")
    run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert board.read("/boot/armbianEnv.txt") == "verbosity=1\n  extraargs=cma=256M psi=1\n"


@pytest.mark.parametrize("target", ["env/armbianEnv.txt", "/boot/env/armbianEnv.txt"])
def test_a_symlinked_armbian_env_is_written_through(board, run_module, target):
    board.write("/boot/env/armbianEnv.txt", ARMBIAN_ENV)
    os.symlink(target, board.path("/boot/armbianEnv.txt"))
    result = run_module(kernel_cmdline, {"add": ["psi=1"]})
    assert result["changed"], result
    assert os.readlink(board.path("/boot/armbianEnv.txt")) == target
    assert board.read("/boot/env/armbianEnv.txt") == ARMBIAN_ENV.replace("cma=256M", "cma=256M psi=1")
    backup = result["files"][0]["backup_file"]
    assert open(backup).read() == ARMBIAN_ENV
    assert run_module(kernel_cmdline, {"add": ["psi=1"]})["changed"] is False


@pytest.mark.parametrize("target", ["/etc/armbianEnv.txt", "../etc/armbianEnv.txt"])
def test_a_symlink_out_of_boot_is_refused(board, run_module, target):
    board.write("/etc/armbianEnv.txt", ARMBIAN_ENV)
    os.makedirs(board.path("/boot"))
    os.symlink(target, board.path("/boot/armbianEnv.txt"))
    refused(board, run_module, {"add": ["psi=1"]}, "/boot/armbianEnv.txt", "/etc/armbianEnv.txt", "outside /boot")


def test_a_symlink_loop_is_refused(board, run_module):
    os.makedirs(board.path("/boot"))
    os.symlink("armbianEnv.txt", board.path("/boot/armbianEnv.txt"))
    board.write("/etc/kernel/cmdline", "root=/dev/mmcblk0p2\n")
    refused(board, run_module, {"add": ["psi=1"]}, "/boot/armbianEnv.txt")


# --- /etc/default/u-boot -------------------------------------------------------------------------------
@pytest.mark.parametrize("line, expected", [
    ("U_BOOT_PARAMETERS='quiet rw'\n", "U_BOOT_PARAMETERS='quiet rw psi=1'\n"),
    ("export U_BOOT_PARAMETERS=\"quiet rw\"  # ours\n", "export U_BOOT_PARAMETERS=\"quiet rw psi=1\"  # ours\n"),
    ("U_BOOT_PARAMETERS=quiet\n", "U_BOOT_PARAMETERS=\"quiet psi=1\"\n"),
    ("U_BOOT_PARAMETERS=''\n", "U_BOOT_PARAMETERS='psi=1'\n"),
])
def test_u_boot_parameters_in_any_quoting(board, run_module, line, expected):
    board.write("/etc/default/u-boot", "U_BOOT_DEFAULT=\"l0\"\n" + line)
    result = run_module(kernel_cmdline, {"add": ["psi=1"], "targets": ["u_boot_default"], "backup": False})
    assert not result.get("failed"), result
    assert board.read("/etc/default/u-boot") == "U_BOOT_DEFAULT=\"l0\"\n" + expected
    assert subprocess.run(["sh", "-n", board.path("/etc/default/u-boot")], check=False).returncode == 0


@pytest.mark.parametrize("line", [
    'U_BOOT_PARAMETERS="quiet $EXTRA"\n', "U_BOOT_PARAMETERS=\"quiet `id`\"\n", 'U_BOOT_PARAMETERS="quiet\n',
    "U_BOOT_PARAMETERS='quiet'$X\n", "U_BOOT_PARAMETERS=quiet rw\n",
])
def test_u_boot_parameters_a_shell_would_expand_are_left_alone(board, run_module, line):
    board.write("/etc/default/u-boot", line)
    refused(board, run_module, {"add": ["psi=1"], "targets": ["u_boot_default"]}, "/etc/default/u-boot",
            "U_BOOT_PARAMETERS")


# --- arguments a board needs to boot ---------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    ({"remove": ["root"]}, ["remove", "'root'"]),
    ({"remove": ["root=UUID=1234"]}, ["remove", "root"]),
    ({"add": ["root=/dev/sda1"]}, ["add", "root"]),
    ({"add": ["rootfstype=btrfs"]}, ["add", "rootfstype"]),
    ({"remove": ["init"]}, ["remove", "init"]),
    ({"add": ["psi=1"], "remove": ["rootwait"]}, ["remove", "rootwait"]),
])
def test_arguments_a_board_needs_to_boot_are_never_touched(board, run_module, args, words):
    board.write("/etc/kernel/cmdline", "root=UUID=1234 rootfstype=ext4 rootwait init=/sbin/init quiet\n")
    refused(board, run_module, args, *words)


def test_no_targets_is_refused(board, run_module):
    board.write("/boot/armbianEnv.txt", ARMBIAN_ENV)
    refused(board, run_module, {"add": ["psi=1"], "targets": []}, "targets")


# --- unreadable boot files ---------------------------------------------------------------------------
def test_a_boot_file_that_is_not_utf8_is_named_and_not_written(board, run_module):
    path = board.path("/boot/armbianEnv.txt")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(b"verbosity=1\nextraargs=cma=256M \xff\xfe\n")
    board.write("/etc/kernel/cmdline", "root=/dev/mmcblk0p2\n")
    refused(board, run_module, {"add": ["psi=1"]}, "/boot/armbianEnv.txt", "UTF-8")


def test_a_failed_write_restores_the_files_already_written(board, run_module, monkeypatch):
    from ansible_collections.rock5b.oom.plugins.module_utils import hostfs

    board.write("/boot/extlinux/extlinux.conf", "label l0\n  append root=/dev/mmcblk0p2\n")
    board.write("/boot/armbianEnv.txt", ARMBIAN_ENV)
    real = hostfs.HostFS.write_atomic
    calls = []

    def failing(self, path, text, mode=0o644, owner=None):
        calls.append(path)
        if path == "/boot/armbianEnv.txt" and len(calls) == 2:
            raise hostfs.WriteError(path, OSError(28, "No space left on device"))
        return real(self, path, text, mode, owner)

    monkeypatch.setattr(hostfs.HostFS, "write_atomic", failing)
    refused(board, run_module, {"add": ["psi=1"], "backup": False}, "/boot/armbianEnv.txt", "undone")
