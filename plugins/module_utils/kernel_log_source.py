# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a module reads the kernel log from: journald (``journalctl -o json``) or ``dmesg``.

``kernel_log`` turns lines into records and records into OOM events; this file decides which
command gives the lines, runs it and reads its output **line by line, at most ``max_bytes``
of it**, keeping only the newest ``max_events`` events: a board with a huge journal gets
bounded facts and a bounded module. The journal is read newest first (``--reverse``), so the
byte cap leaves out the oldest entries; dmesg (a ring buffer of the kernel, this boot only)
has no such option and is read oldest first. Problems the task must fail on raise
ModuleError; a log that cannot be read is reported in the facts and as a warning instead.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile

from ansible_collections.rock5b.oom.plugins.module_utils import kernel_log, log_since
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError

JOURNAL_DIR = "/run/systemd/journal"
DEFAULT_MAX_EVENTS = 50
MAX_MAX_EVENTS = 10000
DEFAULT_MAX_BYTES = 16 << 20
MIN_MAX_BYTES, MAX_MAX_BYTES = 4096, 1 << 30
LINE_LIMIT = 64 << 10  # a longer "line" is read in pieces, none of them a record
# How commands are started; unit tests replace it with a fake.
POPEN = subprocess.Popen


class CommandLines:
    """A command's standard output as text lines, at most ``max_bytes`` of it.

    Iterate once; afterwards ``rc``, ``err`` (the start of its stderr), ``bytes_read`` and
    ``capped`` (the cap stopped the read; the command was killed, and that is no failure) say
    how it went. stderr goes to a temporary file, so a chatty command never blocks.
    """

    def __init__(self, command, max_bytes):
        self.command, self.max_bytes = command, max_bytes
        self.rc, self.err, self.bytes_read, self.capped = None, "", 0, False

    def __iter__(self):
        environment = dict(os.environ, LANG="C", LC_ALL="C", LC_MESSAGES="C")
        with tempfile.TemporaryFile() as errors:
            # Not run_command (ansible-core 2.20+ pylint asks for it): that reads the whole output
            # into memory, and the cap on a huge journal is the point of reading line by line here.
            # pylint: disable-next=ansible-bad-function
            process = POPEN(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=environment)
            finished = False
            try:
                for line in iter(functools.partial(process.stdout.readline, LINE_LIMIT), b""):
                    if self.bytes_read + len(line) > self.max_bytes:
                        self.capped = True
                        break
                    self.bytes_read += len(line)
                    yield line.decode("utf-8", "replace")
                finished = not self.capped
            finally:
                if not finished:
                    process.kill()  # capped, or the reader stopped early
                process.stdout.close()
                rc = process.wait()
                self.rc = 0 if self.capped else rc
                errors.seek(0)
                self.err = errors.read(4096).decode("utf-8", "replace")

    def failure(self):
        """Why the command failed, or None."""
        if self.rc == 0:
            return None
        return "%s failed (rc %d): %s" % (" ".join(self.command), self.rc, self.err.strip())


def journal_available(module, fs):
    """Whether journalctl is installed and journald runs (its socket directory exists)."""
    return module.get_bin_path("journalctl") is not None and fs.isdir(JOURNAL_DIR)


def _journal_events(lines, since, max_events):
    """(events, total) from journal records newest first: the records of the newest
    ``max_events`` reports are kept (back to the header of the oldest of them), the events in
    the rest only counted."""
    kept, kills, extra, closed = [], 0, 0, False
    for record in kernel_log.journal_records(kernel_log.journal_report_lines(lines)):
        kind = kernel_log.line_kind(record[1].strip())
        if kind is None:
            continue
        if not closed:
            kept.append(record)
            kills += kind == "event"
            closed = kills >= max_events and kind == "start"
        elif kind == "event" and (since is None or record[0] is None or record[0] >= since):
            extra += 1
    events, total = kernel_log.newest_oom_events(reversed(kept), since, max_events)
    return events, total + extra


