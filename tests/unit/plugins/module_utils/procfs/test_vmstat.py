"""/proc/vmstat counters and the boot time in /proc/stat (module_utils/procfs/vmstat.py)."""

from __future__ import annotations

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import vmstat

VMSTAT = "nr_free_pages 52500\nnr_zone_inactive_anon 1234\noom_kill 2\npgfault 1\nnr_foo -3\nodd line here\n"
STAT = "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 12 0 0\nctxt 99\nbtime 1714550000\nprocesses 4242\n"


def test_parse_vmstat_reads_every_counter():
    counters = vmstat.parse_vmstat(VMSTAT)
    assert counters["oom_kill"] == 2 and counters["nr_free_pages"] == 52500 and counters["nr_foo"] == -3
    assert "odd" not in counters


def test_oom_kills_from_a_tree(tmp_path):
    (tmp_path / "vmstat").write_text(VMSTAT)
    assert vmstat.oom_kills(str(tmp_path)) == 2
    assert vmstat.read_vmstat(str(tmp_path))["pgfault"] == 1


@pytest.mark.parametrize("text", ["nr_free_pages 52500\npgfault 1\n", None])
def test_oom_kills_is_none_on_old_kernels_or_without_vmstat(tmp_path, text):
    if text is not None:
        (tmp_path / "vmstat").write_text(text)
    assert vmstat.oom_kills(str(tmp_path)) is None


def test_boot_time_from_btime(tmp_path):
    (tmp_path / "stat").write_text(STAT)
    assert vmstat.boot_time(str(tmp_path)) == 1714550000.0
    assert vmstat.parse_boot_time("processes 3\nbtime 12.5\n") == 12.5


@pytest.mark.parametrize("text", ["cpu 1 2\n", "btime\n", "btime soon\n", "", None])
def test_boot_time_none_without_a_good_btime(text):
    assert vmstat.parse_boot_time(text) is None


def test_boot_time_none_without_proc_stat(tmp_path):
    assert vmstat.boot_time(str(tmp_path)) is None
