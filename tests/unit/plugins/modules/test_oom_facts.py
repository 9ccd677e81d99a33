"""Behaviour of rock5b.oom.oom_facts against a fake board."""

from __future__ import annotations

import io
import json
import os
import tracemalloc

import pytest

from ansible.module_utils import basic
from ansible_collections.rock5b.oom.plugins.module_utils import kernel_log_source
from ansible_collections.rock5b.oom.plugins.modules import oom_facts
from unit_helpers import FakeProcess, fixture_reader, write

fixture = fixture_reader("")
BOOT = 1714550000  # btime of the fake board: the boot of the 6.1 journal sample
SWAPS = """\
Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
/dev/zram0                              partition\t1997556\t\t40960\t\t100
"""
MEMINFO = {
    "MemTotal": 3995120, "MemFree": 210000, "MemAvailable": 399512, "SwapTotal": 1997556,
    "SwapFree": 1956596, "CommitLimit": 3995116, "Committed_AS": 4100000,
}
# pid: (comm, oom_score, oom_score_adj, VmRSS kB, unit, kernel thread)
PROCESSES = {
    1: ("systemd", 0, 0, 11000, None, False),
    2: ("kthreadd", 0, 0, 0, None, True),
    312: ("systemd-journal", 0, -250, 20000, "systemd-journald.service", False),
    801: ("sshd", 0, -1000, 7000, "ssh.service", False),
    1877: ("ffmpeg", 712, 200, 2884012, "camera-record.service", False),
    2201: ("python3", 65, 0, 260048, "sensor-logger.service", False),
    2300: ("Isolated Web Co", 65, 0, 300000, None, False),
}


def add_process(proc, pid, comm, score, adj, rss, unit, kthread):
    base = os.path.join(proc, str(pid))
    flags = 0x00200000 if kthread else 0x00400100
    fields = ["S", "1", str(pid), str(pid), "0", "-1", str(flags)] + ["0"] * 12 + [str(1000 + pid)] + ["0"] * 20
    write(os.path.join(base, "stat"), "%d (%s) %s\n" % (pid, comm, " ".join(fields)))
    write(os.path.join(base, "cmdline"), "" if kthread else "/usr/bin/%s\0--flag\0" % comm)
    write(os.path.join(base, "cgroup"), "0::/system.slice/%s\n" % unit if unit else "0::/\n")
    write(os.path.join(base, "oom_score_adj"), "%d\n" % adj)
    write(os.path.join(base, "oom_score"), "%d\n" % score)
    write(os.path.join(base, "status"), "Name:\t%s\nVmRSS:\t%8d kB\n" % (comm, rss) if not kthread else "Name:\t%s\n" % comm)


@pytest.fixture
def board(host_fs):
    fake_host = host_fs  # hostfs.host() reads its trees: root, proc and root/sys
    proc, root = fake_host.proc, fake_host.root
    fake_host.set_meminfo(MEMINFO)
    write(os.path.join(proc, "swaps"), SWAPS)
    write(os.path.join(proc, "sys", "kernel", "osrelease"), "6.1.0-18-arm64\n")
    write(os.path.join(proc, "cmdline"), "root=/dev/mmcblk0p2 rootwait\n")
    write(os.path.join(proc, "stat"), "cpu  1 2 3 4\nbtime %d\nprocesses 4242\n" % BOOT)
    write(os.path.join(proc, "vmstat"), "nr_free_pages 52500\noom_kill 2\npgfault 1\n")
    write(os.path.join(proc, "pressure", "memory"), fixture("psi/memory-6.1"))
    write(os.path.join(proc, "self", "mountinfo"), fixture("cgroup/v2-debian12.mountinfo"))
    write(os.path.join(proc, "cgroups"), fixture("cgroup/v2-debian12.cgroups"))
    write(os.path.join(root, "sys", "fs", "cgroup", "cgroup.controllers"), fixture("cgroup/v2-debian12.controllers"))
    zram = os.path.join(root, "sys", "block", "zram0")
    write(os.path.join(zram, "disksize"), "2045497344\n")
    write(os.path.join(zram, "comp_algorithm"), "lzo lzo-rle lz4 lz4hc 842 [zstd]\n")
    write(os.path.join(zram, "mm_stat"), "41943040 10485760 11534336        0 11534336     1024        0        0        0\n")
    os.makedirs(os.path.join(root, "sys", "block", "mmcblk0"))
    for pid, spec in PROCESSES.items():
        add_process(proc, pid, *spec)
    return fake_host


