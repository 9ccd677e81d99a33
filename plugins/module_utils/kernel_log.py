# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OOM kill reports in the kernel log, from journald JSON or dmesg text.

Standard library only, so it is easy to test and to ship. The module decides where the
lines come from; this file turns them into records ``(timestamp, message, boot_id)`` and the
records into OOM events.

A report, as mm/oom_kill.c prints it from Linux 5.0 to 6.12 (dump_header, dump_oom_summary,
__oom_kill_process, oom_reap_task_mm)::

    <comm> invoked oom-killer: gfp_mask=%#x(%pGg), order=%d, oom_score_adj=%hd
    CPU: %d PID: %d Comm: %s ...            (6.10+: CPU: %d UID: %u PID: %d Comm: %s ...)
    ... memory state, for a memcg OOM: memory: usage %llukB, limit %llukB, failcnt %lu
    ... task table (6.8+ adds rss_anon rss_file rss_shmem columns)
    oom-kill:constraint=%s,nodemask=%*pbl,cpuset=%s,mems_allowed=%*pbl,
        (global_oom | oom_memcg=<path>),task_memcg=<path>,task=%s,pid=%d,uid=%d
    <Out of memory|Memory cgroup out of memory>: Killed process %d (%s) total-vm:%lukB,
        anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB, UID:%u pgtables:%lukB oom_score_adj:%hd
    oom_reaper: reaped process %d (%s), now anon-rss:%lukB, file-rss:%lukB, shmem-rss:%lukB

