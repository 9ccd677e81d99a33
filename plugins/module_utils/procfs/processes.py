# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes as /proc shows them: listing, systemd units, resident memory, oom_score_adj.

Every function takes the root of the tree it reads (``proc_root``), so unit tests run them
against fake trees and modules against the real /proc. Standard library only, no Ansible
imports: the low-memory monitor ships this file next to itself and imports it as it is.
"""

from __future__ import annotations

import errno
import os
import re

from .files import read_bytes, read_regular

OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000
# The one range of oom_score_adj (and OOMScoreAdjust=) every check imports, inclusive.
OOM_SCORE_ADJ_RANGE = (OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX)
# The largest pid_max the kernel allows (PID_MAX_LIMIT, 4M on 64-bit): no pid is above it.
PID_MAX_LIMIT = 4194304
# A pidfile holds one number and a newline; more than this is not a pidfile.
PIDFILE_MAX_BYTES = 4096
# Lowering oom_score_adj below the value a privileged writer last set needs this capability.
CAP_SYS_RESOURCE = 24
# systemd needs this one to create namespaces for a unit (PrivateTmp= and friends).
CAP_SYS_ADMIN = 21
# task->flags bit of kernel threads (include/linux/sched.h): they have no memory to kill.
PF_KTHREAD = 0x00200000
# The kernel keeps comm in 16 bytes with the terminating NUL (TASK_COMM_LEN).
COMM_LEN = 15

UNIT_SUFFIXES = (
    ".service", ".scope", ".socket", ".mount", ".swap", ".device", ".automount", ".timer",
    ".path", ".target", ".slice",
)
# Units that can own processes; a .slice only groups other units.
PROCESS_UNIT_SUFFIXES = (".service", ".scope", ".socket", ".mount", ".swap")
# systemd's unit name rules (unit_name_is_valid): these characters, at most 255 bytes,
# "prefix@instance.suffix" for templates.
UNIT_NAME_RE = re.compile(r"\A[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(%s)\Z"
                          % "|".join(suffix[1:] for suffix in UNIT_SUFFIXES))

# Errors meaning "the process is gone": its /proc directory vanished (ENOENT) or the task
# behind an open /proc directory exited (ESRCH).
GONE = (errno.ENOENT, errno.ESRCH)
# Errors meaning "the kernel (or file permissions) refused the write".
DENIED = (errno.EACCES, errno.EPERM)


class ProcessGone(Exception):
    """The process exited, or its pid now belongs to another process."""


def normalize_unit(unit):
    """``ssh`` -> ``ssh.service`` (as systemctl does); other names unchanged.

    Whitespace is kept, so valid_unit() refuses it: ``demo-app.service\n`` is a typo to report,
    not a name to repair (the repaired name would change a unit the operator did not name)."""
    if unit and not unit.endswith(UNIT_SUFFIXES):
        unit += ".service"
    return unit


def valid_unit(unit):
    return len(unit) <= 255 and bool(UNIT_NAME_RE.match(unit))


def list_pids(proc_root):
    """The pids of all processes (thread group leaders), sorted."""
    try:
        names = os.listdir(proc_root)
    except FileNotFoundError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


class StatError(ValueError):
    """A /proc/<pid>/stat text that is not a stat line: cut short (an exiting process) or junk."""


def _stat_number(field):
    """A non-negative number of a stat line: ASCII digits only (int() also reads "\u0661" and "1_0")."""
    if not (field.isascii() and field.isdigit()):
        raise StatError("not a number: %r" % field[:20])
    return int(field)


def parse_stat(text):
    """Fields of /proc/<pid>/stat: comm, state, ppid, flags, starttime.

    comm sits in parentheses and may itself hold spaces, parentheses and newlines, so the
    fields are split after the last ``)``. Raises StatError (a ValueError) for anything else,
    never another exception.
    """
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end < start:
        raise StatError("no (comm) in %r" % text[:40])
    fields = text[end + 1:].split()
    # fields[0] is field 3 (state) of proc(5); field 22 (starttime) is fields[19].
    if len(fields) < 20:
        raise StatError("%d fields after (comm), fewer than 20" % len(fields))
    return {
        "comm": text[start + 1:end],
        "state": fields[0],
        "ppid": _stat_number(fields[1]),
        "flags": _stat_number(fields[6]),
        "starttime": _stat_number(fields[19]),
    }


def cgroup_path(text):
    """The cgroup path systemd manages a process by, from /proc/<pid>/cgroup text; None if none.

    cgroup v2: the ``0::/system.slice/ssh.service`` line. cgroup v1 and hybrid: the
    ``N:name=systemd:/system.slice/ssh.service`` line, which systemd keeps up to date there
    (under v1 the ``0::`` line, if present, says nothing useful).
    """
    v1 = v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if controllers == "name=systemd":
            v1 = path.strip()
        elif hierarchy == "0" and controllers == "":
            v2 = path.strip()
    return v1 if v1 is not None else v2


def cgroup_root(pid1_cgroup_text):
    """The root of the cgroup tree the system's systemd manages, from PID 1's cgroup.

    "/" on a host or in a container with its own cgroup namespace; in a container without
    one, the container's cgroup (``/libpod_parent/libpod-<id>``,
    ``/machine.slice/libpod-<id>.scope``), which PID 1 sits in as ``<root>/init.scope``.
    """
    path = cgroup_path(pid1_cgroup_text) or "/"
    for leaf in ("/init.scope", "/system.slice"):
        if path.endswith(leaf):
            return path[:-len(leaf)] or "/"
    return "/"


def parse_cgroup(text, root="/"):
    """The systemd unit a process belongs to, from /proc/<pid>/cgroup text; None if none.

    The path is taken relative to ``root`` (see cgroup_root), and the unit is its outermost
    component that can own processes, so a delegated sub-cgroup
    (``/system.slice/foo.service/worker``) or a user manager's own units
    (``/user.slice/user-1000.slice/user@1000.service/app.slice/x.service``) count for the
    system unit that contains them (foo.service, user@1000.service).
    """
    path = cgroup_path(text)
    if not path:
        return None
    if root != "/":
        if path != root and not path.startswith(root + "/"):
            return None
        path = path[len(root):]
    for component in path.split("/"):
        if component.endswith(PROCESS_UNIT_SUFFIXES):
            return component
    return None


def read_cmdline(proc_root, pid):
    """The command line with arguments joined by spaces; "" for kernel threads and zombies."""
    raw = read_bytes(os.path.join(proc_root, str(pid), "cmdline"))
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")


def read_oom_score_adj(proc_root, pid):
    """The process's oom_score_adj; raises ProcessGone when it no longer exists."""
    try:
        return int(read_bytes(os.path.join(proc_root, str(pid), "oom_score_adj")).decode())
    except OSError as error:
        if error.errno in GONE:
            raise ProcessGone(pid)
        raise