class Commands:
    """Fake journalctl and dmesg: records what ran and answers from fixtures."""

    def __init__(self, monkeypatch):
        self.ran = []
        self.bins = {"journalctl": "/usr/bin/journalctl", "dmesg": "/usr/bin/dmesg"}
        self.answers = {
            "journalctl": (0, fixture("oom/journal-6.1-debian12.json"), ""),
            "dmesg --time-format iso": (0, fixture("oom/dmesg-6.12-debian13.txt"), ""),
            "dmesg": (0, fixture("oom/dmesg-5.10-rk35xx.txt"), ""),
        }
        commands = self

        def get_bin_path(module, name, required=False, opt_dirs=None):
            path = commands.bins.get(name)
            if path is None and required:
                module.fail_json(msg="Failed to find required executable %s" % name)
            return path

        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
        monkeypatch.setattr(kernel_log_source, "POPEN", self.popen)

    def popen(self, args, stdin=None, stdout=None, stderr=None, env=None):
        """kernel_log_source.POPEN: the answer's output (reversed for journalctl --reverse) as a
        finished process's stdout; a file-like answer is streamed as it is."""
        self.ran.append(list(args))
        words = [os.path.basename(args[0])] + list(args[1:])
        rc, out, err = self.answers["journalctl" if words[0] == "journalctl" else " ".join(words)]
        if isinstance(out, str):
            lines = out.splitlines(True)
            out = io.BytesIO("".join(reversed(lines) if "--reverse" in args else lines).encode())
        stderr.write(err.encode())
        return FakeProcess(rc, out)


@pytest.fixture
def commands(monkeypatch):
    return Commands(monkeypatch)


@pytest.fixture
def run(run_module, commands):
    def call(check_mode=False, **args):
        result = run_module(oom_facts, args, check_mode=check_mode)
        if not result.get("failed"):
            assert result["changed"] is False
            return result["ansible_facts"]["rock5b_oom"], result
        return None, result
    return call


def journald(board):
    os.makedirs(board.path("/run/systemd/journal"), exist_ok=True)


def test_memory_swap_zram_cgroup_psi_vmstat(board, run):
    facts, _result = run(log_source="none")
    assert facts["kernel"] == {"release": "6.1.0-18-arm64"}
    assert facts["memory"] == {
        "mem_total_kb": 3995120, "mem_free_kb": 210000, "mem_available_kb": 399512,
        "committed_as_kb": 4100000, "commit_limit_kb": 3995116, "swap_total_kb": 1997556,
        "swap_free_kb": 1956596, "mem_available_percent": 10.0,
    }
    assert facts["swap"][0]["path"] == "/dev/zram0" and facts["swap"][0]["zram"] is True
    assert facts["zram"] == [{
        "device": "zram0", "disksize_kb": 1997556, "comp_algorithm": "zstd", "orig_data_kb": 40960,
        "compr_data_kb": 10240, "mem_used_kb": 11264, "used_as_swap": True,
    }]
    assert facts["cgroup"]["version"] == "v2" and facts["cgroup"]["memory"]["available"] is True
    assert facts["psi"]["available"] is True and facts["psi"]["memory"]["full"]["avg10"] == 17.52
    assert facts["vmstat"] == {"oom_kill": 2}
    assert facts["oom_events"] == [] and facts["oom_log"]["source"] == "none"


def test_top_processes_by_oom_score(board, run):
    facts, _result = run(log_source="none", top_n=3)
    top = facts["top_processes"]
    assert [row["pid"] for row in top] == [1877, 2300, 2201]
    assert top[0] == {"pid": 1877, "comm": "ffmpeg", "oom_score": 712, "oom_score_adj": 200,
                      "rss_kb": 2884012, "unit": "camera-record.service"}
    assert top[1]["comm"] == "Isolated Web Co" and top[1]["unit"] is None


def test_top_n_zero_and_kernel_threads_left_out(board, run):
    facts, _result = run(log_source="none", top_n=0)
    assert facts["top_processes"] == []
    facts, _result = run(log_source="none", top_n=50)
    assert 2 not in [row["pid"] for row in facts["top_processes"]]
    assert len(facts["top_processes"]) == len(PROCESSES) - 1


