# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daemon: check memory, act, keep systemd and the metrics informed, sleep until due or woken."""

from __future__ import annotations

import errno
import os
import select
import signal
import time

from rock5b_oom_monitor import LOG_INFO, LOG_WARNING, MESSAGE_IDS, fmt_kb
from rock5b_oom_monitor.decisions import Thresholds
from rock5b_oom_monitor.executor import Executor
from rock5b_oom_monitor.journal import Journal
from rock5b_oom_monitor.metrics import render_metrics, write_atomic
from rock5b_oom_monitor.monitor import Monitor
from rock5b_oom_monitor.notify import Notifier
from rock5b_oom_monitor.psi import psi_status
from rock5b_oom_monitor.readings import MemReader

# Metrics may be written this much before they are due, to share a wake-up with a check.
HOUSEKEEPING_EARLY_S = 2.0

# How often the systemd status line (systemctl status) gets fresh figures without a level change.
STATUS_INTERVAL_S = 15

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4


def settle_memory(lock):
    """Shrink and (when ``lock``) pin the monitor's memory once start-up is done.

    The garbage of start-up (compiling the program from source) goes back to the kernel
    (gc, then glibc's malloc_trim): about 2 MiB. mlockall keeps what the loop touches in RAM,
    as earlyoom does, but with MCL_ONFAULT (Linux 4.4+): only pages actually used are locked,
    so the whole mapped interpreter (libpython, locale data) is not pulled into RSS.
    Returns None or the reason locking failed.
    """
    import gc  # pylint: disable=import-outside-toplevel
    gc.collect()
    gc.freeze()  # start-up objects never need scanning again: cheaper collections in the loop
    try:
        import ctypes  # pylint: disable=import-outside-toplevel
        libc = ctypes.CDLL(None, use_errno=True)
    except (OSError, ImportError) as error:
        return str(error) if lock else None
    trim = getattr(libc, "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)
    if not lock:
        return None
    if libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0:
        return None
    code = ctypes.get_errno()
    if code == errno.EINVAL and libc.mlockall(MCL_CURRENT | MCL_FUTURE) == 0:  # before Linux 4.4
        return None
    code = ctypes.get_errno() or code
    return "%s (%s)" % (os.strerror(code), errno.errorcode.get(code, code))


def describe_start(config, thresholds, journal):
    """The start record's text: thresholds, swap accounting, enabled actions, journal mode."""
    actions = (("log", config["log"]["enabled"]), ("drop_caches", config["drop_caches"]["enabled"]),
               ("kill%s" % (" (dry run)" if config["kill"]["dry_run"] else ""), config["kill"]["enabled"]),
               ("hook", config["hook"]["command"] is not None))
    return "started: warn below %s, critical below %s%s; actions: %s; %s" % (
        fmt_kb(thresholds.warn_kb), fmt_kb(thresholds.critical_kb),
        " (swap counted, zram at %g)" % config["zram_weight"] if config["count_swap"] else "",
        ", ".join(name for name, on in actions if on) or "none",
        "journal: native" if journal.native else "journal: stderr")


class Daemon:
    """The loop's state: reader, monitor and executor, how it wakes, and when housekeeping is due."""

    def __init__(self, config, proc_root, journal, notifier, clock, wall):
        self.config, self.journal, self.notifier, self.clock, self.wall = config, journal, notifier, clock, wall
        self.reader = MemReader(proc_root)
        thresholds = Thresholds.from_config(config, self.reader.meminfo().get("MemTotal", 0))
        self.monitor = Monitor(config, thresholds, os.getpid())
        self.executor = Executor(self.monitor, journal, proc_root, clock)
        self.mode, self.trigger, self.trigger_fds = "polling", None, set()
        self.metrics_path = config["metrics"]["path"]
        self.metrics_due = self.watchdog_due = self.status_due = clock()
        self.status_level = None
        self.ready = False
        self.psi_suppressed_until = 0.0
        self.stop_signal = None

    def start(self, proc_root, fs_root):
        """Arm the PSI triggers, settle memory, and say how the monitor runs."""
        config, journal = self.config, self.journal
        self.mode, self.trigger, psi_message = psi_status(proc_root, fs_root, config["psi"]["enabled"],
                                                          config["psi"]["triggers"])
        self.trigger_fds = set(self.trigger.fds) if self.trigger else set()
        notes = []
        problem = settle_memory(config["mlock"])
        if problem:
            notes.append("mlockall failed (%s): the monitor's pages may be reclaimed under pressure" % problem)
        self.monitor.psi_state = self.mode
        thresholds = self.monitor.thresholds
        journal.send(LOG_INFO, describe_start(config, thresholds, journal),
                     [("MESSAGE_ID", MESSAGE_IDS["start"]), ("ROCK5B_OOM_EVENT", "start"),
                      ("ROCK5B_OOM_WARN_KB", thresholds.warn_kb), ("ROCK5B_OOM_CRITICAL_KB", thresholds.critical_kb)])
        journal.send(LOG_INFO if self.mode == "trigger" else LOG_WARNING, psi_message,
                     [("MESSAGE_ID", MESSAGE_IDS["psi" if self.mode == "trigger" else "fallback"]),
                      ("ROCK5B_OOM_EVENT", "psi_mode"), ("ROCK5B_OOM_PSI_MODE", self.mode)])
        for note in notes:
            journal.send(LOG_WARNING, note, [("ROCK5B_OOM_EVENT", "mlock")])

    def check(self):
        """One MemAvailable check and what follows from it; returns its time."""
        monitor, executor = self.monitor, self.executor
        now = self.clock()
        reading = self.reader.reading(self.config["count_swap"], self.config["zram_weight"])
        executor.run(monitor.step(now, reading))
        if monitor.kill_job is not None:
            actions = monitor.kill_progress(now, executor.victim_alive())
            if monitor.kill_job is None:
                executor.finish_kill()
            executor.run(actions)
        executor.run(executor.reap_hook())
        self.housekeeping(now, reading)
        return now

    def housekeeping(self, now, reading):
        """systemd status and watchdog, and the metrics file, when due."""
        config, monitor, notifier = self.config, self.monitor, self.notifier
        # Status text follows level changes at once and the figures every STATUS_INTERVAL_S.
        if not self.ready or monitor.level != self.status_level or now >= self.status_due:
            status = "%s: %s available, %s" % (monitor.level, fmt_kb(reading["effective"]),
                                               "PSI trigger armed" if self.mode == "trigger"
                                               else "polling (no PSI trigger)")
            notifier.notify(("STATUS=%s" if self.ready else "READY=1\nSTATUS=%s") % status)
            self.ready, self.status_level = True, monitor.level
            self.status_due = now + STATUS_INTERVAL_S
        # Housekeeping rides on the checks' own wake-ups where it can: the watchdog is pinged
        # up to half its period early and the metrics written up to HOUSEKEEPING_EARLY_S early,
        # so neither needs a wake-up of its own while checks come every second or two.
        if notifier.watchdog_s and config["watchdog"] and now >= self.watchdog_due - notifier.watchdog_s / 2:
            notifier.notify("WATCHDOG=1")
            self.watchdog_due = now + notifier.watchdog_s
        if self.metrics_path and now >= self.metrics_due - HOUSEKEEPING_EARLY_S:
            try:
                reading = self.reader.with_zram(reading, config["count_swap"])
                write_atomic(self.metrics_path, render_metrics(monitor, reading, self.executor.psi_values(),
                                                               self.mode, self.wall(), now=self.clock()))
            except OSError as error:
                self.executor.run(monitor.record("metrics", False, errno.errorcode.get(error.errno, "?"),
                                                 "writing %s: %s" % (self.metrics_path, error.strerror)))
            self.metrics_due = now + config["metrics"]["interval_s"]

    def timeout(self, now):
        """Seconds until the next check, the watchdog ping or the metrics, whichever comes first."""
        timeout = self.monitor.next_timeout(now, self.mode == "trigger")
        if self.notifier.watchdog_s and self.config["watchdog"]:
            timeout = min(timeout, max(0.0, self.watchdog_due - now))
        if self.metrics_path:
            timeout = min(timeout, max(0.0, self.metrics_due - now))
        return timeout

    def wait(self, poller, wake_r, now):
        """Sleep until the next check is due, a PSI trigger fires or a signal arrives."""
        for fd, events in poller.poll(int(self.timeout(now) * 1000) + 1):
            if fd == wake_r:
                try:
                    os.read(wake_r, 512)
                except OSError:
                    pass
            elif fd in self.trigger_fds:
                self.on_trigger(poller, fd, events)

    def on_trigger(self, poller, fd, events):
        if events & (select.POLLERR | select.POLLNVAL):
            poller.unregister(fd)
            self.trigger_fds.discard(fd)
            if not self.trigger_fds:
                self.mode = self.monitor.psi_state = "polling"
                self.journal.send(LOG_WARNING, "the PSI trigger failed (POLLERR); adaptive polling only",
                                  [("MESSAGE_ID", MESSAGE_IDS["fallback"]), ("ROCK5B_OOM_EVENT", "psi_mode")])
        elif events & select.POLLPRI:
            wake = self.clock()
            # Several triggers may fire together: one event per wake-up.
            if wake >= self.psi_suppressed_until:
                self.executor.run(self.monitor.on_psi(wake, self.executor.psi_values()))
                self.psi_suppressed_until = wake + 0.05


def run(config, proc_root="/proc", fs_root="/", journal=None, notifier=None, clock=time.monotonic,
        wall=time.time, max_iterations=None):
    """The daemon. Returns the exit status."""
    daemon = Daemon(config, proc_root, journal or Journal(), notifier or Notifier(), clock, wall)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def on_signal(signum, _frame):
        daemon.stop_signal = signum

    old_wakeup = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    try:
        daemon.start(proc_root, fs_root)
        poller = select.poll()
        poller.register(wake_r, select.POLLIN)
        for fd in daemon.trigger_fds:
            poller.register(fd, select.POLLPRI)
        iterations = 0
        while True:
            now = daemon.check()
            iterations += 1
            if max_iterations is not None and iterations >= max_iterations:
                break
            daemon.wait(poller, wake_r, now)
            if daemon.stop_signal is not None:
                break
    finally:
        signal.set_wakeup_fd(old_wakeup)
        daemon.notifier.notify("STOPPING=1\nSTATUS=stopping")
        if daemon.trigger:
            daemon.trigger.close()
        os.close(wake_r)
        os.close(wake_w)
    if daemon.stop_signal is not None:
        daemon.journal.send(LOG_INFO, "stopping on %s" % signal.Signals(daemon.stop_signal).name,
                            [("ROCK5B_OOM_EVENT", "stop")])
    return 0
