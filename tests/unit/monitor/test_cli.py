"""The command line (rock5b_oom_monitor/cli.py): exit 78 on a bad config, options, and the
installed main.py run as the unit runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from monitor_helpers import PROGRAM
from rock5b_oom_monitor import DEFAULT_CONFIG, VERSION
from rock5b_oom_monitor.cli import main, parse_args


def test_main_exits_78_on_a_bad_config(tmp_path, capsys):
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps({"warn": "100M", "critical": "200M"}))
    assert main(["--validate-config", str(path)]) == 78
    assert "critical (200M) must be below warn (100M)" in capsys.readouterr().err
    assert main(["--config", str(path), "--check"]) == 78


def test_validate_config_accepts_what_the_role_renders(tmp_path, capsys):
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps({"warn": "5%", "critical": "100M", "kill": {"enabled": True, "psi_full_avg10": None},
                                "hook": {"command": None}, "metrics": {"path": None}}))
    assert main(["--validate-config", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


def test_command_line_options(capsys):
    args = parse_args(["--config", "/x.json", "--check"])
    assert (args.config, args.check, args.validate_config) == ("/x.json", True, None)
    args = parse_args(["--validate-config=/y.json", "--proc=/fake"])
    assert (args.config, args.validate_config, args.proc) == (DEFAULT_CONFIG, "/y.json", "/fake")
    for bad, message in ((["--bogus"], "unknown argument '--bogus'"), (["--config"], "--config needs a value")):
        with pytest.raises(SystemExit) as stop:
            parse_args(bad)
        assert stop.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        parse_args(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == "rock5b-oom-monitor %s\n" % VERSION


def test_daemon_exits_cleanly_on_sigterm(fake_proc, tmp_path):
    """The program as systemd runs it: READY=1 on $NOTIFY_SOCKET, then SIGTERM -> exit 0."""
    config = tmp_path / "monitor.json"
    config.write_text(json.dumps({"mlock": False, "drop_caches": {"enabled": False}}))
    path = str(tmp_path / "notify.socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    # -I -S -B as the unit runs it: main.py must find its packages without the script's directory on sys.path.
    daemon = subprocess.Popen([sys.executable, "-I", "-S", "-B", PROGRAM, "--config", str(config), "--proc", fake_proc.root,
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