def test_journal_events_this_boot(board, run, commands):
    journald(board)
    facts, _result = run()
    assert commands.ran == [["/usr/bin/journalctl", "--no-pager", "--quiet", "--output=json",
                             "--output-fields=MESSAGE,_BOOT_ID", "--reverse", "--dmesg"]]
    assert facts["oom_log"] == {"source": "journal", "since": "2024-05-01T07:53:20+00:00", "error": None, "events": 2,
                                "events_total": 2, "truncated": False, "max_events": 50, "max_bytes": 16 << 20,
                                "bytes_read": len(fixture("oom/journal-6.1-debian12.json"))}
    first, second = facts["oom_events"]
    assert first["victim"]["comm"] == "ffmpeg" and first["invoker"]["comm"] == "systemd-journal"
    assert second["memcg"] is True and second["oom_memcg"] == "/system.slice/sensor-logger.service"


def test_journal_since_filters_and_spans_boots(board, run, commands):
    journald(board)
    facts, _result = run(since="@1714555000", log_source="journal")
    assert commands.ran[0][-2:] == ["_TRANSPORT=kernel", "--since=@1714555000"]
    assert [event["victim"]["pid"] for event in facts["oom_events"]] == [2201]


def test_auto_without_journald_reads_dmesg_iso(board, run, commands):
    facts, _result = run(since="all")
    assert commands.ran == [["/usr/bin/dmesg", "--time-format", "iso"]]
    assert facts["oom_log"]["source"] == "dmesg" and facts["oom_log"]["since"] is None
    assert [event["victim"]["comm"] for event in facts["oom_events"]] == ["gst-launch-1.0", "recorder", "Isolated Web Co"]
    assert facts["oom_events"][0]["group_kill"] is True


def test_busybox_dmesg_falls_back_to_raw_times_from_btime(board, run, commands):
    commands.answers["dmesg --time-format iso"] = (1, "", "dmesg: unrecognized option '--time-format'")
    facts, _result = run(since="boot", log_source="dmesg")
    assert commands.ran[-1] == ["/usr/bin/dmesg"]
    events = facts["oom_events"]
    assert len(events) == 2 and events[0]["timestamp"] == pytest.approx(BOOT + 8123.457617)


def test_journal_failure_falls_back_to_dmesg_with_a_warning(board, run, commands):
    journald(board)
    commands.answers["journalctl"] = (1, "", "Failed to parse --output-fields")
    facts, result = run(since="all")
    assert facts["oom_log"]["source"] == "dmesg" and len(facts["oom_events"]) == 3
    assert any("reading dmesg instead" in warning for warning in result["warnings"])


def test_dmesg_restricted_leaves_events_out_with_a_warning(board, run, commands):
    denied = (1, "", "dmesg: read kernel buffer failed: Operation not permitted")
    commands.answers["dmesg --time-format iso"] = denied
    commands.answers["dmesg"] = denied
    facts, result = run()
    assert facts["oom_events"] == [] and "dmesg_restrict" in facts["oom_log"]["error"]
    assert any("use become" in warning for warning in result["warnings"])


def test_journal_requested_but_not_installed(board, run, commands):
    del commands.bins["journalctl"]
    _facts, result = run(log_source="journal")
    assert result["failed"] and "journalctl is not installed" in result["msg"]


def test_bad_since_fails(board, run):
    _facts, result = run(since="last tuesday")
    assert result["failed"] and result["msg"].startswith("since: ")


def test_negative_top_n_fails(board, run):
    _facts, result = run(top_n=-1)
    assert result["failed"] and "top_n" in result["msg"]


def test_psi_disabled_and_no_zram(board, run):
    os.remove(os.path.join(board.proc, "pressure", "memory"))
    os.rmdir(os.path.join(board.proc, "pressure"))
    write(os.path.join(board.proc, "cmdline"), "psi=0\n")
    write(os.path.join(board.proc, "swaps"), SWAPS.splitlines()[0] + "\n")
    facts, _result = run(log_source="none")
    assert facts["psi"]["available"] is False and facts["psi"]["state"] == "disabled"
    assert facts["psi"]["memory"] is None and "psi=1" in facts["psi"]["hint"]
    assert facts["swap"] == [] and facts["zram"][0]["used_as_swap"] is False


def test_check_mode_changes_nothing(board, run, commands):
    journald(board)
    before = board.snapshot()
    facts, _result = run(check_mode=True)
    assert facts["oom_log"]["events"] == 2
    assert board.snapshot() == before


