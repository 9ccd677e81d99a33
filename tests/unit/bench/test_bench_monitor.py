"""The monitor benchmark's harness (bench/monitor/bench_monitor.py) measured on fake contenders.

No VM, no hog: the sampler's report and the contender's journal records are scripted, so a
contender that logs a known time after the crossing must be measured at exactly that delay, and
one that never logs must count as a miss that fails the run.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "monitor"))
import bench_monitor  # noqa: E402  pylint: disable=wrong-import-position

CROSSING = 1796499600.25


class FakeJournal:
    """The contender's journal: the scripted records appear from the ``after``-th query on, and a
    query returns those stamped at or after the time it asks for (as journalctl --since does)."""

    def __init__(self, records, after=2):
        self.records_due, self.after, self.queries = records, after, 0

    def since(self, started):
        self.queries += 1
        due = self.records_due if self.queries >= self.after else []
        return [record for record in due if bench_monitor.record_time(record) >= started]


def record(seconds, message="low memory: 197 MiB available"):
    return {"__REALTIME_TIMESTAMP": str(int(round(seconds * 1e6))), "MESSAGE": message}


@pytest.fixture
def harness(monkeypatch):
    """trial() with the hog, sampler and clocks replaced: in each trial the sampler reports CROSSING once."""
    reports = []

    def spawn(*targets):
        reports.append(["cross %.6f 204000" % CROSSING])
        return [], open(os.devnull, "rb")  # pylint: disable=consider-using-with

    monkeypatch.setattr(bench_monitor, "spawn", spawn)
    monkeypatch.setattr(bench_monitor, "stop", lambda pids: None)
    monkeypatch.setattr(bench_monitor, "wait_recovered", lambda fd, above_kb: None)
    monkeypatch.setattr(bench_monitor, "read_lines", lambda stream, timeout: reports.pop(0) if reports else [])
    monkeypatch.setattr(bench_monitor.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(bench_monitor.time, "time", lambda: CROSSING - 3.0)  # the trial starts 3 s before it
    monkeypatch.setattr(bench_monitor, "REACTION_TIMEOUT_S", 0.2)
    monkeypatch.setattr(bench_monitor, "QUERY_EVERY_S", 0.0)
    monkeypatch.setattr(bench_monitor, "explain_miss", lambda *args: None)
    return bench_monitor


def test_a_contender_logging_after_a_known_delay_is_measured_at_that_delay(harness):
    latency = harness.trial("rock5b", FakeJournal([record(CROSSING + 0.123)]), meminfo_fd=None)
    assert latency == pytest.approx(0.123, abs=1e-6)


def test_a_reaction_stamped_before_the_samplers_crossing_is_a_negative_latency_not_a_miss(harness):
    # The sampler was starved while the hog populated memory: the contender logged 1.4 s before
    # the crossing the sampler reported, but after the trial started.
    latency = harness.trial("rock5b", FakeJournal([record(CROSSING - 1.4)]), meminfo_fd=None)
    assert latency == pytest.approx(-1.4, abs=1e-6)


def test_a_record_from_before_the_trial_is_not_its_reaction(harness):
    stale = record(CROSSING - 5.0, "low memory: an earlier trial")
    assert harness.trial("rock5b", FakeJournal([stale]), meminfo_fd=None) is None


def test_a_contender_that_never_logs_is_a_miss_and_fails_the_run(harness):
    printed = []
    harness.explain_miss = lambda name, seen, started, crossed: printed.append((name, seen, crossed))
    misses = [harness.trial("rock5b", FakeJournal([]), meminfo_fd=None) for _trial in range(2)]
    assert misses == [None, None]
    assert printed == [("rock5b", [], CROSSING)] * 2  # each miss says what the journal held
    results = [{"tool": "rock5b", "misses": 2, "ran": True}, {"tool": "earlyoom", "misses": 0, "ran": True},
               {"tool": "seed", "misses": 3, "ran": False}]
    assert harness.missed_too_often(results) == ["rock5b"]


def test_one_miss_is_tolerated():
    assert bench_monitor.missed_too_often([{"tool": "rock5b", "misses": 1, "ran": True}]) == []


def contender(tool, idle, *levels):
    return {"tool": tool, "latencies_ms": [10.0, 20.0, 30.0], "misses": 0, "forks_per_min": 0.0, "rss_mib": 9.0,
            "memory_current_mib": 4.0, "idle": {"cpu_percent": idle, "wakeups_per_s": 1.0},
            "levels": [{"target_mib": mib, "available_mib": mib + 5.0, "cpu_percent": cpu, "wakeups_per_s": 2.0}
                       for mib, cpu in levels]}


def test_the_table_has_a_cpu_and_wake_up_column_per_held_level():
    lines = bench_monitor.table([contender("rock5b", 0.2, (400, 0.5), (240, 0.7))]).split("\n")
    assert "CPU % at 400 MiB | wake/s at 400 MiB | CPU % at 240 MiB | wake/s at 240 MiB" in lines[0]
    assert lines[2].startswith("| rock5b | 10 / 20 / 30 | 3 | 0.20 | 1.00 | 0.50 | 2.00 | 0.70 | 2.00 |")


def test_the_comparison_names_each_level_where_the_monitor_is_not_below_earlyoom():
    lines = bench_monitor.cpu_comparison([contender("rock5b", 0.2, (400, 0.5), (240, 0.9)),
                                          contender("earlyoom", 0.3, (400, 0.8), (240, 0.8))])
    assert lines == ["rock5b CPU idle: 0.20 % vs earlyoom 0.30 %: below",
                     "rock5b CPU 400 MiB available: 0.50 % vs earlyoom 0.80 %: below",
                     "rock5b CPU 240 MiB available: 0.90 % vs earlyoom 0.80 %: NOT below"]
