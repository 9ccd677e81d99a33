# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node_exporter textfile collector output, rendered from the monitor's state and written atomically."""

from __future__ import annotations

import os

from rock5b_oom_monitor import RANK


def label_value(value):
    """A label value as the text exposition format writes it: backslash, quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(monitor, reading, psi_values, psi_mode, now_wall, now=None):
    """node_exporter textfile collector text.

    ``now`` is the monitor's clock at ``now_wall`` (its actions carry that clock's times); None
    when that clock is the wall clock."""
    lines = []

    def metric(name, kind, helptext, samples):
        full = "rock5b_oom_monitor_" + name
        lines.append("# HELP %s %s" % (full, helptext))
        lines.append("# TYPE %s %s" % (full, kind))
        for labels, value in samples:
            label = ",".join('%s="%s"' % (key, label_value(value)) for key, value in labels)
            lines.append("%s%s %s" % (full, "{%s}" % label if label else "", value))

    t = monitor.thresholds
    if reading:
        metric("available_bytes", "gauge", "Memory the thresholds compare: MemAvailable plus counted free swap.",
               [((), reading["effective"] * 1024)])
        metric("mem_available_bytes", "gauge", "MemAvailable.", [((), reading["mem_available"] * 1024)])
        metric("mem_total_bytes", "gauge", "MemTotal.", [((), reading["mem_total"] * 1024)])
        metric("swap_free_bytes", "gauge", "Free swap, zram included.", [((), reading["swap_free"] * 1024)])
        metric("zram_free_bytes", "gauge", "Free zram swap.", [((), reading["zram_free"] * 1024)])
        metric("zram_size_bytes", "gauge", "Size of the zram swap devices (/proc/swaps); 0 without zram swap.",
               [((), reading["zram_size"] * 1024)])
    metric("threshold_bytes", "gauge", "The resolved thresholds.",
           [((("level", "warn"),), t.warn_kb * 1024), ((("level", "critical"),), t.critical_kb * 1024),
            ((("level", "kill"),), t.kill_kb * 1024)])
    metric("level", "gauge", "0 ok, 1 warn, 2 critical.", [((), RANK[monitor.level])])
    metric("psi_trigger_active", "gauge", "1 when a PSI trigger wakes the monitor, 0 on adaptive polling alone.",
           [((), 1 if psi_mode == "trigger" else 0)])
    samples = []
    for kind in ("some", "full"):
        for window in ("avg10", "avg60", "avg300"):
            value = ((psi_values or {}).get(kind) or {}).get(window)
            if value is not None:
                samples.append(((("kind", kind), ("window", window)), value))
    if samples:
        metric("psi_memory_percent", "gauge", "Memory PSI averages (percent of wall time).", samples)
    metric("events_total", "counter", "Level changes and PSI trigger events.",
           [((("event", name),), monitor.events[name]) for name in sorted(monitor.events)])
    metric("actions_total", "counter", "Actions carried out, by result.",
           [((("action", a), ("result", r)), n) for (a, r), n in sorted(monitor.actions.items())])
    if monitor.last_actions:
        offset = 0.0 if now is None else now_wall - now
        metric("last_action_timestamp_seconds", "gauge", "When the monitor last took each action; target: the process "
               "a kill signalled, the event a hook ran for.",
               [((("action", action), ("target", target)), "%.3f" % (at + offset))
                for action, (at, target) in sorted(monitor.last_actions.items())])
    metric("last_update_timestamp_seconds", "gauge", "When this file was written.", [((), "%.3f" % now_wall)])
    return "\n".join(lines) + "\n"


def write_atomic(path, text, mode=0o644):
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, text.encode())
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.rename(tmp, path)
