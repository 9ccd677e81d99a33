"""How the monitor wakes (rock5b_oom_monitor/psi.py): PSI triggers, or polling with the reason."""

from __future__ import annotations

import errno
import os

import pytest

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


class KernelTriggers:
    """os.open/os.write of /proc/pressure/memory as a kernel answers a process without
    CAP_SYS_RESOURCE: before 6.5 the write open fails (EPERM; EACCES where the file is 0444),
    from 6.5 on a trigger whose window is not a multiple of 2 s is refused (EINVAL)."""

    def __init__(self, monkeypatch, open_error=None, unprivileged_6_5=False):
        self.open_error, self.unprivileged_6_5 = open_error, unprivileged_6_5
        self.written, self.opened, self.closed, self.refuse = [], [], [], None
        real_open, real_write, real_close = os.open, os.write, os.close

        def fake_open(path, flags, *args, **kwargs):
            if path.endswith("pressure/memory") and flags & os.O_RDWR:
                if self.open_error:
                    raise OSError(self.open_error, os.strerror(self.open_error), path)
                fd = real_open(os.devnull, os.O_WRONLY)
                self.opened.append(fd)
                return fd
            return real_open(path, flags, *args, **kwargs)

        def fake_write(fd, data):
            if fd in self.opened:
                window = int(data.rstrip(b"\0").split()[2])
                if self.unprivileged_6_5 and window % 2000000 or data.startswith(self.refuse or b"\0"):
                    raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
                self.written.append(data)
                return len(data)
            return real_write(fd, data)

        def fake_close(fd):
            self.closed.append(fd)
            return real_close(fd)
        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "write", fake_write)
        monkeypatch.setattr(os, "close", fake_close)


@pytest.mark.parametrize("error", [errno.EPERM, errno.EACCES])
def test_a_refused_trigger_falls_back_to_polling_and_says_why(fake_proc, monkeypatch, error):
    # before Linux 6.5 without CAP_SYS_RESOURCE: the real PsiTrigger, the kernel's answer faked
    fake_proc.set_psi()
    kernel = KernelTriggers(monkeypatch, open_error=error)
    mode, trigger, message = psi_status(fake_proc.root, "/", True, ["some 150000 1000000", "full 50000 1000000"])
    assert mode == "polling" and trigger is None and kernel.written == []
    assert message == ("PSI triggers on %s refused (%s): the unit needs CAP_SYS_RESOURCE in CapabilityBoundingSet= "
                       "(kernels before 6.5); adaptive MemAvailable polling only"
                       % (os.path.join(fake_proc.root, "pressure", "memory"), errno.errorcode[error]))


def test_a_trigger_refused_after_the_first_closes_the_first(fake_proc, monkeypatch):
    fake_proc.set_psi()
    kernel = KernelTriggers(monkeypatch, unprivileged_6_5=True)
    # 6.5+ without the capability: "some" widened and taken; "full" is refused (EINVAL) even widened
    kernel.refuse = b"full"
    trigger = PsiTrigger(os.path.join(fake_proc.root, "pressure", "memory"), ["some 150000 1000000", "full 50000 1000000"])
    assert not trigger.active and trigger.error == errno.EINVAL and trigger.fds == []
    # opened: some 1 s (refused), some 2 s (taken), full 1 s, full 2 s (both refused); all closed
    assert kernel.written == [b"some 300000 2000000\0"] and len(kernel.opened) == 4
    assert sorted(kernel.closed) == sorted(kernel.opened)


def test_linux_6_5_without_the_capability_arms_widened_2s_triggers_and_says_so(fake_proc, monkeypatch):
    fake_proc.set_psi()
    kernel = KernelTriggers(monkeypatch, unprivileged_6_5=True)
    mode, trigger, message = psi_status(fake_proc.root, "/", True, ["some 150000 1000000", "full 100000 4000000"])
    try:
        assert mode == "trigger" and trigger.armed == ["some 300000 2000000", "full 100000 4000000"]
        assert kernel.written == [b"some 300000 2000000\0", b"full 100000 4000000\0"]
        assert "(some 300000 2000000, full 100000 4000000)" in message
        assert "widened to 2 s windows: without CAP_SYS_RESOURCE the kernel (Linux 6.5+) takes no other" in message
    finally:
        trigger.close()


def test_triggers_the_kernel_takes_as_given_are_reported_as_given(fake_proc, monkeypatch):
    fake_proc.set_psi()
    KernelTriggers(monkeypatch, unprivileged_6_5=True)
    mode, trigger, message = psi_status(fake_proc.root, "/", True, ["some 300000 2000000"])
    try:
        assert mode == "trigger" and message.endswith("(some 300000 2000000) with adaptive MemAvailable polling")
    finally:
        trigger.close()