@pytest.mark.parametrize("value", [99999999999999, "@99999999999999", "-99999999999999d", -5, float("nan"), True, False, 1e300])
def test_since_out_of_range_negative_nan_or_bool_fails_naming_since(board, run, commands, value):
    journald(board)
    _facts, result = run(since=value)
    assert result["failed"] and result["msg"].startswith("since: ")
    assert commands.ran == []


@pytest.mark.parametrize("path", ["../etc/rock5b-oom/monitor.json", "monitor.json", "/etc/rock5b-oom/../x.json", ""])
def test_a_monitor_config_that_is_not_an_absolute_path_fails_before_anything_is_read(board, run, commands, path):
    journald(board)
    _facts, result = run(monitor_config=path)
    assert result["failed"] and result["msg"].startswith("monitor_config must be an absolute path"), result
    assert commands.ran == []


class SyntheticJournal:
    """``journalctl -o json --reverse`` output of ``blocks`` blocks of 50 kernel lines, newest
    first, made line by line as it is read (the test holds no journal in memory): each block is
    one OOM report (header, CPU, summary, kill, reaper: victim pid 10000 + block, a minute
    apart) and 45 lines of noise."""

    LINES_PER_BLOCK = 50

    def __init__(self, blocks):
        self.lines = self._lines(blocks)

    @staticmethod
    def _report(index):
        pid, comm = 10000 + index, "worker %d (x)" % index
        return [
            "%s invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0" % comm,
            "CPU: 3 PID: %d Comm: %s Not tainted 6.1.0-18-arm64 #1 Debian 6.1.76-1" % (pid, comm),
            "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
            "task_memcg=/system.slice/worker.service,task=%s,pid=%d,uid=0" % (comm, pid),
            "Out of memory: Killed process %d (%s) total-vm:1000kB, anon-rss:500kB, file-rss:4kB, shmem-rss:0kB, "
            "UID:0 pgtables:100kB oom_score_adj:0" % (pid, comm),
            "oom_reaper: reaped process %d (%s), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB" % (pid, comm),
        ]

    def _lines(self, blocks):
        entry = '{"__REALTIME_TIMESTAMP":"%d","_BOOT_ID":"6c3e1f0a9b8d4e2f8a7b6c5d4e3f2a1b","MESSAGE":%s}\n'
        noise = [(entry % (BOOT * 1000000, json.dumps("usb 1-1: new high-speed USB device number %d using xhci-hcd" % line))).encode()
                 for line in range(self.LINES_PER_BLOCK - 5)]
        for index in reversed(range(blocks)):
            yield from noise
            start = (BOOT + 100 + index * 60) * 1000000
            for offset, message in reversed(list(enumerate(self._report(index)))):
                yield (entry % (start + offset * 1000, json.dumps(message))).encode()

    def readline(self, _limit=-1):
        return next(self.lines, b"")

    def close(self):
        self.lines.close()


