"""/proc/meminfo and /proc/swaps parsing and the strict overcommit limit."""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import meminfo

SAMPLE = """\
MemTotal:        3995120 kB
MemAvailable:    3100000 kB
SwapTotal:       1997556 kB
CommitLimit:     3995116 kB
Committed_AS:     912340 kB
HugePages_Total:       4
Hugepagesize:       2048 kB
"""

SWAPS = """\
Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
/dev/zram0                              partition\t1997556\t\t1024\t\t100
/swapfile                               file\t\t524284\t\t0\t\t-2
"""


def test_parse_meminfo_reads_kb_and_counts():
    fields = meminfo.parse_meminfo(SAMPLE)
    assert fields["MemTotal"] == 3995120 and fields["HugePages_Total"] == 4


def test_commit_limit_leaves_out_huge_pages_and_adds_swap():
    fields = meminfo.parse_meminfo(SAMPLE)
    assert meminfo.commit_limit_kb(fields, 80) == (3995120 - 4 * 2048) * 80 // 100 + 1997556
    assert meminfo.commit_limit_kb(fields, 80, overcommit_kbytes=1000000) == 1000000 + 1997556


def test_swaps_flag_zram():
    devices = meminfo.parse_swaps(SWAPS)
    assert [(d["path"], d["zram"], d["size_kb"]) for d in devices] == [
        ("/dev/zram0", True, 1997556), ("/swapfile", False, 524284)]


def test_missing_swaps_file_means_no_swap(tmp_path):
    assert meminfo.read_swaps(str(tmp_path)) == []


def test_pick_meminfo_agrees_with_the_full_parse():
    data = SAMPLE.encode()
    names = ("MemTotal", "MemAvailable", "SwapTotal", "Committed_AS", "HugePages_Total")
    full = meminfo.parse_meminfo(SAMPLE)
    assert meminfo.pick_meminfo(data, names) == dict((name, full[name]) for name in names)


def test_pick_meminfo_leaves_out_absent_fields_and_does_not_match_prefixes():
    data = b"MemTotal:  100 kB\nSwapFree:  7 kB\nMemAvailableX:  5 kB\n"
    assert meminfo.pick_meminfo(data, ("MemAvailable", "SwapFree", "Total")) == {"SwapFree": 7}
    assert meminfo.pick_meminfo(b"MemTotal: 100 kB", ("MemTotal",)) == {"MemTotal": 100}  # no final newline
