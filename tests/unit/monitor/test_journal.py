"""The native journal protocol and its stderr fallback (rock5b_oom_monitor/journal.py), and
sd_notify (rock5b_oom_monitor/notify.py)."""

from __future__ import annotations

import os
import socket
import struct

from rock5b_oom_monitor import LOG_CRIT, LOG_INFO, LOG_WARNING
from rock5b_oom_monitor.journal import Journal, journal_payload
from rock5b_oom_monitor.notify import Notifier


def test_journal_payload_plain_and_binary_fields():
    payload = journal_payload([("MESSAGE", "low memory"), ("PRIORITY", 4), ("rock5b_oom_top", "a\nb")])
    assert payload.startswith(b"MESSAGE=low memory\nPRIORITY=4\n")
    assert payload.endswith(b"ROCK5B_OOM_TOP\n" + struct.pack("<Q", 3) + b"a\nb\n")


def test_journal_native_datagram(tmp_path):
    path = str(tmp_path / "journal.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        journal = Journal(path=path)
        assert journal.native
        assert journal.send(LOG_CRIT, "critical memory", [("ROCK5B_OOM_AVAILABLE_KB", 1234), ("SKIPPED", None)])
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
        journal = Journal(path=path)
        assert journal.send(LOG_INFO, "big", [("ROCK5B_OOM_TOP", big)])
        data, fds, _flags, _addr = socket.recv_fds(server, 16, 1)
    finally:
        server.close()
    assert data == b"" and len(fds) == 1
    with os.fdopen(fds[0], "rb") as memfd:
        payload = os.pread(memfd.fileno(), len(big) + 4096, 0)  # journald maps it from offset 0 too
    assert payload.startswith(b"MESSAGE=big\n") and payload.endswith(b"ROCK5B_OOM_TOP=" + big.encode() + b"\n")


def test_journal_falls_back_to_stderr_with_priority_prefixes(tmp_path, capsys):
    journal = Journal(path=str(tmp_path / "no-such-socket"))
    assert not journal.native
    journal.send(LOG_WARNING, "low memory", [("ROCK5B_OOM_AVAILABLE_KB", 5)])
    assert capsys.readouterr().err == "<4>low memory [ROCK5B_OOM_AVAILABLE_KB=5]\n"


def test_sd_notify_ready_and_watchdog(tmp_path):
    path = str(tmp_path / "notify.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
        assert notifier.watchdog_s == 15.0
        assert notifier.notify("READY=1")
        assert server.recv(100) == b"READY=1"
    finally:
        server.close()
    assert Notifier({}).notify("READY=1") is False
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_s is None
