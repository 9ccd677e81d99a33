"""Readings (rock5b_oom_monitor/readings.py and the procfs functions it uses): swap and zram
accounting, the kept-open /proc/meminfo and /proc/swaps, the process table and top users."""

from __future__ import annotations

import os

from monitor_helpers import MIB, TOTAL, make_config
from procfs import processes
from rock5b_oom_monitor import fmt_kb, readings
from rock5b_oom_monitor.decisions import choose_victim, compile_protect
from rock5b_oom_monitor.readings import MemReader, effective_available, top_users


def test_swap_counted_and_zram_weighted():
    info = {"MemTotal": TOTAL, "MemAvailable": 100 * MIB, "SwapTotal": 3 * 1024 * MIB, "SwapFree": 2 * 1024 * MIB}
    swaps = [{"path": "/dev/zram0", "size_kb": 2048 * MIB, "used_kb": 1024 * MIB, "zram": True, "type": "partition",
              "priority": 100},
             {"path": "/swapfile", "size_kb": 1024 * MIB, "used_kb": 0, "zram": False, "type": "file", "priority": -2}]
    figures = effective_available(info, swaps, count_swap=True, zram_weight=0.5)
    assert figures["effective"] == 100 * MIB + 1024 * MIB + 512 * MIB
    assert figures["swap_free"] == 2048 * MIB and figures["zram_free"] == 1024 * MIB
    assert figures["zram_size"] == 2048 * MIB and figures["swap_total"] == 3 * 1024 * MIB  # the disk swap is not zram
    assert effective_available(info, swaps, count_swap=False)["effective"] == 100 * MIB


def test_memavailable_missing_falls_back_to_free_plus_cache():
    figures = effective_available({"MemTotal": 1000, "MemFree": 100, "Cached": 50, "Buffers": 5}, [], False)
    assert figures["effective"] == 155


def test_reader_counts_zram_through_the_kept_open_swaps_file(fake_proc):
    fake_proc.set_meminfo(total=3995120, available=150 * MIB, swap_total=2 * 1024 * MIB, swap_free=2 * 1024 * MIB)
    fake_proc.write("swaps", "Filename\tType\tSize\tUsed\tPriority\n"
                             "/dev/zram0                              partition\t2097148\t1048576\t100\n")
    reader = MemReader(fake_proc.root)
    first = reader.reading(count_swap=True, zram_weight=0.5)
    assert first["zram_free"] == 2097148 - 1048576
    assert first["effective"] == 150 * MIB + (2097148 - 1048576) // 2
    fake_proc.write("swaps", "Filename\tType\tSize\tUsed\tPriority\n"
                             "/dev/zram0                              partition\t2097148\t2097148\t100\n")
    # A regular file stands in for the seq_file: pread at 0 sees the new content.
    assert reader.reading(count_swap=True, zram_weight=0.5)["zram_free"] == 0
    assert reader.reading(count_swap=False, zram_weight=0.5)["effective"] == 150 * MIB


ZRAM_SWAPS = ("Filename\tType\tSize\tUsed\tPriority\n"
              "/dev/zram0                              partition\t2097148\t1887436\t100\n"
              "/swapfile                               file\t\t1048572\t0\t-2\n")


