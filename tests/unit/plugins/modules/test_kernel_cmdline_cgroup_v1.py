"""rock5b.oom.kernel_cmdline never asks for the cgroup v1 hierarchy on a board whose systemd does
not boot with it (256 and later; Debian 13 has 257), nor on one whose systemd version is unknown.

The version is read from the board's libsystemd-shared-<N>.so (fake trees here; a test tree
never runs the controller's systemctl). A refusal fails before any write: every boot file stays
byte-identical.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.rock5b.oom.plugins.modules import kernel_cmdline

LIBRARY = "/usr/lib/aarch64-linux-gnu/systemd/libsystemd-shared-%d.so"
FILES = {
    "/etc/default/u-boot": 'U_BOOT_DEFAULT="l0"\nU_BOOT_PARAMETERS="console=ttyFIQ0,1500000n8 quiet rw"\n',
    "/boot/extlinux/extlinux.conf": "label l0\n  kernel /vmlinuz\n  append root=/dev/mmcblk0p2 rootwait\n",
    "/boot/armbianEnv.txt": "verbosity=1\noverlay_prefix=rockchip-rk3588\nextraargs=cma=256M\n",
    "/etc/kernel/cmdline": "root=/dev/mmcblk0p2 rootwait\n",
}
V1 = "systemd.unified_cgroup_hierarchy=0"


# What Debian 13's systemd 257 does with a cgroup v1 request, as seen in the VM test bed.
V257 = ("systemd 257 on this board does not run the cgroup v1 hierarchy (it waits 30 s at every boot, then boots cgroup v2 anyway; "
        "v1 was dropped in systemd 256 and removed in 258)")


def make_board(host_fs, systemd=None, files=None):
    with open(os.path.join(host_fs.proc, "cmdline"), "w") as handle:
        handle.write("root=/dev/mmcblk0p2 rootwait cma=256M\n")
    for path, text in (files or FILES).items():
        host_fs.write(path, text)
    if systemd is not None:
        host_fs.write(LIBRARY % systemd, "")
        host_fs.write((LIBRARY % systemd).replace("shared", "core"), "")
    return host_fs


def boot_bytes(board):
    state = {}
    for directory, _dirs, files in os.walk(board.root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as handle:
                state[os.path.join(directory, name)] = handle.read()
    return state


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("arg", [V1, "systemd.unified_cgroup_hierarchy=false", "systemd.unified_cgroup_hierarchy=no",
                                 "systemd.unified_cgroup_hierarchy=off", "systemd.legacy_systemd_cgroup_controller=1"])
def test_systemd_257_refuses_cgroup_v1_and_writes_nothing(host_fs, run_module, arg, check_mode):
    board = make_board(host_fs, systemd=257)
    before = boot_bytes(board)
    result = run_module(kernel_cmdline, {"add": ["psi=1", arg]}, check_mode=check_mode)
    assert result["failed"]
    assert result["msg"] == (
        "%s: adding %s asks for cgroup v1, which this board cannot give; nothing was written" % (V257, arg))
    assert boot_bytes(board) == before


def test_the_force_switch_does_not_make_it_allowed(host_fs, run_module):
    board = make_board(host_fs, systemd=256)
    before = boot_bytes(board)
    result = run_module(kernel_cmdline, {"add": [V1, "SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"]})
    assert result["failed"] and result["msg"].startswith("systemd 256 on this board does not run the cgroup v1 hierarchy (it freezes at boot with it")
    assert boot_bytes(board) == before


def test_systemd_252_still_takes_it_as_before(host_fs, run_module):
    board = make_board(host_fs, systemd=252)
    result = run_module(kernel_cmdline, {"add": [V1], "backup": False})
    assert not result.get("failed"), result
    assert [f["changed"] for f in result["files"]] == [True, True, True, True]
    assert board.read("/etc/kernel/cmdline") == "root=/dev/mmcblk0p2 rootwait %s\n" % V1
    assert board.read("/boot/armbianEnv.txt").endswith("extraargs=cma=256M %s\n" % V1)
    assert result["warnings"] == []


def test_an_unknown_systemd_version_is_refused(host_fs, run_module):
    board = make_board(host_fs, systemd=None)
    before = boot_bytes(board)
    result = run_module(kernel_cmdline, {"add": [V1]})
    assert result["failed"] and result["msg"].startswith("the systemd version of this board is unknown")
    assert V1 in result["msg"] and result["msg"].endswith("nothing was written")
    assert boot_bytes(board) == before


def test_an_unknown_version_does_not_matter_to_other_arguments(host_fs, run_module):
    board = make_board(host_fs, systemd=None)
    result = run_module(kernel_cmdline, {"add": ["psi=1", "systemd.unified_cgroup_hierarchy=1"], "backup": False})
    assert not result.get("failed"), result
    assert board.read("/etc/kernel/cmdline") == "root=/dev/mmcblk0p2 rootwait psi=1 systemd.unified_cgroup_hierarchy=1\n"


def with_v1(files):
    return {
        "/etc/default/u-boot": files["/etc/default/u-boot"].replace(' rw"', ' rw %s"' % V1),
        "/boot/extlinux/extlinux.conf": files["/boot/extlinux/extlinux.conf"].replace("rootwait", "rootwait " + V1),
        "/boot/armbianEnv.txt": files["/boot/armbianEnv.txt"].replace("cma=256M", "cma=256M " + V1),
        "/etc/kernel/cmdline": files["/etc/kernel/cmdline"].replace("rootwait", "rootwait " + V1),
    }


def test_already_present_on_257_is_a_warning(host_fs, run_module):
    board = make_board(host_fs, systemd=257, files=with_v1(FILES))
    result = run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert not result.get("failed"), result
    assert board.read("/etc/kernel/cmdline") == "root=/dev/mmcblk0p2 rootwait %s psi=1\n" % V1
    assert result["warnings"] == [
        "%s has %s: %s; remove it (remove: systemd.unified_cgroup_hierarchy)" % (path, V1, V257) for path in FILES]


def test_already_present_on_252_is_no_warning(host_fs, run_module):
    make_board(host_fs, systemd=252, files=with_v1(FILES))
    result = run_module(kernel_cmdline, {"add": ["psi=1"], "backup": False})
    assert not result.get("failed") and result["warnings"] == []


@pytest.mark.parametrize("systemd", [257, None])
def test_removing_it_still_works_and_leaves_no_warning(host_fs, run_module, systemd):
    board = make_board(host_fs, systemd=systemd, files=with_v1(FILES))
    result = run_module(kernel_cmdline, {"remove": ["systemd.unified_cgroup_hierarchy"], "backup": False})
    assert not result.get("failed"), result
    assert result["changed"] and result["warnings"] == []
    for path, text in FILES.items():
        assert board.read(path) == text