The header and summary are rate limited; a ``Killed process`` line alone is still an event.
Older kernels (4.x) lack ``UID:``, ``pgtables:`` and ``oom_score_adj:`` on the kill line;
those fields are then None.
"""

from __future__ import annotations

import collections
import datetime
import json
import re

# How long after a report header its context (invoker, constraint, memcg) applies to kill lines.
CONTEXT_SECONDS = 10.0

_INVOKED = re.compile(
    r"^(?P<comm>.*?) invoked oom-killer: gfp_mask=(?P<gfp_mask>0x[0-9a-fA-F]+)(?:\((?P<gfp_flags>[^)]*)\))?"
    r"(?:, nodemask=(?P<nodemask>[^,]*))?, order=(?P<order>-?\d+), oom_score_adj=(?P<adj>-?\d+)"
)
_CPU = re.compile(r"^CPU: \d+ (?:UID: (?P<uid>\d+) )?PID: (?P<pid>\d+) Comm: (?P<comm>.+?)\s+(?:Not tainted|Tainted)")
_MEMCG_USAGE = re.compile(r"^memory: usage (?P<usage>\d+)kB, limit (?P<limit>\d+)kB, failcnt (?P<failcnt>\d+)")
_SUMMARY = re.compile(
    r"^oom-kill:constraint=(?P<constraint>[A-Z_]+),nodemask=(?P<nodemask>\(null\)|[0-9,\-]*)"
    r"(?:,cpuset=(?P<cpuset>.*?),mems_allowed=(?P<mems_allowed>[0-9,\-]*))?"
    r"(?:,(?P<global_oom>global_oom)|,oom_memcg=(?P<oom_memcg>.*?))?"
    r"(?:,task_memcg=(?P<task_memcg>.*?))?"
    r",task=(?P<task>.*),pid=(?P<pid>\d+),uid=(?P<uid>\d+)\s*$"
)
_KILLED = re.compile(
    r"^(?:(?P<message>.*?): )?Killed process (?P<pid>\d+) \((?P<comm>.*)\) total-vm:(?P<total_vm>\d+)kB, "
    r"anon-rss:(?P<anon>\d+)kB, file-rss:(?P<file>\d+)kB(?:, shmem-rss:(?P<shmem>\d+)kB)?"
    r"(?:,? UID:(?P<uid>\d+))?(?: pgtables:(?P<pgtables>\d+)kB)?(?: oom_score_adj:(?P<adj>-?\d+))?"
)
_REAPED = re.compile(
    r"^oom_reaper: reaped process (?P<pid>\d+) \((?P<comm>.*)\), now anon-rss:(?P<anon>\d+)kB, "
    r"file-rss:(?P<file>\d+)kB, shmem-rss:(?P<shmem>\d+)kB"
)
# Every line a report handler matches has one of these (line_kind's quick test).
_MAYBE_REPORT = re.compile(r"oom|Killed process|Out of memory|^CPU: |^memory: usage")
_MAYBE_REPORT_JSON = re.compile(r'oom|Killed process|Out of memory|CPU: |memory: usage|"MESSAGE":\[')
_GROUP = re.compile(r"^Tasks in (?P<memcg>.*) are going to be killed due to memory\.oom\.group set")
_NO_KILLABLE = re.compile(r"^Out of memory and no killable processes")

_DMESG_ISO = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[,.](?P<frac>\d+))?(?P<tz>Z|[+-]\d\d:?\d\d)?\s(?P<msg>.*)$"
)
_DMESG_RAW = re.compile(r"^(?:<\d+>)?\[\s*(?P<secs>\d+\.\d+)\]\s?(?P<msg>.*)$")
_SYSLOG_KERNEL = re.compile(r"\skernel:\s(?:\[\s*\d+\.\d+\]\s)?(?P<msg>.*)$")


def iso_time(timestamp):
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


def journal_records(lines):
    """Records from ``journalctl -o json`` output, one JSON object a line.

    MESSAGE may be a list of byte values when it is not valid UTF-8; it is decoded with
    replacement. Lines that are not JSON objects with a MESSAGE are skipped.
    """
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):
            try:
                message = bytes(message).decode("utf-8", "replace")
            except (TypeError, ValueError):
                continue
        if not isinstance(message, str):
            continue
        timestamp = None
        try:
            timestamp = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
        except (KeyError, TypeError, ValueError):
            pass
        yield (timestamp, message, entry.get("_BOOT_ID"))


def journal_report_lines(lines):
    """The lines of ``journalctl -o json`` output that may hold a report line: a quick test
    before decoding JSON, which most kernel messages do not need (a MESSAGE given as a list of
    byte values always passes)."""
    return (line for line in lines if _MAYBE_REPORT_JSON.search(line))


def dmesg_records(lines, boot_time=None):
    """Records from dmesg text.

    ``dmesg --time-format iso`` lines carry the wall time; raw ``[ secs.usecs]`` lines are
    seconds since boot and become wall time when ``boot_time`` (epoch) is given. Syslog lines
    (``... kernel: message``) are understood without a time; other lines keep no time.
    """
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        match = _DMESG_ISO.match(line)
        if match:
            stamp = match.group("date")
            tz = match.group("tz") or ""
            if tz == "Z":
                tz = "+00:00"
            elif tz and ":" not in tz:
                tz = tz[:3] + ":" + tz[3:]
            try:
                moment = datetime.datetime.fromisoformat(stamp + tz)
                timestamp = moment.timestamp() + float("0." + (match.group("frac") or "0"))
            except ValueError:
                timestamp = None
            yield (timestamp, match.group("msg"), None)
            continue
        match = _DMESG_RAW.match(line)
        if match:
            seconds = float(match.group("secs"))
            yield (boot_time + seconds if boot_time is not None else None, match.group("msg"), None)
            continue
        match = _SYSLOG_KERNEL.search(line)
        if match:
            yield (None, match.group("msg"), None)
            continue
        yield (None, line, None)


def _normalize(record):
    if isinstance(record, str):
        return None, record, None
    record = tuple(record)
    if len(record) == 2:
        return record[0], record[1], None
    return record[0], record[1], record[2]


def _int(value):
    return int(value) if value is not None else None


def _new_event(timestamp, boot_id):
    return {
        "time": iso_time(timestamp), "timestamp": timestamp, "boot_id": boot_id,
        "kind": "global", "memcg": False, "message": None,
        "constraint": None, "nodemask": None, "cpuset": None, "mems_allowed": None,
        "oom_memcg": None, "task_memcg": None, "group_kill": False,
        "memcg_usage_kb": None, "memcg_limit_kb": None, "memcg_failcnt": None,
        "invoker": None, "victim": None, "reaped": None,
    }


def _finish(event):
    memcg = bool(event["oom_memcg"]) or event["constraint"] == "CONSTRAINT_MEMCG" or \
        bool(event["message"] and event["message"].startswith("Memory cgroup"))
    event["memcg"] = memcg
    event["kind"] = "memcg" if memcg else "global"
    return event


def parse_oom_events(records, since=None):
    """OOM events in kernel log records, oldest first.

    ``records`` are ``(timestamp, message)`` or ``(timestamp, message, boot_id)`` tuples (or
    bare message strings); ``timestamp`` is seconds since the epoch or None. With ``since``
    (epoch) only events at or after it are returned; events without a time are kept.

    Each event is a dict: time (ISO 8601, UTC), timestamp, boot_id, kind (``global`` or
    ``memcg``), memcg (bool), message (the kill line's prefix, e.g. ``Out of memory``),
    constraint, nodemask, cpuset, mems_allowed, oom_memcg, task_memcg, group_kill,
    memcg_usage_kb, memcg_limit_kb, memcg_failcnt, invoker (comm, pid, uid, gfp_mask,
    gfp_flags, order, oom_score_adj), victim (pid, comm, uid, total_vm_kb, anon_rss_kb,
    file_rss_kb, shmem_rss_kb, pgtables_kb, oom_score_adj) and reaped (the victim's RSS after
    the OOM reaper, or None). A report with no killable process has victim None.
    """
    events = _run(_ReportParser(), records)
    if since is not None:
        events = [event for event in events if event["timestamp"] is None or event["timestamp"] >= since]
    return events


def newest_oom_events(records, since=None, keep=None):
    """``(events, total)``: the events parse_oom_events() finds, reading ``records`` one at a time
    (an iterator is never held whole) and keeping only the newest ``keep`` of them (all when
    None), oldest first; ``total`` counts every event at or after ``since``, kept or not."""
    parser = _ReportParser(since, keep)
    return _run(parser, records), parser.total


def line_kind(message):
    """What a kernel message is to the parser: ``start`` (a report header, ``invoked
    oom-killer``), ``event`` (a line that makes one event: a kill line or ``no killable
    processes``), ``report`` (another line the parser reads), or None (a line it ignores)."""
    if not _MAYBE_REPORT.search(message):
        return None  # most lines: one search instead of eight
    if _INVOKED.match(message):
        return "start"
    if _SUMMARY.match(message) or _GROUP.match(message):
        return "report"
    if _KILLED.match(message) or _NO_KILLABLE.match(message):
        return "event"
    return "report" if _CPU.match(message) or _MEMCG_USAGE.match(message) or _REAPED.match(message) else None


def _run(parser, records):
    for record in records:
        timestamp, message, boot_id = _normalize(record)
        message = message.strip()
        if message:
            parser.feed(timestamp, message, boot_id)
    events = list(parser.events)
    for event in events:
        event.pop("_context", None)
    return events


class _ReportParser:
    """The state of parse_oom_events: the events so far and the last report header's fields
    (``context``), which the kill lines after it take. Each line goes to the first handler
    whose pattern it matches."""

    def __init__(self, since=None, keep=None):
        self.events = [] if keep is None else collections.deque(maxlen=keep)
        self.since, self.total = since, 0
        self.context = None

    def _add(self, event):
        """Keep a finished event when it is at or after ``since`` (the newest ``keep`` of them)."""
        if self.since is None or event["timestamp"] is None or event["timestamp"] >= self.since:
            self.total += 1
            self.events.append(_finish(event))

    def feed(self, timestamp, message, boot_id):
        for handler in (self._invoked, self._header_detail, self._summary, self._group, self._killed,
                        self._no_killable, self._reaped):
            if handler(timestamp, message, boot_id):
                return

    def _invoked(self, timestamp, message, boot_id):
        match = _INVOKED.match(message)
        if not match:
            return False
        self.context = _new_event(timestamp, boot_id)
        self.context["invoker"] = {
            "comm": match.group("comm"), "pid": None, "uid": None,
            "gfp_mask": match.group("gfp_mask"), "gfp_flags": match.group("gfp_flags"),
            "order": int(match.group("order")), "oom_score_adj": int(match.group("adj")),
        }
        self.context["_cpu_seen"] = False
        return True

    def _header_detail(self, _timestamp, message, _boot_id):
        """The invoker's CPU line and a memcg's usage line, inside a report."""
        context = self.context
        if context is None:
            return False
        match = _CPU.match(message)
        if match and context["invoker"] is not None and not context.get("_cpu_seen"):
            context["_cpu_seen"] = True
            context["invoker"]["pid"] = int(match.group("pid"))
            context["invoker"]["uid"] = _int(match.group("uid"))
            return True
        match = _MEMCG_USAGE.match(message)
        if match and context["memcg_usage_kb"] is None:
            context["memcg_usage_kb"] = int(match.group("usage"))
            context["memcg_limit_kb"] = int(match.group("limit"))
            context["memcg_failcnt"] = int(match.group("failcnt"))
            return True
        return False

    def _summary(self, timestamp, message, boot_id):
        match = _SUMMARY.match(message)
        if not match:
            return False
        if self.context is None or not _fresh(self.context, timestamp):
            self.context = _new_event(timestamp, boot_id)
        self.context.update(
            constraint=match.group("constraint"), nodemask=match.group("nodemask"),
            cpuset=match.group("cpuset"), mems_allowed=match.group("mems_allowed"),
            oom_memcg=match.group("oom_memcg"), task_memcg=match.group("task_memcg"),
        )
        return True

    def _group(self, timestamp, message, _boot_id):
        if not _GROUP.match(message):
            return False
        # Printed after the first victim's kill line: that victim belongs to the group kill too.
        if self.context is not None and _fresh(self.context, timestamp):
            self.context["group_kill"] = True
            for event in self.events:
                if event.get("_context") is self.context:
                    event["group_kill"] = True
        return True

    def _killed(self, timestamp, message, boot_id):
        match = _KILLED.match(message)
        if not match:
            return False
        event = _from_context(self.context, timestamp, boot_id)
        event["message"] = match.group("message")
        event["victim"] = {
            "pid": int(match.group("pid")), "comm": match.group("comm"), "uid": _int(match.group("uid")),
            "total_vm_kb": int(match.group("total_vm")), "anon_rss_kb": int(match.group("anon")),
            "file_rss_kb": int(match.group("file")), "shmem_rss_kb": _int(match.group("shmem")),
            "pgtables_kb": _int(match.group("pgtables")), "oom_score_adj": _int(match.group("adj")),
        }
        self._add(event)
        return True

    def _no_killable(self, timestamp, message, boot_id):
        if not _NO_KILLABLE.match(message):
            return False
        event = _from_context(self.context, timestamp, boot_id)
        event["message"] = message.rstrip(".")
        self._add(event)
        self.context = None
        return True

    def _reaped(self, _timestamp, message, _boot_id):
        match = _REAPED.match(message)
        if not match:
            return False
        pid = int(match.group("pid"))
        for event in reversed(self.events):
            if event["victim"] and event["victim"]["pid"] == pid and event["reaped"] is None:
                event["reaped"] = {"anon_rss_kb": int(match.group("anon")), "file_rss_kb": int(match.group("file")),
                                   "shmem_rss_kb": int(match.group("shmem"))}
                break
        return True


def _from_context(context, timestamp, boot_id):
    """A new event at ``timestamp`` carrying the report header's fields when they still apply."""
    event = _new_event(timestamp, boot_id)
    if context is not None and _fresh(context, timestamp):
        for key, value in context.items():
            if key not in ("time", "timestamp", "boot_id") and not key.startswith("_"):
                event[key] = dict(value) if isinstance(value, dict) else value
        if event["boot_id"] is None:
            event["boot_id"] = context["boot_id"]
        event["_context"] = context
    return event


def _fresh(context, timestamp):
    """Whether a header's context still applies at ``timestamp``."""
    if context.get("timestamp") is None or timestamp is None:
        return True
    return 0 <= timestamp - context["timestamp"] <= CONTEXT_SECONDS