def run_bounded(run, commands, blocks, **args):
    commands.answers["journalctl"] = (0, SyntheticJournal(blocks), "")
    tracemalloc.start()
    try:
        facts, result = run(log_source="journal", **args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return facts, result, peak


def test_a_huge_journal_gives_bounded_facts_with_the_newest_events(board, run, commands):
    # 200k lines, about 37 MB: more than the default max_bytes (16 MiB), read newest first.
    facts, result, peak = run_bounded(run, commands, 4000)
    log = facts["oom_log"]
    assert log["truncated"] is True and log["bytes_read"] <= 16 << 20 and log["bytes_read"] > (16 << 20) - 4096
    assert log["events"] == 50 and 50 < log["events_total"] < 4000
    pids = [event["victim"]["pid"] for event in facts["oom_events"]]
    assert pids == list(range(10000 + 3950, 10000 + 4000))  # the newest 50, oldest first
    newest = facts["oom_events"][-1]
    assert newest["invoker"]["pid"] == 13999 and newest["constraint"] == "CONSTRAINT_NONE"
    assert newest["victim"]["comm"] == "worker 3999 (x)" and newest["reaped"]["anon_rss_kb"] == 0
    assert any("max_bytes" in warning and "the newest" in warning for warning in result["warnings"])
    assert len(json.dumps(facts["oom_events"])) < 100000
    assert peak < 8 << 20  # the old module held the whole output, its lines and every event: 398 MB for 99 MB


def test_a_whole_large_journal_read_to_the_end_keeps_max_events_and_counts_all(board, run, commands):
    facts, result, peak = run_bounded(run, commands, 1000, max_events=5, max_bytes=1 << 30)
    log = facts["oom_log"]
    assert (log["truncated"], log["events"], log["events_total"]) == (True, 5, 1000)
    assert [event["victim"]["pid"] for event in facts["oom_events"]] == list(range(10995, 11000))
    assert not any("max_bytes" in warning for warning in result["warnings"])
    assert peak < 8 << 20


@pytest.mark.parametrize("args, message", [
    ({"max_events": -1}, "max_events must be between 0 and 10000, got -1"),
    ({"max_events": 10001}, "max_events must be between 0 and 10000, got 10001"),
    ({"max_events": True}, "max_events must be a number, got True"),
    ({"max_bytes": 0}, "max_bytes must be between 4096 and 1073741824, got 0"),
    ({"max_bytes": 1 << 40}, "max_bytes must be between 4096 and 1073741824, got 1099511627776"),
    ({"max_bytes": False}, "max_bytes must be a number, got False"),
    ({"top_n": True}, "top_n must be a number, got True"),
])
def test_bad_caps_fail_naming_the_option_before_reading_anything(board, run, commands, args, message):
    journald(board)
    _facts, result = run(**args)
    assert result["failed"] and result["msg"] == message and commands.ran == []


METRICS = """\
# HELP rock5b_oom_monitor_threshold_bytes The resolved thresholds.
# TYPE rock5b_oom_monitor_threshold_bytes gauge
rock5b_oom_monitor_threshold_bytes{level="warn"} 209715200
rock5b_oom_monitor_threshold_bytes{level="critical"} 104857600
rock5b_oom_monitor_threshold_bytes{level="kill"} 104857600
rock5b_oom_monitor_level 1
rock5b_oom_monitor_actions_total{action="drop_caches",result="ok"} 3
rock5b_oom_monitor_actions_total{action="drop_caches",result="failed"} 0
rock5b_oom_monitor_last_action_timestamp_seconds{action="critical",target=""} 1765000000.000
rock5b_oom_monitor_last_action_timestamp_seconds{action="kill",target="we\\"ird} (pid 77)"} 1765000060.500
rock5b_oom_monitor_last_action_timestamp_seconds{action="drop_caches",target=""} 1765000030.000
"""


def monitor_board(board, metrics_path="/run/rock5b.prom"):
    """The monitor (python3 in its unit), earlyoom, its config naming ``metrics_path`` and the textfile."""
    add_process(board.proc, 900, "python3", 0, -1000, 9000, "rock5b-oom-monitor.service", False)
    add_process(board.proc, 901, "earlyoom", 0, -100, 2000, "earlyoom.service", False)
    board.write("/etc/rock5b-oom/monitor.json", json.dumps({"warn": "200M", "metrics": {"path": metrics_path}}))
    board.write(metrics_path, METRICS)


def systemctl_answers(monkeypatch, commands, show):
    """systemctl installed; ``systemctl show`` answers ``show`` (rc, out)."""
    commands.bins["systemctl"] = "/usr/bin/systemctl"
    ran = []

    def run_command(module, args, **kwargs):
        ran.append(list(args))
        assert args[:2] == ["systemctl", "show"] and args[-2:] == ["--", "rock5b-oom-monitor.service"]
        return show[0], show[1], "" if show[0] == 0 else "Failed to connect to bus"

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    return ran


def test_no_userspace_killer_and_no_monitor(board, run):
    facts, _result = run(log_source="none")
    assert facts["killers"] == []
    assert facts["monitor"] == {"unit": "rock5b-oom-monitor.service", "state": "absent", "level": None, "status": None,
                                "actions": {}, "last_action": None, "warn_bytes": None, "critical_bytes": None,
                                "metrics_path": None}


def test_active_monitor_level_thresholds_and_killers(board, run, commands, monkeypatch):
    monitor_board(board)
    ran = systemctl_answers(monkeypatch, commands, (0, "LoadState=loaded\nActiveState=active\n"
                                                       "StatusText=warn: 180.0 MiB available, PSI trigger armed\n"))
    facts, _result = run(log_source="none")
    assert len(ran) == 1
    assert facts["killers"] == ["rock5b-oom-monitor", "earlyoom"]
    monitor = facts["monitor"]
    assert (monitor["state"], monitor["level"]) == ("active", "warn")
    assert (monitor["warn_bytes"], monitor["critical_bytes"]) == (209715200, 104857600)
    assert monitor["metrics_path"] == "/run/rock5b.prom"
    assert monitor["status"] == "warn: 180.0 MiB available, PSI trigger armed" and monitor["actions"] == {"drop_caches ok": 3}
    # the latest of the monitor's actions, its target unescaped
    assert monitor["last_action"] == {"action": "kill", "target": 'we"ird} (pid 77)', "time": 1765000060.5}


def test_failed_monitor_has_no_level_but_its_thresholds(board, run, commands, monkeypatch):
    monitor_board(board)
    systemctl_answers(monkeypatch, commands, (0, "LoadState=loaded\nActiveState=failed\nStatusText=\n"))
    facts, _result = run(log_source="none", monitor_config="/etc/rock5b-oom/monitor.json")
    assert facts["monitor"]["state"] == "failed" and facts["monitor"]["level"] is None
    assert facts["monitor"]["warn_bytes"] == 209715200


def test_without_systemd_the_monitor_state_comes_from_proc(board, run, commands, monkeypatch):
    monitor_board(board)
    systemctl_answers(monkeypatch, commands, (1, ""))
    facts, _result = run(log_source="none")
    # systemctl failed: the unit's process runs, so it is active; the level is the textfile's.
    assert facts["monitor"]["state"] == "active" and facts["monitor"]["level"] == "warn"
    assert facts["monitor"]["status"] is None


def test_monitor_installed_but_stopped_without_systemctl(board, run):
    board.write("/etc/systemd/system/rock5b-oom-monitor.service", "[Service]\nExecStart=/bin/true\n")
    facts, _result = run(log_source="none", monitor_config="/nonexistent/monitor.json")
    assert facts["monitor"]["state"] == "inactive" and facts["monitor"]["metrics_path"] is None


def test_earlyoom_arguments_and_no_config_for_killers_that_do_not_run(board, run):
    add_process(board.proc, 901, "earlyoom", 0, -100, 2000, "earlyoom.service", False)
    write(os.path.join(board.proc, "901", "cmdline"), "/usr/bin/earlyoom\0-m\x005,2\0--prefer\0(^|/)chromium$\0")
    facts, _result = run(log_source="none")
    assert facts["killers"] == ["earlyoom"]
    assert list(facts["killer_config"]) == ["earlyoom"]
    earlyoom = facts["killer_config"]["earlyoom"]
    assert earlyoom["args"] == ["-m", "5,2", "--prefer", "(^|/)chromium$"]
    assert (earlyoom["mem_term_percent"], earlyoom["mem_kill_percent"]) == (5, 2)
    assert earlyoom["prefer"] == "(^|/)chromium$" and earlyoom["avoid"] is None


def test_systemd_oomd_configuration_as_it_reads_it(board, run):
    add_process(board.proc, 300, "systemd-oomd", 0, 0, 4000, "systemd-oomd.service", False)
    board.write("/etc/systemd/oomd.conf", "[OOM]\nDefaultMemoryPressureDurationSec=10s\n")
    facts, _result = run(log_source="none")
    assert facts["killers"] == ["systemd-oomd"]
    oomd = facts["killer_config"]["systemd-oomd"]
    assert oomd["settings"] == {"SwapUsedLimit": "90%", "DefaultMemoryPressureLimit": "60%",
                                "DefaultMemoryPressureDurationSec": "10s"}
    assert oomd["files"] == ["/etc/systemd/oomd.conf"] and oomd["managed_units"] == {}


def test_lru_gen_present_or_absent(board, run):
    facts, _result = run(log_source="none")
    assert facts["lru_gen"] == {"present": False, "enabled": None, "enabled_mask": None, "min_ttl_ms": None}
    lru = os.path.join(board.root, "sys", "kernel", "mm", "lru_gen")
    write(os.path.join(lru, "enabled"), "0x0007\n")
    write(os.path.join(lru, "min_ttl_ms"), "1000\n")
    facts, _result = run(log_source="none")
    assert facts["lru_gen"] == {"present": True, "enabled": True, "enabled_mask": "0x0007", "min_ttl_ms": 1000}
