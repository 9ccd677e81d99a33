# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A board's memory as oom_facts reports it: /proc/meminfo's fields with MemAvailable as a
percentage, whether PSI works with the current memory pressure, and the processes the kernel's
OOM killer would pick first. Read only, through the procfs readers.
"""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils import hostfs
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import pressure, status
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.meminfo import read_meminfo
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import list_processes

MEMINFO_FIELDS = (
    ("mem_total_kb", "MemTotal"), ("mem_free_kb", "MemFree"), ("mem_available_kb", "MemAvailable"),
    ("committed_as_kb", "Committed_AS"), ("commit_limit_kb", "CommitLimit"),
    ("swap_total_kb", "SwapTotal"), ("swap_free_kb", "SwapFree"),
)


def memory_facts(fs):
    meminfo = read_meminfo(fs.proc)
    facts = dict((key, meminfo.get(field)) for key, field in MEMINFO_FIELDS)
    total, available = facts["mem_total_kb"], facts["mem_available_kb"]
    facts["mem_available_percent"] = round(100.0 * available / total, 1) if total and available is not None else None
    return facts


def psi_facts(fs):
    diagnosis = pressure.diagnose(fs.proc, fs.root, "memory")
    return {
        "available": diagnosis["available"], "state": diagnosis["state"], "reason": diagnosis["reason"],
        "hint": diagnosis["hint"], "memory": diagnosis["values"],
    }


def top_processes(fs, count, processes=None):
    """The ``count`` processes with the highest oom_score, highest first (of ``processes``, else all)."""
    if count <= 0:
        return []
    rows = []
    for pid, process in (list_processes(fs.proc) if processes is None else processes).items():
        score = hostfs.read_text(fs.proc_path(pid, "oom_score"))
        if score is None or not score.strip().lstrip("-").isdigit():
            continue  # exited meanwhile
        rows.append({
            "pid": pid, "comm": process["comm"], "oom_score": int(score), "oom_score_adj": process["oom_score_adj"],
            "rss_kb": status.read_status_kb(fs.proc, pid).get("VmRSS") or 0, "unit": process.get("unit"),
        })
    rows.sort(key=lambda row: (-row["oom_score"], -row["rss_kb"], row["pid"]))
    return rows[:count]
