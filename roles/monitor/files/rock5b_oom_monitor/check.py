# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``--check``: the state for a person, and whether the installed files match manifest.json."""

from __future__ import annotations

import json
import os

from procfs import pressure as mu_pressure
from procfs import processes as mu_processes
from rock5b_oom_monitor import RANK, VERSION, fmt_kb
from rock5b_oom_monitor.decisions import Thresholds, choose_victim, compile_protect
from rock5b_oom_monitor.readings import MemReader, top_users

# The directory the role installs the program into: manifest.json, main.py and the packages.
INSTALL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = "manifest.json"


def installed_files(install_dir=INSTALL_DIR):
    """``(missing, extra)``: files manifest.json lists that are not installed, and the reverse.

    Paths are relative to ``install_dir``; bytecode caches (__pycache__) are not counted.
    Raises OSError or ValueError when the manifest cannot be read.
    """
    with open(os.path.join(install_dir, MANIFEST)) as handle:
        expected = set(entry["dest"] for entry in json.load(handle)["files"])
    present = set()
    for directory, subdirectories, names in os.walk(install_dir):
        subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
        for name in names:
            present.add(os.path.relpath(os.path.join(directory, name), install_dir))
    return sorted(expected - present), sorted(present - expected)


def files_line(install_dir=INSTALL_DIR):
    try:
        missing, extra = installed_files(install_dir)
    except (OSError, ValueError, KeyError, TypeError) as error:
        return "files:      %s/%s cannot be read: %s" % (install_dir, MANIFEST, error)
    if not missing and not extra:
        return "files:      %s as %s lists them" % (install_dir, MANIFEST)
    return "files:      %s: %s" % (install_dir, "; ".join(
        text for text in ("missing %s" % ", ".join(missing) if missing else "",
                          "not in %s: %s" % (MANIFEST, ", ".join(extra)) if extra else "") if text))


def check_report(config, proc_root="/proc", fs_root="/", install_dir=INSTALL_DIR):
    """The state for a person: ``(text, exit status)``; 0 ok, 1 warn, 2 critical."""
    reader = MemReader(proc_root)
    info = reader.meminfo()
    thresholds = Thresholds.from_config(config, info.get("MemTotal", 0))
    reading = reader.with_zram(reader.reading(config["count_swap"], config["zram_weight"]), config["count_swap"])
    level = thresholds.raw_level(reading["effective"])
    lines = ["rock5b-oom-monitor %s --check" % VERSION,
             "level:      %s" % level,
             "available:  %s (MemAvailable %s of MemTotal %s, swap free %s, zram free %s of %s%s)" % (
                 fmt_kb(reading["effective"]), fmt_kb(reading["mem_available"]), fmt_kb(reading["mem_total"]),
                 fmt_kb(reading["swap_free"]), fmt_kb(reading["zram_free"]), fmt_kb(reading["zram_size"]),
                 "; swap counted, zram at %g" % config["zram_weight"] if config["count_swap"] else "; swap not counted"),
             "thresholds: warn below %s (%s), critical below %s (%s), kill below %s, hysteresis %s%%" % (
                 fmt_kb(thresholds.warn_kb), config["warn"], fmt_kb(thresholds.critical_kb), config["critical"],
                 fmt_kb(thresholds.kill_kb), config["hysteresis_percent"])]
    found = mu_pressure.diagnose(proc_root, fs_root)
    if found["available"]:
        values = found["values"]
        lines.append("PSI:        some avg10 %s%%, full avg10 %s%% (triggers: %s)" % (
            (values.get("some") or {}).get("avg10"), (values.get("full") or {}).get("avg10"),
            ", ".join(config["psi"]["triggers"]) if config["psi"]["enabled"] else "off"))
    else:
        lines.append("PSI:        %s: %s" % (found["state"], found["reason"]))
        if found["hint"]:
            lines.append("            %s" % found["hint"])
    lines.append("actions:    log %s, drop_caches %s, kill %s, hook %s" % (
        "on" if config["log"]["enabled"] else "off",
        ("every %ss at most" % config["drop_caches"]["interval_s"]) if config["drop_caches"]["enabled"] else "off",
        ("on, dry run" if config["kill"]["dry_run"] else "on") if config["kill"]["enabled"] else "off",
        " ".join(config["hook"]["command"]) if config["hook"]["command"] else "none"))
    lines.append("metrics:    %s" % (config["metrics"]["path"] or "off"))
    protect = compile_protect(config["protect"])
    lines.append("protected:  units %s; comms %s; patterns %s; and every oom_score_adj -1000" % (
        ", ".join(protect["units"]) or "-", ", ".join(protect["comms"]) or "-", ", ".join(protect["patterns"]) or "-"))
    try:
        table = mu_processes.list_resident_processes(proc_root)
    except OSError:
        table = []
    if table:
        lines.append("top:        %s" % top_users(table, max(config["log"]["top"], 5)))
        victim = choose_victim(table, protect, os.getpid())
        if victim:
            lines.append("victim:     %s (pid %d, %s resident, oom_score %d) would be killed first%s" % (
                victim["comm"], victim["pid"], fmt_kb(victim["rss_kb"]), victim["oom_score"],
                "" if config["kill"]["enabled"] else " if kill were on"))
        else:
            lines.append("victim:     none: every process is protected")
    lines.append(files_line(install_dir))
    return "\n".join(lines) + "\n", RANK[level]
