"""The executor (rock5b_oom_monitor/executor.py) on fake /proc trees: drop_caches errors, log
records before the process listing, kills and hooks."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import pytest

from monitor_helpers import FakeClock, MIB, RecordingJournal, make_config
from procfs import processes
from rock5b_oom_monitor import LOG_ERR, LOG_NOTICE, LOG_WARNING, readings
from rock5b_oom_monitor.decisions import Action, Thresholds
from rock5b_oom_monitor.executor import Executor
from rock5b_oom_monitor.monitor import Monitor


def executor(fake_proc, **overrides):
    config = make_config(**overrides)
    monitor = Monitor(config, Thresholds.from_config(config, 3995120), self_pid=os.getpid())
    journal = RecordingJournal()
    return Executor(monitor, journal, fake_proc.root, FakeClock()), monitor, journal


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EPERM])
def test_drop_caches_on_a_read_only_proc_sys_fails_logged_once(fake_proc, monkeypatch, code):
    ex, monitor, journal = executor(fake_proc)
    monkeypatch.setattr(os, "sync", lambda: None)
    real_open = os.open

    def guarded_open(path, flags, *args, **kwargs):
        if path.endswith("drop_caches"):
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, *args, **kwargs)
    monkeypatch.setattr(os, "open", guarded_open)
    for _step in range(3):
        ex.run([Action("drop_caches", value=3)])
    errors = [r for r in journal.records if r[0] == LOG_ERR]
    assert len(errors) == 1 and "read-only" in errors[0][1]
    assert monitor.actions[("drop_caches", "failed")] == 3 and monitor.actions[("drop_caches", "ok")] == 0


def test_drop_caches_writes_the_value_after_sync(fake_proc, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "sync", lambda: synced.append(True))
    fake_proc.write("sys/vm/drop_caches", "")
    ex, monitor, journal = executor(fake_proc)
    ex.run([Action("drop_caches", value=3)])
    with open(os.path.join(fake_proc.root, "sys", "vm", "drop_caches")) as handle:
        assert handle.read() == "3\n"
    assert synced and monitor.actions[("drop_caches", "ok")] == 1
    assert journal.records[-1][0] == LOG_NOTICE


def test_log_record_is_sent_before_the_process_listing(fake_proc, monkeypatch):
    """Listing processes is slow under pressure: the news goes out first."""
    ex, monitor, journal = executor(fake_proc)
    monitor.step(0.0, {"effective": 150 * MIB, "mem_available": 150 * MIB, "mem_total": 3995120,
                       "swap_free": 0, "zram_free": 0})
    sent_before_listing = []
    monkeypatch.setattr(readings, "top_memory_users",
                        lambda root, count: sent_before_listing.append(len(journal.records)) or "x[1] 1 MiB adj=0")
    ex.run([Action("log", event="warn", priority=LOG_WARNING, message="low memory", top=True)])
    assert sent_before_listing == [1]
    assert [r[2]["ROCK5B_OOM_EVENT"] for r in journal.records] == ["warn", "top"]
    ex.run([Action("log", event="recover", priority=LOG_NOTICE, message="recovered", top=False)])
    assert sent_before_listing == [1] and journal.records[-1][2]["ROCK5B_OOM_EVENT"] == "recover"


def test_kill_dry_run_names_the_victim_and_kills_nothing(fake_proc):
    fake_proc.add_process(501, "node", rss_pages=100000, oom_score=800)
    ex, monitor, journal = executor(fake_proc, kill={"enabled": True, "dry_run": True})
    ex.run([Action("kill", dry_run=True)])
    assert "dry run: would kill node (pid 501" in journal.records[-1][1]
    assert monitor.kill_job is None and monitor.actions[("kill", "dry_run")] == 1


def test_kill_with_nothing_expendable_is_a_failed_action(fake_proc):
    ex, monitor, journal = executor(fake_proc, kill={"enabled": True})
    ex.run([Action("kill", dry_run=False)])
    assert monitor.actions[("kill", "failed")] == 1 and "no expendable process" in journal.records[-1][1]


def test_kill_terminates_a_real_child_of_the_tests(tmp_path, fake_proc):
    """SIGTERM through a pidfd to a process these tests started (never anything else)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ex, monitor, journal = executor(fake_proc, kill={"enabled": True, "grace_s": 5})
        victim = {"pid": child.pid, "comm": "python3", "rss_kb": 1, "oom_score": 1,
                  "starttime": processes.parse_stat(open("/proc/%d/stat" % child.pid).read())["starttime"]}
        ex.proc_root = "/proc"
        ex.pidfd = ex._signal(victim, signal.SIGTERM)
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_hook_gets_the_event_in_its_environment(fake_proc, tmp_path):
    out = tmp_path / "hook.out"
    script = tmp_path / "hook.sh"
    script.write_text("#!/bin/sh\necho \"$ROCK5B_OOM_EVENT $ROCK5B_OOM_LEVEL\" > %s\n" % out)
    script.chmod(0o755)
    ex, monitor, journal = executor(fake_proc, hook={"command": [str(script)]})
    ex.run([Action("hook", event="critical")])
    ex.hook_process.wait(timeout=10)
    ex.run(ex.reap_hook())
    assert out.read_text() == "critical ok\n" and monitor.actions[("hook", "ok")] == 1


def test_executed_actions_note_their_time_and_target(fake_proc, monkeypatch, tmp_path):
    fake_proc.add_process(501, "node", rss_pages=100000, oom_score=800)
    ex, monitor, journal = executor(fake_proc, kill={"enabled": True, "dry_run": True}, hook={"command": ["/bin/true"]})
    ex.run([Action("kill", dry_run=True)])
    assert monitor.last_actions == {"kill_dry_run": (1000.0, "node (pid 501)")}
    ex.clock.advance(5)
    ex.run([Action("hook", event="critical")])
    assert monitor.last_actions["hook"] == (1005.0, "critical")
    ex.hook_process.wait(timeout=10)
    ex.run(ex.reap_hook())
    monkeypatch.setattr(os, "sync", lambda: None)
    fake_proc.write("sys/vm/drop_caches", "")
    ex.clock.advance(1)
    ex.run([Action("drop_caches", value=3)])
    assert monitor.last_actions["drop_caches"] == (1006.0, "")
