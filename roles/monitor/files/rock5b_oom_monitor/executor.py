# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The executor: carries out the monitor's actions (log, drop_caches, kill, sigkill, hook)."""

from __future__ import annotations

import errno
import os
import select
import signal
import time

from procfs import pressure as mu_pressure
from procfs import processes as mu_processes
from rock5b_oom_monitor import LOG_WARNING, MESSAGE_IDS, fmt_kb, readings
from rock5b_oom_monitor.decisions import Action, choose_victim, compile_protect


class Executor:
    """Carries out the monitor's actions and reports back."""

    def __init__(self, monitor, journal, proc_root="/proc", clock=time.monotonic):
        self.monitor = monitor
        self.journal = journal
        self.proc_root = proc_root
        self.clock = clock
        self.protect = compile_protect(monitor.config["protect"])
        self.psi_path = mu_pressure.system_path(proc_root, "memory")
        self.pidfd = None
        self.hook_process = None
        self.hook_started = None
        # subprocess costs about 1 MiB of resident memory: imported only when a hook is set,
        # and at start-up rather than under pressure.
        self.subprocess = None
        if monitor.config["hook"]["command"] is not None:
            import subprocess  # pylint: disable=import-outside-toplevel
            self.subprocess = subprocess

    def psi_values(self):
        try:
            return mu_pressure.read_psi(self.psi_path)
        except mu_pressure.PsiUnavailable:
            return None

    def fields(self, event, reading):
        psi = self.psi_values()
        fields = [
            ("MESSAGE_ID", MESSAGE_IDS.get(event, MESSAGE_IDS["error"])),
            ("ROCK5B_OOM_EVENT", event),
            ("ROCK5B_OOM_LEVEL", self.monitor.level),
        ]
        if reading:
            fields += [
                ("ROCK5B_OOM_AVAILABLE_KB", reading["effective"]),
                ("ROCK5B_OOM_MEM_AVAILABLE_KB", reading["mem_available"]),
                ("ROCK5B_OOM_SWAP_FREE_KB", reading["swap_free"]),
                ("ROCK5B_OOM_WARN_KB", self.monitor.thresholds.warn_kb),
                ("ROCK5B_OOM_CRITICAL_KB", self.monitor.thresholds.critical_kb),
            ]
        if psi:
            fields += [("ROCK5B_OOM_PSI_SOME_AVG10", (psi.get("some") or {}).get("avg10")),
                       ("ROCK5B_OOM_PSI_FULL_AVG10", (psi.get("full") or {}).get("avg10"))]
        return fields

    def run(self, actions):
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            handler = getattr(self, "do_" + action.kind)
            queue.extend(handler(action) or [])

    def do_log(self, action):
        """The record first, then (when asked) the top memory users in a second record.

        Listing processes takes a while on a loaded board; the news that memory is low must
        not wait for it.
        """
        self.journal.send(action.priority, action.message, self.fields(action.event, self.monitor.last))
        count = self.monitor.config["log"]["top"]
        if not (action.top and count):
            return
        try:
            top = readings.top_memory_users(self.proc_root, count)
        except OSError:
            return
        self.journal.send(action.priority, "top memory users at %s: %s" % (action.event, top), [
            ("MESSAGE_ID", MESSAGE_IDS["top"]), ("ROCK5B_OOM_EVENT", "top"), ("ROCK5B_OOM_CAUSE", action.event),
            ("ROCK5B_OOM_LEVEL", self.monitor.level), ("ROCK5B_OOM_TOP", top)])

    def do_drop_caches(self, action):
        try:
            os.sync()
            fd = os.open(os.path.join(self.proc_root, "sys", "vm", "drop_caches"), os.O_WRONLY)
            try:
                os.write(fd, b"%d\n" % action.value)
            finally:
                os.close(fd)
        except OSError as error:
            code = errno.errorcode.get(error.errno, str(error.errno))
            hint = ""
            if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                hint = " (/proc/sys is read-only here: a container, or ProtectKernelTunables=yes)"
            return self.monitor.record("drop_caches", False, code, "%s: %s%s" % (code, error.strerror, hint))
        return self.monitor.record("drop_caches", True, now=self.clock())

    def do_kill(self, action):
        try:
            victim = choose_victim(mu_processes.list_resident_processes(self.proc_root), self.protect, os.getpid())
        except OSError as error:
            return self.monitor.record("kill", False, "proc", "listing processes: %s" % error)
        if victim is None:
            return self.monitor.record("kill", False, "no_victim", "no expendable process to kill")
        if action.dry_run:
            self.monitor.kill_limit.last = self.clock()
            self.monitor.count("kill", "dry_run")
            return [Action("log", event="kill", priority=LOG_WARNING, top=False,
                           message="dry run: would kill %s (pid %d, %s resident, oom_score %d)" % (
                               victim["comm"], victim["pid"], fmt_kb(victim["rss_kb"]), victim["oom_score"]))]
        try:
            self.pidfd = self._signal(victim, signal.SIGTERM)
        except OSError as error:
            if error.errno == errno.ESRCH:
                return []
            return self.monitor.record("kill", False, errno.errorcode.get(error.errno, "?"),
                                       "SIGTERM to %s (pid %d): %s" % (victim["comm"], victim["pid"], error.strerror))
        return self.monitor.start_kill(self.clock(), victim)

    def _signal(self, victim, signum):
        """Signal through a pidfd (no pid reuse race) when the kernel and Python have them."""
        if hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal"):
            try:
                fd = os.pidfd_open(victim["pid"])
            except OSError as error:
                if error.errno not in (errno.ENOSYS, errno.EINVAL):
                    raise
            else:
                try:
                    with open(os.path.join(self.proc_root, str(victim["pid"]), "stat")) as handle:
                        stat = mu_processes.parse_stat(handle.read())
                    if stat["starttime"] != victim["starttime"]:
                        os.close(fd)
                        raise OSError(errno.ESRCH, "pid reused")
                except (OSError, ValueError, IndexError):
                    os.close(fd)
                    raise OSError(errno.ESRCH, "gone")
                signal.pidfd_send_signal(fd, signum)
                return fd
        os.kill(victim["pid"], signum)
        return None

    def victim_alive(self):
        job = self.monitor.kill_job
        if job is None:
            return False
        if self.pidfd is not None:
            ready, _w, _x = select.select([self.pidfd], [], [], 0)
            return not ready
        try:
            os.kill(job.victim["pid"], 0)
        except OSError as error:
            return error.errno != errno.ESRCH
        return mu_processes.read_process(self.proc_root, job.victim["pid"]) is not None

    def do_sigkill(self, action):
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:
                os.kill(action.victim["pid"], signal.SIGKILL)
        except OSError:
            pass
        return []

    def finish_kill(self):
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def do_hook(self, action):
        self.reap_hook()
        if self.hook_process is not None:
            self.monitor.count("hook", "skipped")
            return []
        reading = self.monitor.last or {}
        env = dict(os.environ, ROCK5B_OOM_EVENT=action.event, ROCK5B_OOM_LEVEL=self.monitor.level,
                   ROCK5B_OOM_AVAILABLE_KB=str(reading.get("effective", "")),
                   ROCK5B_OOM_MEM_AVAILABLE_KB=str(reading.get("mem_available", "")))
        try:
            self.hook_process = self.subprocess.Popen(  # pylint: disable=consider-using-with
                self.monitor.config["hook"]["command"], env=env, stdin=self.subprocess.DEVNULL,
                start_new_session=True, close_fds=True)
            self.hook_started = self.clock()
        except OSError as error:
            return self.monitor.record("hook", False, errno.errorcode.get(error.errno, "?"),
                                       "%s: %s" % (self.monitor.config["hook"]["command"][0], error.strerror))
        return []

    def reap_hook(self):
        """Collect a finished hook; kill one that outlived its timeout. Returns log actions."""
        process = self.hook_process
        if process is None:
            return []
        code = process.poll()
        if code is None:
            if self.clock() - self.hook_started > self.monitor.config["hook"]["timeout_s"]:
                process.kill()
                process.wait()
                self.hook_process = None
                return self.monitor.record("hook", False, "timeout", "the hook ran longer than %ss and was killed"
                                           % self.monitor.config["hook"]["timeout_s"])
            return []
        self.hook_process = None
        if code == 0:
            return self.monitor.record("hook", True)
        return self.monitor.record("hook", False, "exit", "the hook exited with status %d" % code)
