"""The zram role on real kernels (not run by the author: make vm-test).

(a) the v1 VM (zram_enabled in the scenario, so its drills ran with zram): the role's device is the only zram swap after a reboot, of the size,
    algorithm and priority the role computed; oom_facts reports it; the monitor's check counts
    it; SwapTotal counts it, and so does the CommitLimit the strict-overcommit pre-flight
    computes (vm_profile's arithmetic).
(b) nopsi VM: zram-tools set up first is reported and left alone (one device, nothing changed);
    with zram_takeover it is stopped and disabled and the role's device replaces it (one device).
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

import pytest

from conftest import REPO

# The strict-overcommit pre-flight's own arithmetic (vm_sysctl's), from the collection as
# tools/setup.sh links it.
sys.path.insert(0, str(REPO / ".cache" / "collections"))
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.meminfo import commit_limit_kb  # noqa: E402

PLAYBOOK = pathlib.Path(__file__).resolve().parents[1] / "zram.yml"
TASK = "Set up one zram swap device"
GENERATOR = "systemd-zram-generator"


def zram_swaps(vm) -> list[dict]:
    """/proc/swaps' zram lines: path, size_kb, used_kb, priority."""
    lines = vm.read("/proc/swaps").splitlines()[1:]
    found = []
    for line in lines:
        path, _type, size, used, priority = line.split()[:5]
        if "/zram" in path:
            found.append({"path": path, "size_kb": int(size), "used_kb": int(used), "priority": int(priority)})
    return found


def selected_algorithm(vm, device="zram0") -> str:
    match = re.search(r"\[([^\]]+)\]", vm.read(f"/sys/block/{device}/comp_algorithm"))
    return match.group(1) if match else ""


def meminfo(vm) -> dict:
    return dict((line.split(":")[0], int(line.split()[1])) for line in vm.read("/proc/meminfo").splitlines())


def converge(vm, **variables) -> dict:
    rc, data = vm.playbook(PLAYBOOK, "-e", json.dumps(variables)) if variables else vm.playbook(PLAYBOOK)
    assert rc == 0, json.dumps(data)[-3000:]
    result = vm.task_result(data, TASK)
    result["_changed_total"] = data["stats"][vm.name]["changed"]
    return result


def the_device_is(vm, wanted: dict) -> dict:
    swaps = zram_swaps(vm)
    assert [swap["path"] for swap in swaps] == ["/dev/zram0"], swaps
    swap = swaps[0]
    # /proc/swaps leaves out the swap header page
    assert 0 <= wanted["size_mib"] * 1024 - swap["size_kb"] <= 64, (swap, wanted)
    assert swap["priority"] == wanted["priority"], (swap, wanted)
    assert selected_algorithm(vm) == wanted["algorithm"]
    return swap


