"""Sizes in /proc/<pid>/status (module_utils/procfs/status.py)."""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import status

STATUS = """\
Name:\tffmpeg
Umask:\t0022
State:\tS (sleeping)
Pid:\t1877
VmPeak:\t 3100000 kB
VmHWM:\t 2900000 kB
VmRSS:\t 2884012 kB
RssAnon:\t 2800000 kB
VmSwap:\t   40960 kB
Threads:\t8
CapEff:\t0000000000000000
"""


def test_parse_status_kb_reads_the_sizes_only():
    sizes = status.parse_status_kb(STATUS)
    assert sizes == {"VmPeak": 3100000, "VmHWM": 2900000, "VmRSS": 2884012, "RssAnon": 2800000, "VmSwap": 40960}


def test_read_status_kb_from_a_tree(tmp_path):
    (tmp_path / "1877").mkdir()
    (tmp_path / "1877" / "status").write_text(STATUS)
    assert status.read_status_kb(str(tmp_path), 1877)["VmRSS"] == 2884012


def test_kernel_thread_and_gone_process_have_no_sizes(tmp_path):
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "status").write_text("Name:\tkthreadd\nThreads:\t1\n")
    assert status.read_status_kb(str(tmp_path), 2) == {}
    assert status.read_status_kb(str(tmp_path), 99999) == {}