def read_cgroup_root(proc_root):
    try:
        return cgroup_root(read_bytes(os.path.join(proc_root, "1", "cgroup")).decode("utf-8", "replace"))
    except OSError:
        return "/"


def read_process(proc_root, pid, root="/"):
    """One process as a dict; None when it vanished while being read.

    Keys: pid, ppid, comm, state, cmdline, unit, oom_score_adj, starttime, kernel_thread.
    """
    base = os.path.join(proc_root, str(pid))
    try:
        stat = parse_stat(read_bytes(os.path.join(base, "stat")).decode("utf-8", "replace"))
        try:
            cgroup = read_bytes(os.path.join(base, "cgroup")).decode("utf-8", "replace")
        except FileNotFoundError:
            cgroup = ""
        return {
            "pid": pid,
            "ppid": stat["ppid"],
            "comm": stat["comm"],
            "state": stat["state"],
            "starttime": stat["starttime"],
            "kernel_thread": bool(stat["flags"] & PF_KTHREAD),
            "cmdline": read_cmdline(proc_root, pid),
            "unit": parse_cgroup(cgroup, root),
            "oom_score_adj": int(read_bytes(os.path.join(base, "oom_score_adj")).decode()),
        }
    except OSError as error:
        if error.errno in GONE:
            return None
        raise
    except (ValueError, IndexError):
        # A stat line cut short by an exiting process.
        return None


def list_processes(proc_root):
    """Every user-space process (kernel threads and zombies left out), keyed by pid."""
    table = {}
    root = read_cgroup_root(proc_root)
    for pid in list_pids(proc_root):
        process = read_process(proc_root, pid, root)
        if process is None or process["kernel_thread"] or process["state"] in ("Z", "X"):
            continue
        table[pid] = process
    return table


