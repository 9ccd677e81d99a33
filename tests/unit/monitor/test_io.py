"""The thin I/O around the decisions, on fake /proc trees: PSI fallback, journal protocol,
sd_notify, drop_caches errors, the process table, --check, the loop and a clean SIGTERM exit."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import struct
import subprocess
import sys

import pytest

from monitor_helpers import MIB, PROGRAM, FakeClock, make_config, mon


class RecordingJournal:
    native = True

    def __init__(self):
        self.records = []

    def send(self, priority, message, fields=()):
        self.records.append((priority, message, dict(fields)))
        return True


class RecordingNotifier:
    watchdog_s = None

    def __init__(self):
        self.sent = []

    def notify(self, text):
        self.sent.append(text)
        return True


# --- PSI: trigger or fallback -------------------------------------------------------------------

class FakeTrigger:
    def __init__(self, active, error=None):
        self._active, self.error, self.fds = active, error, [99] if active else []

    def __call__(self, path, triggers):
        self.path, self.triggers = path, triggers
        return self

    @property
    def active(self):
        return self._active


def test_psi_missing_falls_back_to_polling_and_says_why(fake_proc):
    mode, trigger, message = mon.psi_status(fake_proc.root, "/nonexistent", True, ["some 150000 1000000"])
    assert mode == "polling" and trigger is None
    assert "PSI unavailable" in message and "adaptive MemAvailable polling only" in message


def test_psi_empty_file_falls_back(fake_proc):
    fake_proc.write("pressure/memory", "")
    mode, _trigger, message = mon.psi_status(fake_proc.root, "/", True, ["some 150000 1000000"])
    assert mode == "polling" and "(empty)" in message


def test_psi_disabled_at_boot_falls_back_with_the_hint(fake_proc):
    # Radxa BSP kernels: CONFIG_PSI_DEFAULT_DISABLED=y, no psi=1 -> no /proc/pressure.
    fake_proc.write("sys/kernel/osrelease", "6.1.84-rk3588\n")
    root = os.path.join(os.path.dirname(fake_proc.root), "root")
    os.makedirs(os.path.join(root, "boot"))
    with open(os.path.join(root, "boot", "config-6.1.84-rk3588"), "w") as handle:
        handle.write("CONFIG_PSI=y\nCONFIG_PSI_DEFAULT_DISABLED=y\n")
    mode, _trigger, message = mon.psi_status(fake_proc.root, root, True, ["some 150000 1000000"])
    assert mode == "polling" and "(disabled)" in message and "psi=1" in message


def test_psi_eopnotsupp_counts_as_disabled(fake_proc, monkeypatch):
    fake_proc.set_psi()

    def refuse(path):
        raise mon.mu_pressure.PsiUnavailable("disabled", path, "EOPNOTSUPP")
    monkeypatch.setattr(mon.mu_pressure, "read_psi", refuse)
    mode, _trigger, message = mon.psi_status(fake_proc.root, "/", True, ["some 150000 1000000"])
    assert mode == "polling" and "(disabled)" in message


def test_psi_trigger_refused_falls_back_naming_the_capability(fake_proc):
    fake_proc.set_psi()
    mode, trigger, message = mon.psi_status(fake_proc.root, "/", True, ["some 150000 1000000"],
                                            open_trigger=FakeTrigger(False, errno.EPERM))
    assert mode == "polling" and trigger is None and "CAP_SYS_RESOURCE" in message


def test_psi_trigger_armed(fake_proc):
    fake_proc.set_psi()
    fake = FakeTrigger(True)
    mode, trigger, message = mon.psi_status(fake_proc.root, "/", True, ["some 150000 1000000"], open_trigger=fake)
    assert mode == "trigger" and trigger is fake and fake.triggers == ["some 150000 1000000"]
    assert fake.path == os.path.join(fake_proc.root, "pressure", "memory")


def test_psi_switched_off_in_the_config(fake_proc):
    fake_proc.set_psi()
    assert mon.psi_status(fake_proc.root, "/", False, [])[0] == "polling"


def test_real_trigger_write_on_a_plain_file_is_what_the_kernel_would_get(fake_proc):
    fake_proc.set_psi()
    trigger = mon.PsiTrigger(os.path.join(fake_proc.root, "pressure", "memory"), ["full 50000 1000000"])
    try:
        assert trigger.active
    finally:
        trigger.close()
    with open(os.path.join(fake_proc.root, "pressure", "memory"), "rb") as handle:
        assert handle.read().startswith(b"full 50000 1000000\0")


# --- journal and sd_notify ----------------------------------------------------------------------

def test_journal_payload_plain_and_binary_fields():
    payload = mon.journal_payload([("MESSAGE", "low memory"), ("PRIORITY", 4), ("rock5b_oom_top", "a\nb")])
    assert payload.startswith(b"MESSAGE=low memory\nPRIORITY=4\n")
    assert payload.endswith(b"ROCK5B_OOM_TOP\n" + struct.pack("<Q", 3) + b"a\nb\n")


def test_journal_native_datagram(tmp_path):
    path = str(tmp_path / "journal.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        journal = mon.Journal(path=path)
        assert journal.native
        assert journal.send(mon.LOG_CRIT, "critical memory", [("ROCK5B_OOM_AVAILABLE_KB", 1234), ("SKIPPED", None)])
        data = server.recv(65536).decode()
    finally:
        server.close()
    assert "MESSAGE=critical memory\n" in data and "PRIORITY=2\n" in data
    assert "SYSLOG_IDENTIFIER=rock5b-oom-monitor\n" in data and "ROCK5B_OOM_AVAILABLE_KB=1234\n" in data
    assert "SKIPPED" not in data


def test_journal_sends_a_record_too_big_for_a_datagram_through_a_memfd(tmp_path):
    path = str(tmp_path / "journal.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    big = "x" * (4 * 1024 * 1024)  # beyond any AF_UNIX datagram size: EMSGSIZE
    try:
        journal = mon.Journal(path=path)
        assert journal.send(mon.LOG_INFO, "big", [("ROCK5B_OOM_TOP", big)])
        data, fds, _flags, _addr = socket.recv_fds(server, 16, 1)
    finally:
        server.close()
    assert data == b"" and len(fds) == 1
    with os.fdopen(fds[0], "rb") as memfd:
        payload = os.pread(memfd.fileno(), len(big) + 4096, 0)  # journald maps it from offset 0 too
    assert payload.startswith(b"MESSAGE=big\n") and payload.endswith(b"ROCK5B_OOM_TOP=" + big.encode() + b"\n")


def test_journal_falls_back_to_stderr_with_priority_prefixes(tmp_path, capsys):
    journal = mon.Journal(path=str(tmp_path / "no-such-socket"))
    assert not journal.native
    journal.send(mon.LOG_WARNING, "low memory", [("ROCK5B_OOM_AVAILABLE_KB", 5)])
    assert capsys.readouterr().err == "<4>low memory [ROCK5B_OOM_AVAILABLE_KB=5]\n"


def test_sd_notify_ready_and_watchdog(tmp_path):
    path = str(tmp_path / "notify.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        notifier = mon.Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
        assert notifier.watchdog_s == 15.0
        assert notifier.notify("READY=1")
        assert server.recv(100) == b"READY=1"
    finally:
        server.close()
    assert mon.Notifier({}).notify("READY=1") is False
    assert mon.Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_s is None


# --- executor -----------------------------------------------------------------------------------

def executor(fake_proc, **overrides):
    config = make_config(**overrides)
    monitor = mon.Monitor(config, mon.Thresholds.from_config(config, 3995120), self_pid=os.getpid())
    journal = RecordingJournal()
    return mon.Executor(monitor, journal, fake_proc.root, FakeClock()), monitor, journal


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EPERM])
def test_drop_caches_on_a_read_only_proc_sys_fails_logged_once(fake_proc, monkeypatch, code):
    ex, monitor, journal = executor(fake_proc)
    monkeypatch.setattr(mon.os, "sync", lambda: None)
    real_open = os.open

    def guarded_open(path, flags, *args, **kwargs):
        if path.endswith("drop_caches"):
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, *args, **kwargs)
    monkeypatch.setattr(mon.os, "open", guarded_open)
    for _step in range(3):
        ex.run([mon.Action("drop_caches", value=3)])
    errors = [r for r in journal.records if r[0] == mon.LOG_ERR]
    assert len(errors) == 1 and "read-only" in errors[0][1]
    assert monitor.actions[("drop_caches", "failed")] == 3 and monitor.actions[("drop_caches", "ok")] == 0


def test_drop_caches_writes_the_value_after_sync(fake_proc, monkeypatch):
    synced = []
    monkeypatch.setattr(mon.os, "sync", lambda: synced.append(True))
    fake_proc.write("sys/vm/drop_caches", "")
    ex, monitor, journal = executor(fake_proc)
    ex.run([mon.Action("drop_caches", value=3)])
    with open(os.path.join(fake_proc.root, "sys", "vm", "drop_caches")) as handle:
        assert handle.read() == "3\n"
    assert synced and monitor.actions[("drop_caches", "ok")] == 1
    assert journal.records[-1][0] == mon.LOG_NOTICE


def test_process_table_and_victim_from_a_fake_proc(fake_proc):
    fake_proc.add_process(300, "sshd", cgroup="0::/system.slice/ssh.service\n", adj=-1000, rss_pages=50000)
    fake_proc.add_process(400, "postgres", cgroup="0::/system.slice/postgresql.service\n", adj=-1000, rss_pages=90000)
    fake_proc.add_process(500, "chromium", rss_pages=200000, oom_score=700)
    fake_proc.add_process(501, "node", rss_pages=100000, oom_score=800)
    fake_proc.add_process(502, "python3", cgroup="0::/system.slice/rock5b-oom-monitor.service\n", rss_pages=900000)
    table = mon.process_table(fake_proc.root)
    assert {p["pid"] for p in table} == {1, 300, 400, 500, 501, 502}
    rss = dict((p["pid"], p["rss_kb"]) for p in table)
    assert rss[500] == 200000 * (os.sysconf("SC_PAGE_SIZE") // 1024)
    protect = mon.compile_protect(make_config()["protect"])
    assert mon.choose_victim(table, protect, os.getpid())["pid"] == 501
    assert "chromium[500]" in mon.top_users(table, 2)


def test_top_memory_users_reads_details_of_the_largest_only(fake_proc, monkeypatch):
    fake_proc.add_process(500, "chromium", rss_pages=200000, adj=300)
    fake_proc.add_process(501, "node", rss_pages=100000)
    fake_proc.add_process(502, "tiny", rss_pages=10)
    fake_proc.add_process(503, "kworker/0:1", rss_pages=0, flags=0x00208040)  # no resident memory
    opened = []
    real_open = open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    text = mon.top_memory_users(fake_proc.root, 2)
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    assert text == "chromium[500] %s adj=300; node[501] %s adj=0" % (
        mon.fmt_kb(200000 * page_kb), mon.fmt_kb(100000 * page_kb))
    assert not [path for path in opened if path.endswith(("/502/comm", "/503/comm", "/1/comm"))]


def test_log_record_is_sent_before_the_process_listing(fake_proc, monkeypatch):
    """Listing processes is slow under pressure: the news goes out first."""
    ex, monitor, journal = executor(fake_proc)
    monitor.step(0.0, {"effective": 150 * MIB, "mem_available": 150 * MIB, "mem_total": 3995120,
                       "swap_free": 0, "zram_free": 0})
    sent_before_listing = []
    monkeypatch.setattr(mon, "top_memory_users",
                        lambda root, count: sent_before_listing.append(len(journal.records)) or "x[1] 1 MiB adj=0")
    ex.run([mon.Action("log", event="warn", priority=mon.LOG_WARNING, message="low memory", top=True)])
    assert sent_before_listing == [1]
    assert [r[2]["ROCK5B_OOM_EVENT"] for r in journal.records] == ["warn", "top"]
    ex.run([mon.Action("log", event="recover", priority=mon.LOG_NOTICE, message="recovered", top=False)])
    assert sent_before_listing == [1] and journal.records[-1][2]["ROCK5B_OOM_EVENT"] == "recover"


def test_kill_dry_run_names_the_victim_and_kills_nothing(fake_proc):
    fake_proc.add_process(501, "node", rss_pages=100000, oom_score=800)
    ex, monitor, journal = executor(fake_proc, kill={"enabled": True, "dry_run": True})
    ex.run([mon.Action("kill", dry_run=True)])
    assert "dry run: would kill node (pid 501" in journal.records[-1][1]
    assert monitor.kill_job is None and monitor.actions[("kill", "dry_run")] == 1


def test_kill_with_nothing_expendable_is_a_failed_action(fake_proc):
    ex, monitor, journal = executor(fake_proc, kill={"enabled": True})
    ex.run([mon.Action("kill", dry_run=False)])
    assert monitor.actions[("kill", "failed")] == 1 and "no expendable process" in journal.records[-1][1]


def test_kill_terminates_a_real_child_of_the_tests(tmp_path, fake_proc):
    """SIGTERM through a pidfd to a process these tests started (never anything else)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ex, monitor, journal = executor(fake_proc, kill={"enabled": True, "grace_s": 5})
        victim = {"pid": child.pid, "comm": "python3", "rss_kb": 1, "oom_score": 1,
                  "starttime": mon.mu_processes.parse_stat(open("/proc/%d/stat" % child.pid).read())["starttime"]}
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
    ex.run([mon.Action("hook", event="critical")])
    ex.hook_process.wait(timeout=10)
    ex.run(ex.reap_hook())
    assert out.read_text() == "critical ok\n" and monitor.actions[("hook", "ok")] == 1


