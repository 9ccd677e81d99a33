# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a module reads the kernel log from: journald (``journalctl -o json``) or ``dmesg``.

``kernel_log`` turns lines into records and records into OOM events; this file decides which
command gives the lines and runs it with the module's runner (``get_bin_path``, ``run_command``
of an AnsibleModule). Problems the task must fail on raise ModuleError; a log that cannot be
read is reported in the facts and as a warning instead.
"""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils import kernel_log
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError

JOURNAL_DIR = "/run/systemd/journal"


def journal_available(module, fs):
    """Whether journalctl is installed and journald runs (its socket directory exists)."""
    return module.get_bin_path("journalctl") is not None and fs.isdir(JOURNAL_DIR)


def read_journal(module, since_text, since):
    """Kernel records from journald, or (None, error)."""
    command = [module.get_bin_path("journalctl", required=True), "--no-pager", "--quiet", "--output=json",
               "--output-fields=MESSAGE,_BOOT_ID"]
    if since_text == "boot":
        command += ["--dmesg"]
    else:
        command += ["_TRANSPORT=kernel"]
        if since is not None:
            command += ["--since=@%d" % max(0, int(since))]  # an age reaching before 1970 means all
    rc, out, err = module.run_command(command)
    if rc != 0:
        return None, "%s failed (rc %d): %s" % (" ".join(command), rc, (err or out).strip())
    return list(kernel_log.journal_records(out.splitlines())), None


def read_dmesg(module, boot_time):
    """Kernel records from dmesg, or (None, error); raw times are added to ``boot_time``."""
    dmesg = module.get_bin_path("dmesg")
    if dmesg is None:
        return None, "dmesg is not installed"
    rc, out, err = module.run_command([dmesg, "--time-format", "iso"])
    if rc != 0:
        # BusyBox dmesg has no --time-format: raw seconds since boot.
        rc, out, err = module.run_command([dmesg])
    if rc != 0:
        hint = " (kernel.dmesg_restrict is set: use become)" if "not permitted" in (err or "") else ""
        return None, "dmesg failed (rc %d): %s%s" % (rc, (err or out).strip(), hint)
    return list(kernel_log.dmesg_records(out.splitlines(), boot_time=boot_time)), None


def oom_log(module, fs, source, since_text, boot_time):
    """(events, log facts, warnings) of OOM events since ``since_text`` from ``source``
    (auto, journal, dmesg or none). Raises ModuleError for a bad ``since`` and for
    source=journal without journalctl."""
    try:
        since = kernel_log.parse_since(since_text, boot_time=boot_time)
    except ValueError as error:
        raise ModuleError("since: %s" % error)
    facts = {"source": "none", "since": kernel_log.iso_time(since), "error": None, "events": 0}
    warnings = []
    if source == "none":
        return [], facts, warnings
    if source == "auto":
        source = "journal" if journal_available(module, fs) else "dmesg"
        if source == "journal":
            records, error = read_journal(module, since_text, since)
            if records is None:
                warnings.append("%s; reading dmesg instead" % error)
                source = "dmesg"
    elif source == "journal":
        if module.get_bin_path("journalctl") is None:
            raise ModuleError("log_source=journal but journalctl is not installed; use log_source=auto or dmesg")
        records, error = read_journal(module, since_text, since)
    if source == "dmesg":
        records, error = read_dmesg(module, boot_time)
    facts["source"] = source
    if records is None:
        facts["error"] = error
        warnings.append("OOM events left out: %s" % error)
        return [], facts, warnings
    events = kernel_log.parse_oom_events(records, since=since)
    facts["events"] = len(events)
    return events, facts, warnings
