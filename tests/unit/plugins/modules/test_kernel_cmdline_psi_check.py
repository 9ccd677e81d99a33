"""rock5b.oom.kernel_cmdline's psi_check: psi=1 is refused, every file left byte for byte, where no
kernel the board runs or may boot is built with CONFIG_PSI; it goes on, and says why, elsewhere."""

from __future__ import annotations

import gzip
import hashlib
import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import psi_kernels
from ansible_collections.rock5b.oom.plugins.modules import kernel_cmdline

RADXA = "5.10.160-rockchip"
DEBIAN = "6.1.0-28-arm64"
NO_PSI = "CONFIG_MEMCG=y\n# CONFIG_PSI is not set\nCONFIG_ZRAM=m\n"
PSI_OFF_BY_DEFAULT = "CONFIG_MEMCG=y\nCONFIG_PSI=y\nCONFIG_PSI_DEFAULT_DISABLED=y\n"
PSI_ON = "CONFIG_MEMCG=y\nCONFIG_PSI=y\n# CONFIG_PSI_DEFAULT_DISABLED is not set\n"
BOOT_FILES = {
    "/boot/armbianEnv.txt": "verbosity=1\nextraargs=cma=256M\n",
    "/boot/dietpiEnv.txt": "rootdev=UUID=1234\nextraargs=\n",
    "/boot/extlinux/extlinux.conf": "label l0\n  append root=/dev/mmcblk0p2 psi=0\n",
    "/etc/default/u-boot": 'U_BOOT_PARAMETERS="quiet rw"\n',
    "/etc/kernel/cmdline": "root=/dev/mmcblk0p2 rw\n",
}


@pytest.fixture
def board(host_fs):
    with open(os.path.join(host_fs.proc, "cmdline"), "w") as handle:
        handle.write("root=UUID=1234 rootwait quiet\n")
    os.makedirs(os.path.join(host_fs.proc, "sys", "kernel"))
    with open(os.path.join(host_fs.proc, "sys", "kernel", "osrelease"), "w") as handle:
        handle.write(RADXA + "\n")
    for path, text in BOOT_FILES.items():
        host_fs.write(path, text)
    return host_fs


def every_byte(board):
    """Each file and link under the fake board (its /proc too): name -> sha256 of its bytes, mode."""
    state = {}
    for top in (board.root, board.proc):
        for directory, dirs, files in os.walk(top):
            for name in files + dirs:
                full = os.path.join(directory, name)
                info = os.lstat(full)
                digest = None
                if os.path.isfile(full) and not os.path.islink(full):
                    with open(full, "rb") as handle:
                        digest = hashlib.sha256(handle.read()).hexdigest()
                state[full] = (digest, info.st_mode, info.st_mtime_ns)
    return state


def psi_on(board, check_mode=False, **args):
    return kernel_cmdline_run(board, dict({"add": ["psi=1"]}, **args), check_mode)


def kernel_cmdline_run(board, args, check_mode):
    return board.run_module(kernel_cmdline, args, check_mode=check_mode, diff=True)


@pytest.fixture(autouse=True)
def _runner(board, run_module):
    board.run_module = run_module


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("text", [NO_PSI, "CONFIG_MEMCG=y\n", "CONFIG_MEMCG=y\nCONFIG_PSI=n\n"])
def test_a_kernel_without_psi_is_refused_and_every_file_is_left_byte_for_byte(board, check_mode, text):
    board.write("/boot/config-" + RADXA, text)
    before = every_byte(board)
    result = psi_on(board, check_mode)
    assert result.get("failed"), result
    assert every_byte(board) == before
    message = result["msg"]
    assert message.startswith("psi=1 cannot turn PSI on, nothing was changed: the running kernel %s is built without PSI "
                              "(/boot/config-%s: CONFIG_PSI is not set)" % (RADXA, RADXA)), message
    assert "CONFIG_PSI=y" in message and "psi_check=false" in message and "psi_boot_kernel_check: false" in message
    assert result["kernel_psi"]["state"] == "not_built" and result["kernel_psi"]["release"] == RADXA
    assert result["kernel_psi"]["kernels"] == [{"release": RADXA, "config": "/boot/config-" + RADXA, "running": True,
                                                "psi": False, "default_disabled": False}]


def test_the_refusal_names_installed_kernels_without_psi_too(board):
    board.write("/boot/config-" + RADXA, NO_PSI)
    board.write("/boot/config-5.10.110-rockchip", NO_PSI)
    result = psi_on(board)
    assert "neither are the installed kernels 5.10.110-rockchip (/boot/config-5.10.110-rockchip)" in result["msg"]


def test_proc_config_gz_says_what_the_running_kernel_is(board):
    with gzip.open(os.path.join(board.proc, "config.gz"), "wt") as handle:
        handle.write(NO_PSI)
    board.write("/boot/config-" + RADXA, PSI_ON)  # stale: /proc/config.gz is the running kernel's own
    before = every_byte(board)
    result = psi_on(board)
    assert result.get("failed") and "(/proc/config.gz: CONFIG_PSI is not set)" in result["msg"], result
    assert [k["config"] for k in result["kernel_psi"]["kernels"]] == ["/proc/config.gz"]  # one kernel, read once
    assert every_byte(board) == before


