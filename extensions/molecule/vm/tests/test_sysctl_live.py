"""After converge, the vm.* profile written by rock5b.oom.sysctl_profile is live in the
kernel, and it comes back on its own after a reboot (systemd-sysctl applies the drop-in
at boot; nothing of the collection runs then)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.feature("sysctls live")

DROPIN = "/etc/sysctl.d/99-oom-rock5b.conf"


def parse_sysctl_conf(text: str) -> dict[str, str]:
    """key -> value of a sysctl.d file (sysctl.d(5): '#'/';' comments, 'key = value',
    keys with dots or slashes, a leading '-' only silences errors)."""
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a sysctl line: {raw!r}"
        key = key.strip().lstrip("-").replace("/", ".")
        out[key] = " ".join(value.split())
    return out


def live_values(vm, keys) -> dict[str, str]:
    paths = " ".join("/proc/sys/" + k.replace(".", "/") for k in keys)
    lines = vm.run(f"for f in {paths}; do printf '%s\\n' \"$(cat $f)\"; done").splitlines()
    return {k: " ".join(v.split()) for k, v in zip(keys, lines)}


def profile(vm) -> dict[str, str]:
    f = vm.host.file(DROPIN)
    assert f.exists, f"{DROPIN} missing: did converge run?"
    settings = parse_sysctl_conf(f.content_string)
    assert settings, f"{DROPIN} has no settings"
    assert all(k.startswith("vm.") for k in settings), sorted(settings)
    return settings


def test_dropin_values_are_live(vm):
    want = profile(vm)
    assert live_values(vm, list(want)) == want


def test_vm_profile_overrides_for_drill(vm):
    # molecule.yml sets vm.overcommit_memory=0 for the VMs so that the OOM drill reaches
    # the OOM killer (under 2 the hog would just get ENOMEM)
    assert profile(vm).get("vm.overcommit_memory") == "0"


@pytest.mark.feature("sysctls across reboot")
@pytest.mark.reboots
@pytest.mark.vm_modes("v2", "v1")  # one reboot per cgroup mode; nopsi's would repeat v2's
def test_profile_survives_reboot(vm):
    want = profile(vm)
    # disturb one live value first, so that only a boot-time apply can restore it
    key = "vm.watermark_scale_factor" if "vm.watermark_scale_factor" in want else next(iter(want))
    path = "/proc/sys/" + key.replace(".", "/")
    cur = int(want[key])
    vm.run(f"echo {cur + 1 if cur < 1000 else cur - 1} > {path}")
    assert live_values(vm, [key])[key] != want[key]

    secs = vm.reboot()
    print(f"{vm.name}: reboot-to-SSH {secs:.1f}s")
    assert live_values(vm, list(want)) == want
    assert vm.run("systemctl show -p Result --value systemd-sysctl.service").strip() == "success"
