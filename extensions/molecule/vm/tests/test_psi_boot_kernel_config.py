"""psi_boot refuses a kernel built without PSI, on the nopsi VM's real kernel and boot files.

The VM's kernel is Debian's (CONFIG_PSI=y, no /proc/config.gz, its config in
/boot/config-<release>); the VM's kernel is never touched. The test copies that config into a
directory of its own with CONFIG_PSI unset, as a Radxa or vendor kernel built without PSI would
have it, and points the role there (psi_boot_kernel_config_dir). Then psi_boot must fail on the
board, in check mode and for real, naming that config file and the kernel release, with every
boot file byte for byte as it was and no backup or FAT temporary left; with the real /boot it
must pass the check and report that the kernel is built with CONFIG_PSI=y.

The boot files (Armbian's, DietPi's, /etc/kernel/cmdline) are written by the test and removed
afterwards; these VMs boot with QEMU's -kernel/-append, so nothing reads them at boot.
"""

from __future__ import annotations

import json
import pathlib
import shlex

import pytest

pytestmark = [pytest.mark.vm_modes("nopsi"), pytest.mark.feature("psi_boot")]

PLAYBOOK = pathlib.Path(__file__).resolve().parents[1] / "psi_boot.yml"
TASK = "Put psi=1 on the kernel command line"
FAKE = "/root/rock5b-fake-boot"
FILES = {
    "/boot/armbianEnv.txt": "verbosity=1\nextraargs=cma=256M\noverlay_prefix=rockchip-rk3588\n",
    "/boot/dietpiEnv.txt": "rootfstype=ext4\nconsoleargs=console=ttyS2,1500000 console=tty1\nextraargs=net.ifnames=0\n",
    "/etc/kernel/cmdline": "root=UUID=6f5c3b1e-4d2a-4c61-9a7e-2b8f0d1c9e44 rw quiet psi=0\n",
}
# what a refused run must not leave: backups (<file>.<pid>.<time>~), FAT's <file>.new and <file>.bak
LEFTOVERS = " ".join(f"{shlex.quote(p)}.*~ {shlex.quote(p)}.new {shlex.quote(p)}.bak" for p in FILES)


def boot_state(vm) -> str:
    """sha256 of every boot file, and the names of any backup or temporary beside them."""
    sums = vm.run("sha256sum " + " ".join(FILES))
    extra = vm.run(f"for f in {LEFTOVERS}; do [ -e \"$f\" ] && printf '%s\\n' \"$f\"; done; true")
    return sums + "extra:\n" + extra


@pytest.fixture(scope="module")
def release(vm) -> str:
    """The running kernel's release; the VM's ground truth checked first: Debian's kernel has PSI,
    its config in /boot and none in /proc (else the fake directory would not decide)."""
    release = vm.run("uname -r").strip()
    assert vm.host.run("test -e /proc/config.gz").rc != 0, "the VM's kernel has /proc/config.gz: it would win over the copy"
    assert vm.run(f"grep -x CONFIG_PSI=y /boot/config-{release}").strip() == "CONFIG_PSI=y"
    return release


@pytest.fixture(scope="module")
def boot_files(vm, release):
    """The boot files and the fake config directory, written fresh; removed afterwards."""
    vm.run(f"mkdir -p /boot /etc/kernel {FAKE}")
    for path, text in FILES.items():
        vm.run(f"cat > {path} <<'EOF'\n{text}EOF")
    # the real config with PSI not built: its CONFIG_PSI* lines replaced by kconfig's "is not set"
    vm.run(f"sed -e '/^CONFIG_PSI_DEFAULT_DISABLED=/d' -e 's/^CONFIG_PSI=y$/# CONFIG_PSI is not set/' "
           f"/boot/config-{release} > {FAKE}/config-{release}")  # fmt: skip
    assert vm.run(f"grep -c '^CONFIG_PSI' {FAKE}/config-{release} || true").strip() == "0"
    assert "# CONFIG_PSI is not set" in vm.read(f"{FAKE}/config-{release}")
    yield
    vm.run("rm -rf " + " ".join(shlex.quote(p) for p in FILES) + f" {LEFTOVERS} {FAKE}"
           " && rmdir --ignore-fail-on-non-empty /etc/kernel")  # fmt: skip


@pytest.mark.parametrize("mode", [["--check", "--diff"], []], ids=["check", "run"])
def test_psi_boot_refuses_a_kernel_config_without_psi_and_changes_nothing(vm, release, boot_files, mode):
    before = boot_state(vm)
    rc, data = vm.playbook(PLAYBOOK, *mode, "-e", json.dumps({"psi_boot_kernel_config_dir": FAKE}))
    assert rc != 0, data
    result = vm.task_result(data, TASK)
    print(f"{vm.name}: {result.get('msg')}")
    assert result.get("failed"), result
    msg = result["msg"]
    assert msg.startswith("psi=1 cannot turn PSI on, nothing was changed: "), msg
    assert f"the running kernel {release} is built without PSI ({FAKE}/config-{release}: CONFIG_PSI is not set)" in msg, msg
    assert result["kernel_psi"]["state"] == "not_built" and result["kernel_psi"]["release"] == release, result
    assert boot_state(vm) == before, "a refused psi_boot changed a boot file or left a backup"
    assert data["stats"][vm.name]["changed"] == 0 and data["stats"][vm.name]["failures"] == 1, data["stats"]


def test_psi_boot_passes_the_check_on_the_real_kernel_config(vm, release, boot_files):
    before = boot_state(vm)
    rc, data = vm.playbook(PLAYBOOK, "--check", "--diff")
    assert rc == 0, data
    result = vm.task_result(data, TASK)
    kernel_psi = result["kernel_psi"]
    assert kernel_psi["state"] == "built", kernel_psi
    running = [k for k in kernel_psi["kernels"] if k["running"]]
    assert running == [{"release": release, "config": f"/boot/config-{release}", "running": True, "psi": True,
                        "default_disabled": False}], kernel_psi  # fmt: skip
    # Debian's kernel has PSI on by default; the VM's psi=0 is what psi=1 overrides
    assert "psi=0 turns it off now" in kernel_psi["message"], kernel_psi
    assert {f["path"]: f["changed"] for f in result["files"]} == dict.fromkeys(FILES, True), result["files"]
    assert boot_state(vm) == before, "check mode changed a boot file"