# --- metrics ------------------------------------------------------------------------------------

def test_metrics_written_atomically(tmp_path):
    config = make_config()
    monitor = mon.Monitor(config, mon.Thresholds.from_config(config, 3995120))
    reading = {"effective": 150 * MIB, "mem_available": 150 * MIB, "mem_total": 3995120, "swap_free": 0, "zram_free": 0}
    monitor.step(0.0, reading)
    monitor.record("drop_caches", False, "EROFS", "ro")
    text = mon.render_metrics(monitor, reading, {"some": {"avg10": 1.5, "avg60": 1, "avg300": 0}, "full": None},
                              "polling", 1700000000.0)
    assert "rock5b_oom_monitor_available_bytes %d\n" % (150 * MIB * 1024) in text
    assert 'rock5b_oom_monitor_events_total{event="warn"} 1\n' in text
    assert 'rock5b_oom_monitor_actions_total{action="drop_caches",result="failed"} 1\n' in text
    assert 'rock5b_oom_monitor_psi_memory_percent{kind="some",window="avg10"} 1.5\n' in text
    assert "rock5b_oom_monitor_psi_trigger_active 0\n" in text and "rock5b_oom_monitor_level 1\n" in text
    path = str(tmp_path / "m.prom")
    mon.write_atomic(path, text)
    assert os.listdir(str(tmp_path)) == ["m.prom"] and oct(os.stat(path).st_mode & 0o777) == "0o644"


