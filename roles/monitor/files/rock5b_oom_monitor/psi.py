# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the monitor wakes: kernel PSI triggers on /proc/pressure/memory, or adaptive polling alone."""

from __future__ import annotations

import errno
import os

from procfs import pressure as mu_pressure
from rock5b_oom_monitor.config import parse_trigger


class PsiTrigger:
    """Kernel PSI triggers on /proc/pressure/memory, one open file per trigger.

    The kernel wakes poll() with POLLPRI when a stall of ``stall`` us accumulates within
    ``window`` us. Without CAP_SYS_RESOURCE, Linux 6.5+ still accepts triggers whose window
    is a multiple of 2 s (and before 6.5 refuses the write open): the window is widened
    once on EPERM/EACCES/EINVAL before giving up.
    """

    def __init__(self, path, triggers):
        self.path = path
        self.fds = []
        self.armed = []  # the triggers as the kernel took them (a widened window shows)
        self.error = None
        for text in triggers:
            kind, stall, window = parse_trigger(text)
            fd, error = self._open(kind, stall, window)
            if fd is None and error in (errno.EPERM, errno.EACCES, errno.EINVAL) and window % 2000000:
                widened = max(2000000, (window + 1999999) // 2000000 * 2000000)
                stall, window = stall * widened // window, widened
                fd, error = self._open(kind, stall, window)
            if fd is None:
                self.close()
                self.error = error
                return
            self.fds.append(fd)
            self.armed.append("%s %d %d" % (kind, stall, window))

    def _open(self, kind, stall, window):
        fd = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            os.write(fd, ("%s %d %d\0" % (kind, stall, window)).encode())
            return fd, None
        except OSError as error:
            if fd is not None:
                os.close(fd)
            return None, error.errno

    @property
    def active(self):
        return bool(self.fds)

    def close(self):
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


def psi_status(proc_root, fs_root, enabled, triggers, open_trigger=PsiTrigger):
    """Decide how the monitor wakes: ``(mode, trigger or None, message)``.

    mode ``trigger``: PSI triggers armed plus adaptive polling; ``polling``: adaptive
    polling alone, with the reason (PSI missing, empty, disabled at boot, refused).
    """
    if not enabled:
        return "polling", None, "PSI triggers are switched off in the config (psi.enabled: false); adaptive polling only"
    path = mu_pressure.system_path(proc_root, "memory")
    try:
        mu_pressure.read_psi(path)
    except mu_pressure.PsiUnavailable:
        found = mu_pressure.diagnose(proc_root, fs_root)
        return "polling", None, "PSI unavailable (%s): %s; adaptive MemAvailable polling only. %s" % (
            found["state"], found["reason"], found["hint"])
    if not triggers:
        return "polling", None, "no PSI triggers configured; adaptive polling only (PSI read for the logs)"
    trigger = open_trigger(path, triggers)
    if not trigger.active:
        reason = errno.errorcode.get(trigger.error, str(trigger.error))
        if trigger.error in (errno.EPERM, errno.EACCES):
            hint = "the unit needs CAP_SYS_RESOURCE in CapabilityBoundingSet= (kernels before 6.5)"
        elif trigger.error == errno.EOPNOTSUPP:
            hint = "PSI is disabled at boot (psi=1 missing on the command line)"
        else:
            hint = "the kernel refused the trigger"
        return "polling", None, "PSI triggers on %s refused (%s): %s; adaptive MemAvailable polling only" % (
            path, reason, hint)
    armed = getattr(trigger, "armed", None) or list(triggers)
    widened = "" if armed == list(triggers) else (
        "; widened to 2 s windows: without CAP_SYS_RESOURCE the kernel (Linux 6.5+) takes no other")
    return "trigger", trigger, "PSI triggers armed on %s (%s) with adaptive MemAvailable polling%s" % (
        path, ", ".join(armed), widened)
