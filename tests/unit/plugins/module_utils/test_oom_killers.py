"""oom_killers: which userspace OOM killers run, and the monitor's unit state and textfile."""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils import oom_killers


def test_killers_by_comm_or_unit_in_a_fixed_order():
    processes = {
        10: {"comm": "nohang", "unit": None},
        11: {"comm": "python3", "unit": "rock5b-oom-monitor.service"},
        12: {"comm": "systemd-oomd", "unit": "systemd-oomd.service"},
        13: {"comm": "python3", "unit": "myapp.service"},
    }
    assert oom_killers.running_killers(processes) == ["rock5b-oom-monitor", "systemd-oomd", "nohang"]
    assert oom_killers.running_killers({1: {"comm": "earlyoomd", "unit": None}}) == []


def test_parse_metrics_ignores_comments_other_metrics_and_garbage():
    text = ("# HELP rock5b_oom_monitor_level 0 ok, 1 warn, 2 critical.\n"
            "rock5b_oom_monitor_level 2\n"
            "rock5b_oom_monitor_threshold_bytes{level=\"warn\"} 3.2e+08\n"
            "rock5b_oom_monitor_threshold_bytes{level=\"kill\"} 1\n"
            "rock5b_oom_monitor_actions_total{action=\"kill\",result=\"ok\"} 1\n"
            "rock5b_oom_monitor_actions_total{action=\"hook\",result=\"failed\"} 0\n"
            "node_load1 1.5\n"
            "rock5b_oom_monitor_level not-a-number\n")
    assert oom_killers.parse_metrics(text) == {"level": "critical", "warn_bytes": 320000000, "critical_bytes": None,
                                               "actions": {"kill ok": 1}, "last_action": None}
    assert oom_killers.parse_metrics(None)["level"] is None
    assert oom_killers.parse_metrics("rock5b_oom_monitor_level 7\n")["level"] is None


def test_the_last_action_is_the_newest_with_its_target_unescaped():
    text = ('rock5b_oom_monitor_last_action_timestamp_seconds{action="warn",target=""} 1765000000.000\n'
            'rock5b_oom_monitor_last_action_timestamp_seconds{action="kill",target="a\\"b\\\\c\\nd} (pid 7)"} 1765000100.250\n'
            'rock5b_oom_monitor_last_action_timestamp_seconds{action="hook",target="kill"} 1765000100.000\n'
            'rock5b_oom_monitor_last_action_timestamp_seconds{action="bogus",target=""} NaN\n'
            'rock5b_oom_monitor_level 1\n')
    metrics = oom_killers.parse_metrics(text)
    assert metrics["last_action"] == {"action": "kill", "target": 'a"b\\c\nd} (pid 7)', "time": 1765000100.25}
    assert metrics["level"] == "warn"
    only_warn = oom_killers.parse_metrics(text.splitlines()[0])
    assert only_warn["last_action"] == {"action": "warn", "target": None, "time": 1765000000.0}


def test_unit_state_and_status_level():
    assert oom_killers.unit_state({"LoadState": "not-found", "ActiveState": "inactive"}) == "absent"
    assert oom_killers.unit_state({"LoadState": "masked", "ActiveState": "inactive"}) == "inactive"
    assert oom_killers.unit_state({"LoadState": "loaded", "ActiveState": "activating"}) == "active"
    assert oom_killers.unit_state({"LoadState": "loaded", "ActiveState": "failed"}) == "failed"
    assert oom_killers.status_level("critical: 80.0 MiB available, polling (no PSI trigger)") == "critical"
    assert oom_killers.status_level("stopping") is None and oom_killers.status_level(None) is None


def test_an_active_monitor_unit_counts_even_when_its_processes_are_not_seen_in_it():
    processes = {10: {"comm": "python3", "unit": None}}
    assert oom_killers.running_killers(processes, monitor_active=True) == ["rock5b-oom-monitor"]
    assert oom_killers.running_killers(processes, monitor_active=False) == []
