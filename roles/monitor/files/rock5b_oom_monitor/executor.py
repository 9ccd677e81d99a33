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
from rock5b_oom_monitor.monitor import victim_name

# The hook runs as an ordinary process of the board, not as a part of the monitor:
# - in a session and process group of its own (Popen's start_new_session), so that on timeout
#   the whole group gets SIGTERM, then SIGKILL HOOK_TERM_GRACE_S later: whatever it started too;
HOOK_TERM_GRACE_S = 2.0
# - with the oom_score_adj of an ordinary process (0), not the monitor's -1000 (the unit's
#   OOMScoreAdjust=), which a child inherits: a hook that grows must not be the one process the
#   kernel's OOM killer cannot pick. Raising a score needs no privilege;
HOOK_OOM_SCORE_ADJ = "/proc/self/oom_score_adj"
# - without the variables of systemd's protocols that speak for the monitor's own process: with
#   NOTIFY_SOCKET a hook's systemd-notify could ping the watchdog of a hung monitor or rewrite its
#   status (NotifyAccess=all), with LISTEN_* take its sockets. ROCK5B_OOM_* are the event's own.
HOOK_ENV_DROPPED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "MEMORY_PRESSURE_WATCH",
                    "MEMORY_PRESSURE_WRITE")
HOOK_ENV_DROPPED_PREFIXES = ("LISTEN_", "ROCK5B_OOM_")


def hook_environment(environ):
    """The monitor's environment without what speaks for the monitor (PATH, LANG and the rest stay)."""
    return dict((name, value) for name, value in environ.items()
                if name not in HOOK_ENV_DROPPED and not name.startswith(HOOK_ENV_DROPPED_PREFIXES))


def ordinary_oom_score():
    """Popen's preexec_fn for the hook: oom_score_adj 0 in the child, before it execs the hook.

    Set in the child rather than by the monitor after the start: nothing the hook starts can
    inherit -1000 in between. preexec_fn is unsafe in a program with threads; the monitor has
    none. It costs a fork() instead of a vfork(). When the score cannot be written (a read-only
    /proc) it is left as it is if not negative; a negative one raises, and Popen raises
    SubprocessError: the hook is not run rather than run as unkillable as the monitor.
    """
    try:
        fd = os.open(HOOK_OOM_SCORE_ADJ, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0\n")
        finally:
            os.close(fd)
    except OSError as error:
        with open(HOOK_OOM_SCORE_ADJ) as handle:
            if int(handle.read()) < 0:
                raise error


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
        self.hook_kill_at = None  # set while a timed-out hook's group has SIGTERM and waits for SIGKILL
        # subprocess costs about 1 MiB of resident memory: imported only when a hook is set,
        # and at start-up rather than under pressure.
        self.subprocess = None
        self.hook_env = None
        if monitor.config["hook"]["command"] is not None:
            import subprocess  # pylint: disable=import-outside-toplevel
            self.subprocess = subprocess
            self.hook_env = hook_environment(os.environ)

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
            self.monitor.note("kill_dry_run", self.monitor.kill_limit.last, victim_name(victim))
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
        env = dict(self.hook_env, ROCK5B_OOM_EVENT=action.event, ROCK5B_OOM_LEVEL=self.monitor.level,
                   ROCK5B_OOM_AVAILABLE_KB=str(reading.get("effective", "")),
                   ROCK5B_OOM_MEM_AVAILABLE_KB=str(reading.get("mem_available", "")))
        command = self.monitor.config["hook"]["command"]
        try:
            self.hook_process = self.subprocess.Popen(  # pylint: disable=consider-using-with,subprocess-popen-preexec-fn
                command, env=env, stdin=self.subprocess.DEVNULL, start_new_session=True, close_fds=True,
                preexec_fn=ordinary_oom_score)
            self.hook_started, self.hook_kill_at = self.clock(), None
            self.monitor.note("hook", self.hook_started, action.event)
        except OSError as error:
            return self.monitor.record("hook", False, errno.errorcode.get(error.errno, "?"),
                                       "%s: %s" % (command[0], error.strerror))
        except self.subprocess.SubprocessError:
            return self.monitor.record("hook", False, "oom_score_adj", "%s: not run: %s could not be set to 0, and the "
                                       "hook would have inherited the monitor's oom_score_adj" % (
                                           command[0], HOOK_OOM_SCORE_ADJ))
        return []

    def reap_hook(self):
        """Collect a finished hook; stop one that outlived its timeout. Returns log actions.

        On timeout the hook's process group gets SIGTERM, and SIGKILL HOOK_TERM_GRACE_S later.
        The hook is not collected (waited for) before that SIGKILL: while it is unreaped its pid,
        which is the group's id, cannot be reused, so the signals reach its group and nothing else.
        """
        process = self.hook_process
        if process is None:
            return []
        if self.hook_kill_at is not None:
            if self.clock() < self.hook_kill_at:
                return []
            self._signal_hook_group(signal.SIGKILL)
            if process.poll() is None:
                return []  # still dying (uninterruptible sleep): SIGKILL again at the next check
            self.hook_process = self.hook_kill_at = None
            return []
        code = process.poll()
        if code is None:
            timeout = self.monitor.config["hook"]["timeout_s"]
            if self.clock() - self.hook_started > timeout:
                self._signal_hook_group(signal.SIGTERM)
                self.hook_kill_at = self.clock() + HOOK_TERM_GRACE_S
                return self.monitor.record("hook", False, "timeout", "the hook ran longer than %ss: SIGTERM to its "
                                           "process group, SIGKILL %gs later" % (timeout, HOOK_TERM_GRACE_S))
            return []
        self.hook_process = None
        if code == 0:
            return self.monitor.record("hook", True)
        return self.monitor.record("hook", False, "exit", "the hook exited with status %d" % code)

    def _signal_hook_group(self, signum):
        try:
            os.killpg(self.hook_process.pid, signum)
        except OSError:  # ESRCH: the group is gone already
            pass
