"""The daemon's loop (rock5b_oom_monitor/loop.py) on fake /proc trees, for a few iterations."""

from __future__ import annotations

import os

from monitor_helpers import MIB, RecordingJournal, RecordingNotifier, make_config
from rock5b_oom_monitor import LOG_CRIT, LOG_ERR, LOG_WARNING
from rock5b_oom_monitor.loop import run
from rock5b_oom_monitor.readings import MemReader


def run_loop(fake_proc, iterations, **overrides):
    overrides.setdefault("poll", {"min_ms": 10, "max_ms": 100, "max_psi_ms": 100})
    overrides.setdefault("mlock", False)
    config = make_config(**overrides)
    journal, notifier = RecordingJournal(), RecordingNotifier()
    assert run(config, fake_proc.root, "/nonexistent", journal, notifier, max_iterations=iterations) == 0
    return journal, notifier


def test_loop_without_psi_says_so_once_and_reports_ready(fake_proc, tmp_path):
    journal, notifier = run_loop(fake_proc, 5, metrics={"path": str(tmp_path / "m.prom")})
    fallbacks = [r for r in journal.records if r[2].get("ROCK5B_OOM_EVENT") == "psi_mode"]
    assert len(fallbacks) == 1 and fallbacks[0][0] == LOG_WARNING and "polling" in fallbacks[0][1]
    assert notifier.sent[0].startswith("READY=1\nSTATUS=ok: ")
    assert notifier.sent[-1].startswith("STOPPING=1")
    assert "rock5b_oom_monitor_psi_trigger_active 0" in (tmp_path / "m.prom").read_text()


def test_loop_exports_zram_figures_and_reads_swaps_per_check_only_when_it_counts_swap(fake_proc, tmp_path, monkeypatch):
    """The zram figures are in the metrics either way; without count_swap, /proc/swaps is read per metrics write."""
    fake_proc.set_meminfo(total=3995120, available=3000000, swap_total=2097148, swap_free=209716)
    fake_proc.write("swaps", "Filename\tType\tSize\tUsed\tPriority\n"
                             "/dev/zram0                              partition\t2097148\t1887432\t100\n")
    reads = []
    real_swaps = MemReader.swaps
    monkeypatch.setattr(MemReader, "swaps", lambda self: reads.append(1) or real_swaps(self))
    for count_swap, expected_reads in ((True, 5), (False, 1)):  # 5 checks, one metrics write (every 15 s)
        del reads[:]
        path = tmp_path / ("m-%s.prom" % count_swap)
        run_loop(fake_proc, 5, count_swap=count_swap, metrics={"path": str(path)})
        text = path.read_text()
        assert len(reads) == expected_reads, count_swap
        assert "rock5b_oom_monitor_zram_size_bytes %d\n" % (2097148 * 1024) in text
        assert "rock5b_oom_monitor_zram_free_bytes %d\n" % (209716 * 1024) in text


def test_loop_low_memory_logs_with_fields_and_drop_caches_failure_once(fake_proc, monkeypatch):
    monkeypatch.setattr(os, "sync", lambda: None)
    fake_proc.set_meminfo(total=3995120, available=50 * MIB)
    os.chmod(os.path.join(fake_proc.root, "sys", "vm"), 0o555)  # drop_caches cannot be created: like EROFS
    try:
        journal, _notifier = run_loop(fake_proc, 4, drop_caches={"interval_s": 0})
    finally:
        os.chmod(os.path.join(fake_proc.root, "sys", "vm"), 0o755)
    critical = [r for r in journal.records if r[2].get("ROCK5B_OOM_EVENT") == "critical"]
    assert critical and critical[0][0] == LOG_CRIT
    assert critical[0][2]["ROCK5B_OOM_AVAILABLE_KB"] == 50 * MIB and "ROCK5B_OOM_TOP" not in critical[0][2]
    # The top memory users follow in their own record, right after the news.
    after = journal.records[journal.records.index(critical[0]) + 1]
    assert after[2]["ROCK5B_OOM_EVENT"] == "top" and after[2]["ROCK5B_OOM_CAUSE"] == "critical"
    assert after[0] == LOG_CRIT and "systemd[1]" in after[2]["ROCK5B_OOM_TOP"]
    failures = [r for r in journal.records if r[0] == LOG_ERR]
    assert len(failures) <= 1  # root ignores the mode bits; otherwise exactly one failure record