def test_zram_figures_without_counted_swap_are_read_only_when_asked(fake_proc, monkeypatch):
    """count_swap false: checks never read /proc/swaps (zram 0); with_zram() reads it once, for the metrics."""
    fake_proc.set_meminfo(total=3995120, available=150 * MIB, swap_total=3145720, swap_free=1258284)
    fake_proc.write("swaps", ZRAM_SWAPS)
    reader = MemReader(fake_proc.root)
    calls = []
    real_swaps = reader.swaps
    monkeypatch.setattr(reader, "swaps", lambda: calls.append(1) or real_swaps())
    reading = reader.reading(count_swap=False, zram_weight=0.5)
    assert calls == [] and reading["zram_free"] == reading["zram_size"] == 0 and reading["swap_free"] == 1258284
    full = reader.with_zram(reading, count_swap=False)
    assert calls == [1]
    assert full["zram_size"] == 2097148 and full["zram_free"] == 2097148 - 1887436
    assert full["effective"] == reading["effective"] == 150 * MIB and full["swap_free"] == 1258284
    # Counted swap: the check read /proc/swaps already, with_zram() adds nothing and reads nothing.
    counted = reader.reading(count_swap=True, zram_weight=0.5)
    assert calls == [1, 1] and counted["zram_size"] == 2097148
    assert reader.with_zram(counted, count_swap=True) is counted and calls == [1, 1]
    # No swap at all: nothing to read either way.
    fake_proc.set_meminfo(total=3995120, available=150 * MIB)
    fake_proc.write("swaps", "Filename\tType\tSize\tUsed\tPriority\n")
    for count_swap in (True, False):
        bare = reader.with_zram(reader.reading(count_swap=count_swap, zram_weight=0.5), count_swap)
        assert bare["zram_size"] == bare["zram_free"] == 0
    assert calls == [1, 1]


def test_zram_figures_of_disk_swap_only_are_0():
    swaps = [{"path": "/swapfile", "size_kb": 1024, "used_kb": 1000, "zram": False, "type": "file", "priority": -2}]
    assert readings.zram_figures(swaps) == {"zram_free": 0, "zram_size": 0}
    assert effective_available({"MemAvailable": 10, "SwapTotal": 1024}, swaps)["zram_size"] == 0


def test_process_table_and_victim_from_a_fake_proc(fake_proc):
    fake_proc.add_process(300, "sshd", cgroup="0::/system.slice/ssh.service\n", adj=-1000, rss_pages=50000)
    fake_proc.add_process(400, "postgres", cgroup="0::/system.slice/postgresql.service\n", adj=-1000, rss_pages=90000)
    fake_proc.add_process(500, "chromium", rss_pages=200000, oom_score=700)
    fake_proc.add_process(501, "node", rss_pages=100000, oom_score=800)
    fake_proc.add_process(502, "python3", cgroup="0::/system.slice/rock5b-oom-monitor.service\n", rss_pages=900000)
    table = processes.list_resident_processes(fake_proc.root)
    assert {p["pid"] for p in table} == {1, 300, 400, 500, 501, 502}
    rss = dict((p["pid"], p["rss_kb"]) for p in table)
    assert rss[500] == 200000 * (os.sysconf("SC_PAGE_SIZE") // 1024)
    protect = compile_protect(make_config()["protect"])
    assert choose_victim(table, protect, os.getpid())["pid"] == 501
    assert "chromium[500]" in top_users(table, 2)


def test_top_memory_users_reads_details_of_the_largest_only(fake_proc, monkeypatch):
    fake_proc.add_process(500, "chromium", rss_pages=200000, adj=300)
    fake_proc.add_process(501, "node", rss_pages=100000)
    fake_proc.add_process(502, "tiny", rss_pages=10)
    fake_proc.add_process(503, "kworker/0:1", rss_pages=0, flags=0x00208040)  # no resident memory
    opened = []
    real_open, real_os_open = open, os.open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    def os_spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_os_open(path, *args, **kwargs)

    # Files are read with open() or os.open(): both are watched.
    monkeypatch.setattr("builtins.open", spy)
    monkeypatch.setattr(os, "open", os_spy)
    text = readings.top_memory_users(fake_proc.root, 2)
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    assert text == "chromium[500] %s adj=300; node[501] %s adj=0" % (
        fmt_kb(200000 * page_kb), fmt_kb(100000 * page_kb))
    assert [path for path in opened if path.endswith(("/500/comm", "/501/comm"))]  # the spies see the reads
    assert not [path for path in opened if path.endswith(("/502/comm", "/503/comm", "/1/comm"))]