# --- --check ------------------------------------------------------------------------------------

@pytest.mark.parametrize("available_mb, status, level", [(3000, 0, "ok"), (150, 1, "warn"), (50, 2, "critical")])
def test_check_report_for_people(fake_proc, available_mb, status, level):
    fake_proc.set_meminfo(total=3995120, available=available_mb * MIB)
    fake_proc.add_process(501, "node", rss_pages=100000, oom_score=800)
    text, code = mon.check_report(make_config(), fake_proc.root, "/nonexistent")
    assert code == status and "level:      %s" % level in text
    assert "PSI:        " in text and "victim:     node (pid 501" in text


# --- the loop -----------------------------------------------------------------------------------

def run_loop(fake_proc, iterations, **overrides):
    overrides.setdefault("poll", {"min_ms": 10, "max_ms": 100, "max_psi_ms": 100})
    overrides.setdefault("mlock", False)
    config = make_config(**overrides)
    journal, notifier = RecordingJournal(), RecordingNotifier()
    assert mon.run(config, fake_proc.root, "/nonexistent", journal, notifier, max_iterations=iterations) == 0
    return journal, notifier


def test_loop_without_psi_says_so_once_and_reports_ready(fake_proc, tmp_path):
    journal, notifier = run_loop(fake_proc, 5, metrics={"path": str(tmp_path / "m.prom")})
    fallbacks = [r for r in journal.records if r[2].get("ROCK5B_OOM_EVENT") == "psi_mode"]
    assert len(fallbacks) == 1 and fallbacks[0][0] == mon.LOG_WARNING and "polling" in fallbacks[0][1]
    assert notifier.sent[0].startswith("READY=1\nSTATUS=ok: ")
    assert notifier.sent[-1].startswith("STOPPING=1")
    assert "rock5b_oom_monitor_psi_trigger_active 0" in (tmp_path / "m.prom").read_text()