@pytest.mark.feature("zram")
@pytest.mark.vm_modes("v1")  # the VM molecule.yml gives zram_enabled
def test_zram_device_of_the_configured_size_after_a_reboot_counted_everywhere(vm):
    vm.install_debs(GENERATOR)
    first = converge(vm)
    assert first["managed"] and first["owner"] in ("none", "rock5b"), first
    wanted = first["wanted"]
    print(f"{vm.name}: zram {first['rule']} -> {wanted}; action {first['action']}")
    assert first["live_applied"], first
    the_device_is(vm, wanted)

    vm.reboot()
    swap = the_device_is(vm, wanted)
    # the monitor counts the new device too: its check names the zram swap's size
    check = vm.run("/usr/local/sbin/rock5b-oom-monitor --check", check=False)
    kb = swap["size_kb"]
    size_text = "%.1f GiB" % (kb / 1048576.0) if kb >= 1048576 else "%d MiB" % (kb // 1024)
    assert re.search(r"zram free \S+ \S+ of %s" % re.escape(size_text), check), (size_text, check)
    assert "active" == vm.run("systemctl is-active systemd-zram-setup@zram0.service", check=False).strip()
    assert "failed" not in vm.run("systemctl is-failed dev-zram0.swap", check=False)

    facts = vm.module("rock5b.oom.oom_facts", {})["ansible_facts"]["rock5b_oom"]
    assert [s["path"] for s in facts["swap"] if s["zram"]] == ["/dev/zram0"], facts["swap"]
    device = [z for z in facts["zram"] if z["device"] == "zram0"][0]
    assert device["used_as_swap"] and device["comp_algorithm"] == wanted["algorithm"], device
    assert device["disksize_kb"] == wanted["size_mib"] * 1024, device

    info = meminfo(vm)
    disk = sum(int(line.split()[2]) for line in vm.read("/proc/swaps").splitlines()[1:] if "/zram" not in line.split()[0])
    assert info["SwapTotal"] == swap["size_kb"] + disk, info
    # the commit limit the strict-overcommit pre-flight computes counts the zram swap, as the kernel does
    ratio = int(vm.read("/proc/sys/vm/overcommit_ratio"))
    assert abs(commit_limit_kb(info, ratio) - info["CommitLimit"]) <= 64, (commit_limit_kb(info, ratio), info)
    assert commit_limit_kb(info, ratio) - commit_limit_kb(dict(info, SwapTotal=disk), ratio) == swap["size_kb"]

    again = converge(vm)
    assert not again["changed"] and again["owner"] == "rock5b" and again["_changed_total"] == 0, again


@pytest.mark.feature("zram adoption")
@pytest.mark.vm_modes("nopsi")
def test_zram_tools_is_adopted_only_with_takeover(vm):
    # A board set up with zram-tools alone, as Armbian and DietPi users do by hand. Not the
    # generator too: its package's default config makes zram0 as soon as the zram module loads,
    # and zramswap then fails on a busy device (seen on the first VM run).
    vm.install_debs("bc", "zram-tools")  # zram-tools depends on bc
    try:
        vm.run("systemctl enable --now zramswap.service")
        before = zram_swaps(vm)
        assert len(before) == 1, before

        left = converge(vm, zram_takeover=False)
        assert left["owner"] == "zram-tools" and not left["managed"] and not left["changed"], left
        assert left["_changed_total"] == 0
        assert zram_swaps(vm) == before
        assert vm.run("systemctl is-active zramswap.service", check=False).strip() == "active"
        # left alone: no generator config written, and no generator package installed
        assert vm.run("ls /etc/systemd/zram-generator.conf 2>/dev/null || echo absent").strip() == "absent"
        assert not left["generator_installed"], left

        # Taking over installs the generator with apt; the VMs have no package lists, so the
        # test puts Debian's .deb in first, as apt would (the role then finds it installed).
        vm.install_debs(GENERATOR)
        taken = converge(vm, zram_takeover=True)
        assert taken["changed"] and taken["owner"] == "zram-tools" and taken["takeover"] == ["zramswap.service"], taken
        the_device_is(vm, taken["wanted"])
        assert vm.run("systemctl is-enabled zramswap.service", check=False).strip() == "disabled"
        assert vm.run("systemctl is-active zramswap.service", check=False).strip() == "inactive"
        assert "failed" not in vm.run("systemctl is-failed zramswap.service systemd-zram-setup@zram0.service "
                                      "dev-zram0.swap", check=False)

        again = converge(vm, zram_takeover=True)
        assert not again["changed"] and again["owner"] == "rock5b", again
        assert len(zram_swaps(vm)) == 1
    finally:
        vm.run("systemctl stop dev-zram0.swap systemd-zram-setup@zram0.service zramswap.service; "
               "rm -f /etc/systemd/zram-generator.conf; "
               "DEBIAN_FRONTEND=noninteractive dpkg --purge zram-tools systemd-zram-generator bc; "
               "systemctl daemon-reload; systemctl reset-failed; rmmod zram", check=False)
