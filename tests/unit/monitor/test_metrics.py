"""The node_exporter textfile output (rock5b_oom_monitor/metrics.py)."""

from __future__ import annotations

import os

from monitor_helpers import MIB, make_config
from rock5b_oom_monitor.decisions import Thresholds
from rock5b_oom_monitor.metrics import render_metrics, write_atomic
from rock5b_oom_monitor.monitor import Monitor


def test_metrics_written_atomically(tmp_path):
    config = make_config()
    monitor = Monitor(config, Thresholds.from_config(config, 3995120))
    reading = {"effective": 150 * MIB, "mem_available": 150 * MIB, "mem_total": 3995120, "swap_free": 0, "zram_free": 0}
    monitor.step(0.0, reading)
    monitor.record("drop_caches", False, "EROFS", "ro")
    text = render_metrics(monitor, reading, {"some": {"avg10": 1.5, "avg60": 1, "avg300": 0}, "full": None},
                          "polling", 1700000000.0)
    assert "rock5b_oom_monitor_available_bytes %d\n" % (150 * MIB * 1024) in text
    assert 'rock5b_oom_monitor_events_total{event="warn"} 1\n' in text
    assert 'rock5b_oom_monitor_actions_total{action="drop_caches",result="failed"} 1\n' in text
    assert 'rock5b_oom_monitor_psi_memory_percent{kind="some",window="avg10"} 1.5\n' in text
    assert "rock5b_oom_monitor_psi_trigger_active 0\n" in text and "rock5b_oom_monitor_level 1\n" in text
    path = str(tmp_path / "m.prom")
    write_atomic(path, text)
    assert os.listdir(str(tmp_path)) == ["m.prom"] and oct(os.stat(path).st_mode & 0o777) == "0o644"