def read_journal(module, since_text, since, max_events=DEFAULT_MAX_EVENTS, max_bytes=DEFAULT_MAX_BYTES):
    """(reading, None) with kernel OOM events from journald, or (None, error). A reading has
    events (the newest ``max_events``), total, bytes_read and capped (``max_bytes`` was reached)."""
    command = [module.get_bin_path("journalctl", required=True), "--no-pager", "--quiet", "--output=json",
               "--output-fields=MESSAGE,_BOOT_ID", "--reverse"]
    if since_text == "boot":
        command += ["--dmesg"]
    else:
        command += ["_TRANSPORT=kernel"]
        if since is not None:
            command += ["--since=@%d" % max(0, int(since))]  # an age reaching before 1970 means all
    output = CommandLines(command, max_bytes)
    events, total = _journal_events(output, since, max_events)
    if output.failure():
        return None, output.failure()
    return dict(events=events, total=total, bytes_read=output.bytes_read, capped=output.capped), None


def read_dmesg(module, boot_time, since=None, max_events=DEFAULT_MAX_EVENTS, max_bytes=DEFAULT_MAX_BYTES):
    """(reading, None) with OOM events from dmesg, or (None, error); raw times are added to
    ``boot_time``. A reading is as read_journal's."""
    dmesg = module.get_bin_path("dmesg")
    if dmesg is None:
        return None, "dmesg is not installed"
    for command in ([dmesg, "--time-format", "iso"], [dmesg]):  # BusyBox: raw seconds since boot
        output = CommandLines(command, max_bytes)
        events, total = kernel_log.newest_oom_events(
            kernel_log.dmesg_records(output, boot_time=boot_time), since, max_events)
        if not output.failure():
            return dict(events=events, total=total, bytes_read=output.bytes_read, capped=output.capped), None
    hint = " (kernel.dmesg_restrict is set: use become)" if "not permitted" in output.err else ""
    return None, "dmesg failed (rc %d): %s%s" % (output.rc, output.err.strip(), hint)


def oom_log(module, fs, source, since_text, boot_time, max_events=DEFAULT_MAX_EVENTS, max_bytes=DEFAULT_MAX_BYTES):
    """(events, log facts, warnings) of the newest ``max_events`` OOM events since
    ``since_text`` from ``source`` (auto, journal, dmesg or none), reading at most ``max_bytes``
    of log. Raises ModuleError for a bad ``since`` and for source=journal without journalctl."""
    try:
        since = log_since.parse_since(since_text, boot_time=boot_time)
    except ValueError as error:
        raise ModuleError("since: %s" % error)
    facts = {"source": "none", "since": kernel_log.iso_time(since), "error": None, "events": 0,
             "events_total": 0, "truncated": False, "bytes_read": 0, "max_events": max_events, "max_bytes": max_bytes}
    warnings = []
    if source == "none":
        return [], facts, warnings
    reading = None
    if source == "auto":
        source = "journal" if journal_available(module, fs) else "dmesg"
        if source == "journal":
            reading, error = read_journal(module, since_text, since, max_events, max_bytes)
            if reading is None:
                warnings.append("%s; reading dmesg instead" % error)
                source = "dmesg"
    elif source == "journal":
        if module.get_bin_path("journalctl") is None:
            raise ModuleError("log_source=journal but journalctl is not installed; use log_source=auto or dmesg")
        reading, error = read_journal(module, since_text, since, max_events, max_bytes)
    if source == "dmesg":
        reading, error = read_dmesg(module, boot_time, since, max_events, max_bytes)
    facts["source"] = source
    if reading is None:
        facts["error"] = error
        warnings.append("OOM events left out: %s" % error)
        return [], facts, warnings
    events = reading["events"]
    facts.update(events=len(events), events_total=reading["total"], bytes_read=reading["bytes_read"],
                 truncated=reading["capped"] or reading["total"] > len(events))
    if reading["capped"]:
        newest, oldest = ("newest", "older") if source == "journal" else ("oldest", "newer")
        warnings.append("the %s holds more than max_bytes=%d bytes of kernel log; only the %s were read, and "
                        "%s OOM events may be missing" % (source, max_bytes, newest, oldest))
    return events, facts, warnings
