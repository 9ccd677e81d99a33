"""boot_cmdline: which kernel arguments ask systemd for the cgroup v1 hierarchy, and reading the
arguments of each boot file kind."""

from __future__ import annotations

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.boot_cmdline import asks_for_cgroup_v1, file_args


@pytest.mark.parametrize("arg", [
    "systemd.unified_cgroup_hierarchy=0", "systemd.unified_cgroup_hierarchy=false", "systemd.unified_cgroup_hierarchy=no",
    "systemd.unified_cgroup_hierarchy=off", "systemd.unified_cgroup_hierarchy=OFF", "systemd.unified_cgroup_hierarchy=n",
    "systemd.unified_cgroup_hierarchy=f", '"systemd.unified_cgroup_hierarchy=0"', 'systemd.unified_cgroup_hierarchy="no"',
    "rd.systemd.unified_cgroup_hierarchy=0",
    "systemd.legacy_systemd_cgroup_controller", "systemd.legacy_systemd_cgroup_controller=1",
    "systemd.legacy_systemd_cgroup_controller=yes", "systemd.legacy_systemd_cgroup_controller=True",
])
def test_requests_of_cgroup_v1(arg):
    assert asks_for_cgroup_v1(arg) is True


@pytest.mark.parametrize("arg", [
    "systemd.unified_cgroup_hierarchy", "systemd.unified_cgroup_hierarchy=1", "systemd.unified_cgroup_hierarchy=yes",
    "systemd.unified_cgroup_hierarchy=junk",  # systemd ignores a value it cannot parse
    "systemd.legacy_systemd_cgroup_controller=0", "systemd.legacy_systemd_cgroup_controller=off",
    "SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1", "cgroup_no_v1=all", "psi=1", "unified_cgroup_hierarchy=0",
    "xsystemd.unified_cgroup_hierarchy=0",
])
def test_not_requests_of_cgroup_v1(arg):
    assert asks_for_cgroup_v1(arg) is False


@pytest.mark.parametrize("kind, text, args", [
    ("kernel_cmdline", "root=/dev/mmcblk0p2 psi=1 -- single\n", ["root=/dev/mmcblk0p2", "psi=1"]),
    ("extlinux", "label l0\n  kernel /vmlinuz\n  append root=/dev/a quiet\nlabel l1\n  APPEND psi=0\n", ["root=/dev/a", "quiet", "psi=0"]),
    ("armbian_env", "verbosity=1\nextraargs=cma=256M systemd.unified_cgroup_hierarchy=0\n",
     ["cma=256M", "systemd.unified_cgroup_hierarchy=0"]),
    ("u_boot_default", 'U_BOOT_DEFAULT="l0"\nU_BOOT_PARAMETERS="console=ttyFIQ0 rw"\n', ["console=ttyFIQ0", "rw"]),
    ("u_boot_default", 'U_BOOT_PARAMETERS="$X quiet"\nexport U_BOOT_PARAMETERS=\'psi=1\'\n', ["psi=1"]),
    ("armbian_env", "verbosity=1\n", []),
])
def test_the_arguments_of_each_boot_file_kind(kind, text, args):
    assert file_args(kind, text) == args
