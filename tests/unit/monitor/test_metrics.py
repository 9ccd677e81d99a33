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
    reading = {"effective": 150 * MIB, "mem_available": 150 * MIB, "mem_total": 3995120, "swap_free": 0, "zram_free": 0,
               "zram_size": 0}
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


def test_the_last_actions_carry_wall_time_and_an_escaped_target():
    config = make_config()
    monitor = Monitor(config, Thresholds.from_config(config, 3995120))
    reading = {"effective": 90 * MIB, "mem_available": 90 * MIB, "mem_total": 3995120, "swap_free": 0, "zram_free": 0,
               "zram_size": 0}
    assert "last_action" not in render_metrics(monitor, reading, None, "polling", 1700000000.0, now=500.0)
    monitor.step(400.0, reading)
    monitor.note("kill", 450.25, 'a"b\\c\nd} (pid 7)')
    text = render_metrics(monitor, reading, None, "polling", 1700000000.0, now=500.0)
    assert "# TYPE rock5b_oom_monitor_last_action_timestamp_seconds gauge\n" in text
    assert 'rock5b_oom_monitor_last_action_timestamp_seconds{action="critical",target=""} 1699999900.000\n' in text
    assert 'rock5b_oom_monitor_last_action_timestamp_seconds{action="kill",target="a\\"b\\\\c\\nd} (pid 7)"} 1699999950.250\n' in text
    # without ``now`` the monitor's clock is the wall clock
    assert '{action="critical",target=""} 400.000\n' in render_metrics(monitor, reading, None, "polling", 1700000000.0)


def test_oom_facts_reads_back_the_last_action_the_monitor_writes():
    """The contract with plugins/module_utils/oom_killers.py (oom_facts, the fleet report)."""
    from ansible_collections.rock5b.oom.plugins.module_utils import oom_killers  # pylint: disable=import-outside-toplevel
    config = make_config()
    monitor = Monitor(config, Thresholds.from_config(config, 3995120))
    reading = {"effective": 90 * MIB, "mem_available": 90 * MIB, "mem_total": 3995120, "swap_free": 0, "zram_free": 0,
               "zram_size": 0}
    monitor.step(400.0, reading)
    monitor.start_kill(420.0, {"comm": 'we"ird}\\', "pid": 4242, "rss_kb": 1, "oom_score": 900, "starttime": 1})
    text = render_metrics(monitor, reading, None, "trigger", 1700000000.0, now=500.0)
    parsed = oom_killers.parse_metrics(text)
    assert parsed["last_action"] == {"action": "kill", "target": 'we"ird}\\ (pid 4242)', "time": 1699999920.0}
    assert parsed["level"] == "critical" and parsed["actions"] == {"kill ok": 1}


def test_zram_size_is_exported_beside_zram_free_and_is_0_without_zram():
    """Rock5bOomZramNearlyFull (files/prometheus/rock5b-oom.rules.yml) divides one by the other."""
    config = make_config()
    monitor = Monitor(config, Thresholds.from_config(config, 3995120))
    reading = {"effective": 900 * MIB, "mem_available": 100 * MIB, "mem_total": 3995120, "swap_free": 200 * MIB,
               "zram_free": 200 * MIB, "zram_size": 2048 * MIB}
    text = render_metrics(monitor, reading, None, "polling", 1700000000.0)
    assert "# TYPE rock5b_oom_monitor_zram_size_bytes gauge\n" in text
    assert "rock5b_oom_monitor_zram_size_bytes %d\n" % (2048 * MIB * 1024) in text
    assert "rock5b_oom_monitor_zram_free_bytes %d\n" % (200 * MIB * 1024) in text
    text = render_metrics(monitor, dict(reading, zram_free=0, zram_size=0), None, "polling", 1700000000.0)
    assert "rock5b_oom_monitor_zram_size_bytes 0\n" in text
