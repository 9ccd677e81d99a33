"""How the monitor wakes (rock5b_oom_monitor/psi.py): PSI triggers, or polling with the reason."""

from __future__ import annotations

import errno
import os

from procfs import pressure
from rock5b_oom_monitor.psi import PsiTrigger, psi_status


class FakeTrigger:
    def __init__(self, active, error=None):
        self._active, self.error, self.fds = active, error, [99] if active else []

    def __call__(self, path, triggers):
        self.path, self.triggers = path, triggers
        return self

    @property
    def active(self):
        return self._active


def test_psi_missing_falls_back_to_polling_and_says_why(fake_proc):
    mode, trigger, message = psi_status(fake_proc.root, "/nonexistent", True, ["some 150000 1000000"])
    assert mode == "polling" and trigger is None
    assert "PSI unavailable" in message and "adaptive MemAvailable polling only" in message


def test_psi_empty_file_falls_back(fake_proc):
    fake_proc.write("pressure/memory", "")
    mode, _trigger, message = psi_status(fake_proc.root, "/", True, ["some 150000 1000000"])
    assert mode == "polling" and "(empty)" in message


def test_psi_disabled_at_boot_falls_back_with_the_hint(fake_proc):
    # Radxa BSP kernels: CONFIG_PSI_DEFAULT_DISABLED=y, no psi=1 -> no /proc/pressure.
    fake_proc.write("sys/kernel/osrelease", "6.1.84-rk3588\n")
    root = os.path.join(os.path.dirname(fake_proc.root), "root")
    os.makedirs(os.path.join(root, "boot"))
    with open(os.path.join(root, "boot", "config-6.1.84-rk3588"), "w") as handle:
        handle.write("CONFIG_PSI=y\nCONFIG_PSI_DEFAULT_DISABLED=y\n")
    mode, _trigger, message = psi_status(fake_proc.root, root, True, ["some 150000 1000000"])
    assert mode == "polling" and "(disabled)" in message and "psi=1" in message


def test_psi_eopnotsupp_counts_as_disabled(fake_proc, monkeypatch):
    fake_proc.set_psi()

    def refuse(path):
        raise pressure.PsiUnavailable("disabled", path, "EOPNOTSUPP")
    monkeypatch.setattr(pressure, "read_psi", refuse)
    mode, _trigger, message = psi_status(fake_proc.root, "/", True, ["some 150000 1000000"])
    assert mode == "polling" and "(disabled)" in message


def test_psi_trigger_refused_falls_back_naming_the_capability(fake_proc):
    fake_proc.set_psi()
    mode, trigger, message = psi_status(fake_proc.root, "/", True, ["some 150000 1000000"],
                                        open_trigger=FakeTrigger(False, errno.EPERM))
    assert mode == "polling" and trigger is None and "CAP_SYS_RESOURCE" in message


def test_psi_trigger_armed(fake_proc):
    fake_proc.set_psi()
    fake = FakeTrigger(True)
    mode, trigger, message = psi_status(fake_proc.root, "/", True, ["some 150000 1000000"], open_trigger=fake)
    assert mode == "trigger" and trigger is fake and fake.triggers == ["some 150000 1000000"]
    assert fake.path == os.path.join(fake_proc.root, "pressure", "memory")


def test_psi_switched_off_in_the_config(fake_proc):
    fake_proc.set_psi()
    assert psi_status(fake_proc.root, "/", False, [])[0] == "polling"


def test_real_trigger_write_on_a_plain_file_is_what_the_kernel_would_get(fake_proc):
    fake_proc.set_psi()
    trigger = PsiTrigger(os.path.join(fake_proc.root, "pressure", "memory"), ["full 50000 1000000"])
    try:
        assert trigger.active
    finally:
        trigger.close()
    with open(os.path.join(fake_proc.root, "pressure", "memory"), "rb") as handle:
        assert handle.read().startswith(b"full 50000 1000000\0")
