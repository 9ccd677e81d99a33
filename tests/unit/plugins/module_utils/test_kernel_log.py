"""OOM reports in kernel logs of three kernel eras (module_utils/kernel_log.py)."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import kernel_log, log_since

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "oom")
BOOT_5_10 = 1700000000.0  # btime the 5.10 sample's raw dmesg times are added to
BOOT_6_1 = 1714550000.0  # 2024-05-01T07:53:20Z, the boot of the 6.1 journal sample


def lines(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return [line.rstrip("\n") for line in handle if not line.startswith("#")]


def events_5_10(since=None):
    return kernel_log.parse_oom_events(kernel_log.dmesg_records(lines("dmesg-5.10-rk35xx.txt"), BOOT_5_10), since)


def events_6_1(since=None):
    return kernel_log.parse_oom_events(kernel_log.journal_records(lines("journal-6.1-debian12.json")), since)


def events_6_12(since=None):
    return kernel_log.parse_oom_events(kernel_log.dmesg_records(lines("dmesg-6.12-debian13.txt")), since)


def test_5_10_global_oom():
    first = events_5_10()[0]
    assert first["kind"] == "global" and first["memcg"] is False
    assert first["message"] == "Out of memory"
    assert first["constraint"] == "CONSTRAINT_NONE" and first["nodemask"] == "(null)"
    assert first["cpuset"] == "/" and first["mems_allowed"] == "0"
    assert first["oom_memcg"] is None
    assert first["task_memcg"] == "/user.slice/user-1000.slice/session-3.scope"
    assert first["victim"] == {
        "pid": 1234, "comm": "myapp", "uid": 1000, "total_vm_kb": 4004936, "anon_rss_kb": 3740048,
        "file_rss_kb": 0, "shmem_rss_kb": 0, "pgtables_kb": 7400, "oom_score_adj": 0,
    }
    assert first["invoker"] == {
        "comm": "myapp", "pid": 1234, "uid": None, "gfp_mask": "0x100cca",
        "gfp_flags": "GFP_HIGHUSER_MOVABLE", "order": 0, "oom_score_adj": 0,
    }
    assert first["reaped"] == {"anon_rss_kb": 0, "file_rss_kb": 0, "shmem_rss_kb": 0}
    assert first["timestamp"] == pytest.approx(BOOT_5_10 + 8123.457617)
    assert first["time"].endswith("+00:00")


def test_5_10_memcg_oom_on_cgroup_v1():
    events = events_5_10()
    assert len(events) == 2
    memcg = events[1]
    assert memcg["kind"] == "memcg" and memcg["memcg"] is True
    assert memcg["message"] == "Memory cgroup out of memory"
    assert memcg["constraint"] == "CONSTRAINT_MEMCG"
    assert memcg["oom_memcg"].startswith("/docker/3f1c9e0a") and memcg["task_memcg"] == memcg["oom_memcg"]
    assert (memcg["memcg_usage_kb"], memcg["memcg_limit_kb"], memcg["memcg_failcnt"]) == (524288, 524288, 1046)
    assert memcg["victim"]["comm"] == "node" and memcg["victim"]["anon_rss_kb"] == 516040
    assert memcg["invoker"]["gfp_flags"] == "GFP_KERNEL"


def test_6_1_journal_events_and_boot_id():
    events = events_6_1()
    assert [event["kind"] for event in events] == ["global", "memcg"]
    first, second = events
    assert first["boot_id"] == "6c3e1f0a9b8d4e2f8a7b6c5d4e3f2a1b"
    # The task that asked for memory is not the one killed.
    assert first["invoker"]["comm"] == "systemd-journal" and first["invoker"]["oom_score_adj"] == -250
    assert first["invoker"]["pid"] == 312
    assert first["victim"]["comm"] == "ffmpeg" and first["victim"]["oom_score_adj"] == 200
    assert first["time"] == "2024-05-01T08:53:20.500512+00:00"
    assert second["oom_memcg"] == "/system.slice/sensor-logger.service"
    assert second["victim"]["uid"] == 998 and second["reaped"] is None
    assert second["memcg_limit_kb"] == 262144


def test_6_1_since_filter():
    events = events_6_1(since=datetime.datetime(2024, 5, 1, 9, 30, tzinfo=datetime.timezone.utc).timestamp())
    assert [event["victim"]["comm"] for event in events] == ["python3"]
    assert events_6_1(since=BOOT_6_1 + 10 * 3600) == []


def test_journal_non_utf8_message_is_decoded_not_fatal():
    records = list(kernel_log.journal_records(lines("journal-6.1-debian12.json")))
    assert any("string descriptor" in message and "\ufffd" in message for _t, message, _b in records)


def test_journal_skips_junk_lines():
    assert list(kernel_log.journal_records(["", "not json", "[1, 2]", '{"PRIORITY": "6"}'])) == []


def test_6_12_group_kill_and_new_formats():
    events = events_6_12()
    assert len(events) == 3
    gst, recorder, firefox = events
    for event in (gst, recorder):
        assert event["kind"] == "memcg" and event["group_kill"] is True
        assert event["oom_memcg"] == "/system.slice/camera.service"
    assert gst["victim"]["comm"] == "gst-launch-1.0" and recorder["victim"]["comm"] == "recorder"
    # 6.11+ prints the uid on the CPU line.
    assert gst["invoker"]["uid"] == 1001 and gst["invoker"]["pid"] == 3101
    assert gst["reaped"] is not None and recorder["reaped"] is None
    assert gst["time"] == "2025-09-14T01:12:45.120903+00:00"
    assert firefox["kind"] == "global" and firefox["group_kill"] is False
    assert firefox["victim"]["comm"] == "Isolated Web Co"
    assert firefox["victim"]["shmem_rss_kb"] == 12000 and firefox["reaped"]["shmem_rss_kb"] == 12000
    assert firefox["task_memcg"].endswith("app-firefox\\x2desr-5120.scope")


def test_6_12_since_filter_with_offsets():
    since = log_since.parse_since("2025-09-14T12:00:00+02:00")
    assert [event["victim"]["pid"] for event in events_6_12(since)] == [5388]


def test_raw_dmesg_without_boot_time_keeps_events_when_filtering():
    records = list(kernel_log.dmesg_records(lines("dmesg-5.10-rk35xx.txt")))
    assert all(timestamp is None for timestamp, _m, _b in records)
    assert len(kernel_log.parse_oom_events(records, since=2e9)) == 2


def test_kill_line_without_header_is_an_event():
    # dump_header (and the oom-kill summary) is rate limited; the kill line is not.
    events = kernel_log.parse_oom_events([
        (100.0, "Out of memory: Killed process 77 (stress-ng-vm) total-vm:2628942kB, anon-rss:1995157kB, "
                "file-rss:141kB, shmem-rss:0kB, UID:0 pgtables:15676kB oom_score_adj:1000"),
    ])
    assert events[0]["invoker"] is None and events[0]["constraint"] is None
    assert events[0]["victim"]["oom_score_adj"] == 1000 and events[0]["kind"] == "global"


def test_stale_header_does_not_leak_into_a_later_kill():
    events = kernel_log.parse_oom_events([
        (100.0, "a invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"),
        (100.1, "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
                "oom_memcg=/a.service,task_memcg=/a.service,task=a,pid=5,uid=0"),
        (100.2, "Memory cgroup out of memory: Killed process 5 (a) total-vm:10kB, anon-rss:1kB, file-rss:0kB, "
                "shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0"),
        (500.0, "Out of memory: Killed process 6 (b) total-vm:10kB, anon-rss:1kB, file-rss:0kB, "
                "shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0"),
    ])
    assert events[0]["memcg"] and events[0]["invoker"]["comm"] == "a"
    assert not events[1]["memcg"] and events[1]["invoker"] is None and events[1]["oom_memcg"] is None


def test_old_kernel_kill_line_without_uid_and_pgtables():
    # Linux 4.14-4.18: the header carries nodemask=, the kill line ends after shmem-rss.
    events = kernel_log.parse_oom_events([
        "Xorg invoked oom-killer: gfp_mask=0x14200ca(GFP_HIGHUSER_MOVABLE), nodemask=(null), order=0, oom_score_adj=0",
        "Killed process 999 (chromium) total-vm:2048000kB, anon-rss:1024000kB, file-rss:512kB, shmem-rss:128kB",
    ])
    victim = events[0]["victim"]
    assert victim["pid"] == 999 and victim["uid"] is None and victim["pgtables_kb"] is None
    assert victim["oom_score_adj"] is None and events[0]["message"] is None
    assert events[0]["invoker"]["comm"] == "Xorg"


def test_comm_with_parentheses():
    events = kernel_log.parse_oom_events([
        "Out of memory: Killed process 812 ((sd-pam)) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, "
        "UID:1000 pgtables:4kB oom_score_adj:100",
    ])
    assert events[0]["victim"]["comm"] == "(sd-pam)"


def test_no_killable_process():
    events = kernel_log.parse_oom_events([
        (10.0, "sh invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-1000"),
        (10.1, "Out of memory and no killable processes..."),
    ])
    assert events[0]["victim"] is None and events[0]["invoker"]["comm"] == "sh"
    assert events[0]["message"] == "Out of memory and no killable processes"


def test_syslog_lines_are_understood():
    records = list(kernel_log.dmesg_records([
        "May  1 10:00:00 rock5b-07 kernel: [ 8123.457617] Out of memory: Killed process 1234 (myapp) "
        "total-vm:4004936kB, anon-rss:3740048kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:7400kB oom_score_adj:0",
    ]))
    assert kernel_log.parse_oom_events(records)[0]["victim"]["pid"] == 1234


@pytest.mark.parametrize("value, expected", [
    ("boot", 1000.0),
    ("-24h", 100000.0 - 86400),
    ("30m", 100000.0 - 1800),
    ("7 days ago", 100000.0 - 7 * 86400),
    ("@1714557600", 1714557600.0),
    ("1714557600", 1714557600.0),
    ("2024-05-01T10:00:00Z", 1714557600.0),
    ("2024-05-01T12:00:00+02:00", 1714557600.0),
    ("all", None),
    (None, None),
])
def test_parse_since(value, expected):
    assert log_since.parse_since(value, now=100000.0, boot_time=1000.0) == expected


def test_parse_since_local_time_without_offset():
    local = datetime.datetime(2024, 5, 1, 10, 0).timestamp()
    assert log_since.parse_since("2024-05-01 10:00") == local


@pytest.mark.parametrize("value", ["yesterday-ish", "-5 fortnights", "2024-13-01"])
def test_parse_since_rejects_junk(value):
    with pytest.raises(ValueError, match="since"):
        log_since.parse_since(value, now=0, boot_time=0)


@pytest.mark.parametrize("value", [
    "99999999999999", "@99999999999999", "@1e20", "1" + "0" * 400, "-99999999999999d", "-" + "9" * 400 + "d",
    "2000000 days ago", "0001-01-01T00:00:00+01:00", "0001-01-01", "-5", "@-5", "-1.5", "nan", "NaN", "inf", "-inf", "True", "False",
])
def test_parse_since_refuses_out_of_range_negative_nan_and_bool_with_valueerror(value):
    with pytest.raises(ValueError, match="^since "):
        log_since.parse_since(value, now=1714557600.0, boot_time=1714550000.0)


def test_parse_since_range_ends_are_accepted():
    assert log_since.parse_since("@0") == 0.0
    assert log_since.parse_since("@%d" % log_since.MAX_SINCE) == float(log_since.MAX_SINCE)
    assert kernel_log.iso_time(log_since.MAX_SINCE) == "9999-12-31T23:59:59+00:00"


def test_cpu_line_after_a_summary_without_header_is_not_an_invoker():
    # The header is rate limited; the summary starts the report's context, which has no invoker.
    records = [(100.0, "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
                       "task_memcg=/,task=a,pid=9,uid=0"),
               (100.1, "CPU: 2 PID: 9 Comm: a Not tainted 6.1.0-18-arm64 #1"),
               (100.2, "Out of memory: Killed process 9 (a) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, "
                       "UID:0 pgtables:1kB oom_score_adj:0")]
    event, = kernel_log.parse_oom_events(records)
    assert event["invoker"] is None and event["constraint"] == "CONSTRAINT_NONE" and event["victim"]["pid"] == 9