def page_kb():
    """The page size in kB (statm counts pages)."""
    try:
        return max(1, os.sysconf("SC_PAGE_SIZE") // 1024)
    except (ValueError, OSError, AttributeError):
        return 4


def read_rss_kb(proc_root, pid, page=None):
    """Resident memory of a process in kB, from /proc/<pid>/statm; 0 when gone or unreadable.

    ``page`` is the page size in kB (page_kb()), passed in by callers that read many processes.
    """
    try:
        return int(read_bytes(os.path.join(proc_root, str(pid), "statm")).split()[1]) * (page or page_kb())
    except (OSError, ValueError, IndexError):
        return 0


def read_oom_score(proc_root, pid):
    """The badness the kernel's OOM killer ranks the process by (/proc/<pid>/oom_score); 0 when gone."""
    try:
        return int(read_bytes(os.path.join(proc_root, str(pid), "oom_score")))
    except (OSError, ValueError):
        return 0


def list_resident_processes(proc_root):
    """Every user-space process holding memory, as read_process() gives it plus rss_kb and oom_score.

    A list sorted by pid. statm is read first: kernel threads and zombies have no resident
    memory and are skipped before read_process() reads their four other files (a board has
    about 150 kernel threads), which keeps the listing cheap under memory pressure.
    """
    page = page_kb()
    root = read_cgroup_root(proc_root)
    result = []
    for pid in list_pids(proc_root):
        rss_kb = read_rss_kb(proc_root, pid, page)
        if rss_kb <= 0:
            continue
        process = read_process(proc_root, pid, root)
        if process is None or process["kernel_thread"] or process["state"] in ("Z", "X"):
            continue
        process["rss_kb"] = rss_kb
        process["oom_score"] = read_oom_score(proc_root, pid)
        result.append(process)
    return result


def largest_resident(proc_root, count):
    """The ``count`` processes with the most resident memory, largest first (ties: lower pid).

    Dicts of pid, comm, rss_kb and oom_score_adj. Cheaper than list_resident_processes(): one
    statm read per process, then comm and oom_score_adj of the largest only. A process that
    exits meanwhile is left out.
    """
    page = page_kb()
    sizes = []
    for pid in list_pids(proc_root):
        rss_kb = read_rss_kb(proc_root, pid, page)
        if rss_kb > 0:
            sizes.append((-rss_kb, pid))
    table = []
    for negative_rss, pid in sorted(sizes)[:count]:
        try:
            comm = read_bytes(os.path.join(proc_root, str(pid), "comm")).decode("utf-8", "replace").rstrip("\n")
            adj = read_oom_score_adj(proc_root, pid)
        except (OSError, ValueError, ProcessGone):
            continue
        table.append({"pid": pid, "comm": comm, "rss_kb": -negative_rss, "oom_score_adj": adj})
    return table


def read_pidfile(path, shown=None):
    """The pid in a pidfile; None when the file does not exist.

    Raises ValueError, with a message naming the file (``shown``, default ``path``), when it is
    not a regular file (a directory, a FIFO, /dev/zero: never opened), cannot be read, is
    larger than PIDFILE_MAX_BYTES, or does not hold one pid of ASCII digits from 1 to
    PID_MAX_LIMIT.
    """
    shown = path if shown is None else shown
    try:
        raw = read_regular(path, PIDFILE_MAX_BYTES + 1)
    except OSError as error:
        raise ValueError("pidfile %s cannot be read: %s" % (shown, error.strerror or error))
    if raw is None:
        return None
    if len(raw) > PIDFILE_MAX_BYTES:
        raise ValueError("pidfile %s does not hold a pid: it is larger than %d bytes" % (shown, PIDFILE_MAX_BYTES))
    text = raw.decode("utf-8", "replace")
    token = text.strip().split("\n", 1)[0].strip()
    # ASCII digits only: str.isdigit() and int() also take other scripts' digits ("\u0661" is 1).
    if not (token.isascii() and token.isdigit()) or not 0 < int(token) <= PID_MAX_LIMIT:
        raise ValueError("pidfile %s does not hold a pid from 1 to %d (%r)" % (shown, PID_MAX_LIMIT, text[:40]))
    return int(token)


def has_capability(proc_root, capability=CAP_SYS_RESOURCE, pid="self"):
    """Whether process ``pid`` (this one by default) holds ``capability`` (CapEff of its status).

    None when it cannot be told (no status file, no CapEff line): callers then try and handle
    the error.
    """
    try:
        with open(os.path.join(proc_root, str(pid), "status")) as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> capability & 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def write_oom_score_adj(proc_root, pid, value, starttime=None):
    """Write ``value`` to the oom_score_adj of ``pid`` and return what the kernel holds then.

    The process directory is opened first and everything goes through that handle: if the
    process exits, the kernel answers ESRCH instead of letting the write reach a new process
    that got the same pid. With ``starttime`` (from the listing) a pid reused before the
    directory was opened is caught too. Raises ProcessGone for a process that is gone, and
    OSError as the kernel answers otherwise (EACCES: lowering the score needs
    CAP_SYS_RESOURCE).
    """
    try:
        fd = os.open(os.path.join(proc_root, str(pid)), os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        if error.errno in GONE:
            raise ProcessGone(pid)
        raise
    try:
        if starttime is not None:
            try:
                current = parse_stat(read_bytes("stat", dir_fd=fd).decode("utf-8", "replace"))
            except (ValueError, IndexError):
                raise ProcessGone(pid)
            if current["starttime"] != starttime:
                raise ProcessGone(pid)
        # O_TRUNC as a shell's ">" does: ignored by procfs, needed by fake trees.
        handle = os.open("oom_score_adj", os.O_WRONLY | os.O_TRUNC, dir_fd=fd)
        try:
            os.write(handle, ("%d\n" % value).encode())
        finally:
            os.close(handle)
        return int(read_bytes("oom_score_adj", dir_fd=fd).decode())
    except OSError as error:
        if error.errno in GONE:
            raise ProcessGone(pid)
        raise
    finally:
        os.close(fd)