def test_loop_low_memory_logs_with_fields_and_drop_caches_failure_once(fake_proc, monkeypatch):
    monkeypatch.setattr(mon.os, "sync", lambda: None)
    fake_proc.set_meminfo(total=3995120, available=50 * MIB)
    os.chmod(os.path.join(fake_proc.root, "sys", "vm"), 0o555)  # drop_caches cannot be created: like EROFS
    try:
        journal, _notifier = run_loop(fake_proc, 4, drop_caches={"interval_s": 0})
    finally:
        os.chmod(os.path.join(fake_proc.root, "sys", "vm"), 0o755)
    critical = [r for r in journal.records if r[2].get("ROCK5B_OOM_EVENT") == "critical"]
    assert critical and critical[0][0] == mon.LOG_CRIT
    assert critical[0][2]["ROCK5B_OOM_AVAILABLE_KB"] == 50 * MIB and "ROCK5B_OOM_TOP" not in critical[0][2]
    # The top memory users follow in their own record, right after the news.
    after = journal.records[journal.records.index(critical[0]) + 1]
    assert after[2]["ROCK5B_OOM_EVENT"] == "top" and after[2]["ROCK5B_OOM_CAUSE"] == "critical"
    assert after[0] == mon.LOG_CRIT and "systemd[1]" in after[2]["ROCK5B_OOM_TOP"]
    failures = [r for r in journal.records if r[0] == mon.LOG_ERR]
    assert len(failures) <= 1  # root ignores the mode bits; otherwise exactly one failure record


