"""The hook (rock5b_oom_monitor/executor.py) as a process of its own, with real subprocesses: its
own process group, killed whole on timeout; an ordinary oom_score_adj, not the monitor's -1000;
none of the systemd protocol variables that speak for the monitor. Issue #14.

Only processes these tests start are signalled or have their oom_score_adj changed."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from monitor_helpers import INSTALL_DIR, FakeClock, RecordingJournal, make_config
from rock5b_oom_monitor import executor as executor_module
from rock5b_oom_monitor.decisions import Action, Thresholds
from rock5b_oom_monitor.executor import Executor
from rock5b_oom_monitor.monitor import Monitor


def hook_executor(fake_proc, script, **hook):
    config = make_config(hook=dict({"command": [str(script)], "timeout_s": 1}, **hook))
    monitor = Monitor(config, Thresholds.from_config(config, 3995120), self_pid=os.getpid())
    journal = RecordingJournal()
    return Executor(monitor, journal, fake_proc.root, FakeClock()), monitor


def script_file(tmp_path, body):
    script = tmp_path / "hook.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def wait_for(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def gone(pid):
    """The process exited (a zombie waiting for its new parent counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError as error:
        return error.errno in (errno.ENOENT, errno.ESRCH)


def kill_leftover(pid, marker):
    """Clean up after a failed test: only a process of ours (its command line carries ``marker``)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            if marker.encode() in handle.read():
                os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


@pytest.mark.parametrize("ignores_sigterm", [False, True])
def test_a_hook_past_its_timeout_is_killed_with_its_children(fake_proc, tmp_path, ignores_sigterm):
    """The old code killed the hook alone (process.kill()): the sleep it started lived on."""
    marker = "31337%d" % os.getpid()
    script = script_file(tmp_path, "%ssleep %s &\necho $! > %s/child.pid\nwait\n" % (
        "trap '' TERM\n" if ignores_sigterm else "", marker, tmp_path))
    ex, monitor = hook_executor(fake_proc, script)
    ex.run([Action("hook", event="critical")])
    hook_pid = ex.hook_process.pid
    child_pid = None
    try:
        assert wait_for(lambda: (tmp_path / "child.pid").exists() and (tmp_path / "child.pid").read_text().strip())
        child_pid = int((tmp_path / "child.pid").read_text())
        assert os.getpgid(child_pid) == hook_pid and os.getsid(hook_pid) == hook_pid  # a session of its own
        ex.clock.advance(1.5)
        ex.run(ex.reap_hook())
        assert monitor.actions[("hook", "failed")] == 1
        if ignores_sigterm:
            time.sleep(0.2)
            assert not gone(child_pid)  # SIGTERM ignored: SIGKILL follows after the grace
        for _check in range(200):
            ex.clock.advance(1.0)
            ex.run(ex.reap_hook())
            if ex.hook_process is None:
                break
            time.sleep(0.05)
        assert ex.hook_process is None
        assert wait_for(lambda: gone(child_pid)) and gone(hook_pid)
        assert monitor.actions[("hook", "failed")] == 1  # the timeout is recorded once
    finally:
        if ex.hook_process is not None and ex.hook_process.poll() is None:
            os.killpg(hook_pid, signal.SIGKILL)
            ex.hook_process.wait()
        if child_pid:
            kill_leftover(child_pid, marker)


def test_the_hook_sees_none_of_the_monitors_systemd_variables(fake_proc, tmp_path, monkeypatch):
    for name, value in (("NOTIFY_SOCKET", "/run/systemd/notify"), ("WATCHDOG_USEC", "20000000"),
                        ("WATCHDOG_PID", str(os.getpid())), ("LISTEN_FDS", "1"), ("LISTEN_PID", str(os.getpid())),
                        ("LISTEN_FDNAMES", "x"), ("ROCK5B_OOM_STALE", "1"), ("LANG", "C.UTF-8"),
                        ("HOOK_WEBHOOK_URL", "https://example.invalid/x")):
        monkeypatch.setenv(name, value)
    out = tmp_path / "env.json"
    script = script_file(tmp_path, "exec %s -c 'import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], \"w\"))' %s\n"
                         % (sys.executable, out))
    ex, monitor = hook_executor(fake_proc, script)
    ex.run([Action("hook", event="warn")])
    assert ex.hook_process.wait(timeout=30) == 0
    ex.run(ex.reap_hook())
    env = json.loads(out.read_text())
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                 "ROCK5B_OOM_STALE"):
        assert name not in env
    assert env["PATH"] == os.environ["PATH"] and env["LANG"] == "C.UTF-8"
    assert env["HOOK_WEBHOOK_URL"] == "https://example.invalid/x"  # the operator's own Environment= stays
    assert env["ROCK5B_OOM_EVENT"] == "warn" and env["ROCK5B_OOM_LEVEL"] == "ok"
    assert monitor.actions[("hook", "ok")] == 1


CHILD = r"""
import json, os, sys
sys.path.insert(0, %(install)r)
score = %(score)d
try:
    with open("/proc/self/oom_score_adj", "w") as handle:  # this child's own score only
        handle.write("%%d\n" %% score)
except OSError as error:
    print(json.dumps({"skip": "cannot set oom_score_adj %%d here: %%s" %% (score, error)}))
    sys.exit(0)
from rock5b_oom_monitor.config import validate_config
from rock5b_oom_monitor.decisions import Action, Thresholds
from rock5b_oom_monitor.executor import Executor
from rock5b_oom_monitor.monitor import Monitor

class Journal:
    native = True
    def send(self, *args):
        return True

config = validate_config({"hook": {"command": ["/bin/sh", "-c", "cat /proc/self/oom_score_adj > %(out)s"]}})
monitor = Monitor(config, Thresholds.from_config(config, 3995120), os.getpid())
ex = Executor(monitor, Journal(), %(proc)r)
ex.run([Action("hook", event="critical")])
code = ex.hook_process.wait(timeout=30)
print(json.dumps({"code": code, "own": int(open("/proc/self/oom_score_adj").read())}))
"""


@pytest.mark.parametrize("score", [300, -1000])
def test_the_hook_runs_with_an_ordinary_oom_score(fake_proc, tmp_path, score):
    """The monitor runs at -1000 (OOMScoreAdjust=); its hook must be as killable as any process.

    A child of this test takes the monitor's place with another score (raising is always
    allowed; -1000 needs CAP_SYS_RESOURCE, skipped without it) and runs the hook."""
    out = tmp_path / "score"
    code = CHILD % {"install": INSTALL_DIR, "score": score, "out": str(out), "proc": fake_proc.root}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(result.stdout)
    if "skip" in report:
        pytest.skip(report["skip"])
    assert report == {"code": 0, "own": score}  # the monitor keeps its score
    assert out.read_text().strip() == "0"


def test_a_hook_that_would_keep_the_monitors_score_is_not_run(fake_proc, tmp_path, monkeypatch):
    """When the child cannot read or reset its score, the hook is refused and the failure recorded."""
    out = tmp_path / "ran"
    script = script_file(tmp_path, "touch %s\n" % out)
    monkeypatch.setattr(executor_module, "HOOK_OOM_SCORE_ADJ", str(tmp_path / "missing" / "oom_score_adj"))
    ex, monitor = hook_executor(fake_proc, script)
    actions = ex.do_hook(Action("hook", event="critical"))
    assert ex.hook_process is None and monitor.actions[("hook", "failed")] == 1
    assert "oom_score_adj" in actions[0].message
    time.sleep(0.1)
    assert not out.exists()


@pytest.mark.parametrize("current, runs", [("0\n", True), ("300\n", True), ("-1000\n", False)])
def test_a_score_that_cannot_be_written_is_only_tolerated_when_not_negative(tmp_path, monkeypatch, current, runs):
    """A read-only /proc (EROFS): the hook runs with its inherited score unless that is negative."""
    score = tmp_path / "oom_score_adj"
    score.write_text(current)
    monkeypatch.setattr(executor_module, "HOOK_OOM_SCORE_ADJ", str(score))
    real_open = os.open

    def read_only(path, flags, *args):
        if path == str(score) and flags & os.O_WRONLY:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args)
    monkeypatch.setattr(os, "open", read_only)
    if runs:
        executor_module.ordinary_oom_score()
    else:
        with pytest.raises(OSError):
            executor_module.ordinary_oom_score()
    assert score.read_text() == current