def test_a_given_config_dir_is_read_instead_of_boot(board):
    board.write("/boot/config-" + RADXA, PSI_OFF_BY_DEFAULT)
    board.write("/root/fake-boot/config-" + RADXA, NO_PSI)
    before = every_byte(board)
    result = psi_on(board, kernel_config_dir="/root/fake-boot")
    assert result.get("failed") and "/root/fake-boot/config-%s" % RADXA in result["msg"], result
    assert "no kernel config in /root/fake-boot has CONFIG_PSI=y" in result["msg"]
    assert every_byte(board) == before
    assert not psi_on(board).get("failed")


@pytest.mark.parametrize("directory", ["boot", "/boot/../tmp", "/boot\n"])
def test_a_config_dir_that_is_not_a_plain_absolute_path_is_refused(board, directory):
    before = every_byte(board)
    result = psi_on(board, kernel_config_dir=directory)
    assert result.get("failed") and "kernel_config_dir must be an absolute path" in result["msg"], result
    assert every_byte(board) == before


@pytest.mark.parametrize("check_mode", [False, True])
def test_psi_1_helps_a_radxa_kernel_with_psi_off_by_default(board, check_mode):
    board.write("/boot/config-" + RADXA, PSI_OFF_BY_DEFAULT)
    result = psi_on(board, check_mode)
    assert not result.get("failed") and result["changed"], result
    assert result["kernel_psi"]["state"] == "built"
    assert "CONFIG_PSI_DEFAULT_DISABLED=y (/boot/config-%s): psi=1 turns PSI on" % RADXA in result["kernel_psi"]["message"]
    assert (board.read("/boot/armbianEnv.txt") == "verbosity=1\nextraargs=cma=256M psi=1\n") is not check_mode


def test_psi_on_by_default_keeps_todays_behaviour(board):
    board.write("/boot/config-" + RADXA, PSI_ON)
    result = psi_on(board, backup=False)
    assert result["changed"] and result["kernel_psi"]["state"] == "built" and result["warnings"] == []
    assert "PSI on by default" in result["kernel_psi"]["message"] and "harmless" in result["kernel_psi"]["message"]
    assert board.read("/boot/dietpiEnv.txt") == "rootdev=UUID=1234\nextraargs=psi=1\n"
    assert board.read("/boot/extlinux/extlinux.conf").endswith("append root=/dev/mmcblk0p2 psi=1\n")


def test_psi_0_on_the_running_command_line_is_said(board):
    board.write("/boot/config-" + RADXA, PSI_ON)
    with open(os.path.join(board.proc, "cmdline"), "w") as handle:
        handle.write("root=UUID=1234 psi=0\n")
    assert "psi=0 turns it off now" in psi_on(board)["kernel_psi"]["message"]


def test_without_any_config_it_goes_on_and_says_so(board):
    result = psi_on(board, backup=False)
    assert not result.get("failed") and result["changed"], result
    kernel_psi = result["kernel_psi"]
    assert kernel_psi["state"] == "unknown" and kernel_psi["kernels"] == []
    assert "no kernel config of the running kernel %s was found (/proc/config.gz, /boot/config-%s)" % (
        RADXA, RADXA) in kernel_psi["message"]


def test_another_installed_kernel_with_psi_lets_it_go_on(board):
    board.write("/boot/config-" + RADXA, NO_PSI)
    board.write("/boot/config-" + DEBIAN, PSI_ON)
    result = psi_on(board, backup=False)
    assert not result.get("failed") and result["changed"], result
    assert result["kernel_psi"]["state"] == "other_kernel"
    assert "psi=1 turns PSI on once the board boots %s (/boot/config-%s)" % (DEBIAN, DEBIAN) in result["kernel_psi"]["message"]


def test_an_installed_kernel_without_psi_beside_the_running_one_is_a_warning(board):
    board.write("/boot/config-" + RADXA, PSI_OFF_BY_DEFAULT)
    board.write("/boot/config-5.10.66-rockchip", NO_PSI)
    result = psi_on(board, backup=False)
    assert result["changed"] and result["kernel_psi"]["state"] == "built"
    assert result["warnings"] == ["the installed kernel 5.10.66-rockchip is built without PSI (/boot/config-5.10.66-rockchip: "
                                  "CONFIG_PSI is not set): psi=1 cannot turn PSI on when it boots"]
    assert "warnings" not in result["kernel_psi"]


def test_psi_check_false_skips_the_check(board):
    board.write("/boot/config-" + RADXA, NO_PSI)
    result = psi_on(board, psi_check=False, backup=False)
    assert not result.get("failed") and result["changed"] and result["kernel_psi"]["state"] == "not_checked"


@pytest.mark.parametrize("args", [{"add": ["psi=0"]}, {"remove": ["psi"]}, {"add": ["quiet"]}])
def test_arguments_that_do_not_turn_psi_on_are_not_checked(board, args):
    board.write("/boot/config-" + RADXA, NO_PSI)
    result = kernel_cmdline_run(board, dict(args, backup=False), False)
    assert not result.get("failed"), result
    assert result["kernel_psi"]["state"] == "not_checked"


@pytest.mark.parametrize("args, on", [
    (["psi=1"], True), (["psi=y"], True), (["psi=Y"], True), (["psi=on"], True), (["psi=true"], True),
    (["psi=enable"], True), (["quiet", "psi=1"], True),
    (["psi=0"], False), (["psi=n"], False), (["psi=off"], False), (["psi=false"], False), (["psi"], False),
    (["psi="], False), (["psi_x=1"], False), (["xpsi=1"], False), ([], False),
])
def test_which_arguments_turn_psi_on(args, on):
    assert psi_kernels.turns_psi_on(args) is on