def test_daemon_exits_cleanly_on_sigterm(fake_proc, tmp_path):
    """The program as systemd runs it: READY=1 on $NOTIFY_SOCKET, then SIGTERM -> exit 0."""
    config = tmp_path / "monitor.json"
    config.write_text(json.dumps({"mlock": False, "drop_caches": {"enabled": False}}))
    path = str(tmp_path / "notify.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    daemon = subprocess.Popen([sys.executable, PROGRAM, "--config", str(config), "--proc", fake_proc.root,
                               "--root", "/nonexistent"], env=env, stderr=subprocess.PIPE)
    try:
        assert server.recv(4096).startswith(b"READY=1\n")
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0
        assert b"stopping on SIGTERM" in err
        messages = []
        server.settimeout(0.5)
        try:
            while True:
                messages.append(server.recv(4096))
        except socket.timeout:
            pass
        assert any(m.startswith(b"STOPPING=1") for m in messages)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        server.close()


def test_reader_counts_zram_through_the_kept_open_swaps_file(fake_proc):
    fake_proc.set_meminfo(total=3995120, available=150 * MIB, swap_total=2 * 1024 * MIB, swap_free=2 * 1024 * MIB)
    fake_proc.write("swaps", "Filename\tType\tSize\tUsed\tPriority\n"
                             "/dev/zram0                              partition\t2097148\t1048576\t100\n")
    reader = mon.MemReader(fake_proc.root)
    first = reader.reading(count_swap=True, zram_weight=0.5)
    assert first["zram_free"] == 2097148 - 1048576
    assert first["effective"] == 150 * MIB + (2097148 - 1048576) // 2
    fake_proc.write("swaps", "Filename\tType\tSize\tUsed\tPriority\n"
                             "/dev/zram0                              partition\t2097148\t2097148\t100\n")
    # A regular file stands in for the seq_file: pread at 0 sees the new content.
    assert reader.reading(count_swap=True, zram_weight=0.5)["zram_free"] == 0
    assert reader.reading(count_swap=False, zram_weight=0.5)["effective"] == 150 * MIB
