"""MGLRU settings on Debian's 6.1 kernel: the mglru role sets them live, check mode on the converged
VM predicts no change, and they come back after a reboot from the tmpfiles.d file alone
(systemd-tmpfiles-setup.service writes its ``w`` lines at boot; nothing of the collection runs
then). The kernel's values are put back and the file removed at the end.
"""

from __future__ import annotations

import json
import pathlib
import shlex

import pytest

pytestmark = [pytest.mark.vm_modes("v2"), pytest.mark.vm_suites("bookworm"), pytest.mark.feature("lru_gen across reboot")]

PLAYBOOK = pathlib.Path(__file__).resolve().parents[1] / "mglru.yml"
TASK = "Keep the multi-gen LRU settings live and across reboots"
PATH = "/etc/tmpfiles.d/rock5b-oom-lru-gen.conf"
LRU = "/sys/kernel/mm/lru_gen"
ASKED = {"mglru_enabled": True, "mglru_min_ttl_ms": 1000}


def live(vm) -> tuple[int, int]:
    """(the enabled mask, min_ttl_ms) as the kernel shows them."""
    mask, ttl = vm.run(f"cat {LRU}/enabled {LRU}/min_ttl_ms").split()
    return int(mask, 16), int(ttl)


def apply(vm, *extra):
    rc, data = vm.playbook(PLAYBOOK, *extra, "-e", json.dumps(ASKED))
    assert rc == 0, data
    return vm.task_result(data, TASK), data["stats"][vm.name]


@pytest.fixture(scope="module")
def kernel_values(vm):
    """The kernel's own values, read first (the ground truth: Debian's kernel has the MGLRU);
    put back, and the file removed, after the module's tests."""
    release = vm.run("uname -r").strip()
    config = vm.run(f"grep -E '^(# )?CONFIG_LRU_GEN(_ENABLED)?[= ]' /boot/config-{release} || true")
    assert "CONFIG_LRU_GEN=y" in config, f"{release} is built without the multi-gen LRU: {config}"
    assert vm.host.run(f"test -d {LRU}").rc == 0, f"{LRU} missing on {release}"
    # a file the converge wrote (the inventory sets mglru_*) is put back as it was
    saved = vm.read(PATH) + "\n" if vm.host.file(PATH).exists else None
    mask, ttl = live(vm)
    yield {"mask": mask, "min_ttl_ms": ttl, "default_on": "CONFIG_LRU_GEN_ENABLED=y" in config, "file": saved}
    restore = f"rm -f {PATH}" if saved is None else f"printf %s {shlex.quote(saved)} > {PATH}"
    vm.run(f"{restore} && echo {'0x%04x' % mask} > {LRU}/enabled && echo {ttl} > {LRU}/min_ttl_ms")
    assert live(vm) == (mask, ttl)


def test_the_role_sets_the_values_live_and_in_the_file(vm, kernel_values):
    result, _stats = apply(vm)
    assert not result.get("failed"), result.get("msg")
    assert result["present"] is True and result["live_applied"] is True, result
    mask, ttl = live(vm)
    assert mask & 0x0001 and ttl == 1000, (mask, ttl)
    assert result["after"]["live"]["min_ttl_ms"] == 1000 and result["after"]["live"]["enabled"] is True, result
    if kernel_values["file"] is None:
        assert result["changed"] is True and result["file_changed"] is True, result
    lines = [line for line in vm.read(PATH).splitlines() if line.startswith("w ")]
    assert lines == [f"w {LRU}/enabled - - - - y", f"w {LRU}/min_ttl_ms - - - - 1000"], lines
    assert vm.run(f"stat -c '%a %U:%G' {PATH}").strip() == "644 root:root"


def test_check_mode_on_the_converged_vm_predicts_no_change(vm, kernel_values):
    result, stats = apply(vm, "--check", "--diff")
    assert result["changed"] is False and result["live_changed"] == [] and not result["file_changed"], result
    assert stats["changed"] == 0, stats


@pytest.mark.reboots
def test_the_values_survive_a_reboot(vm, kernel_values):
    secs = vm.reboot()
    print(f"{vm.name}: reboot-to-SSH {secs:.1f}s; the kernel's MGLRU default is "
          f"{'on' if kernel_values['default_on'] else 'off'}, its min_ttl_ms {kernel_values['min_ttl_ms']}")
    mask, ttl = live(vm)
    assert mask & 0x0001 and ttl == 1000, f"after the reboot: enabled {mask:#06x}, min_ttl_ms {ttl}"
    print(vm.run("systemctl show -p ActiveState -p Result systemd-tmpfiles-setup.service"))
    # converged after the reboot: the role finds nothing to do
    result, stats = apply(vm, "--check", "--diff")
    assert result["changed"] is False and stats["changed"] == 0, result
