"""Every config the monitor would refuse or crash on at start is refused by ``--validate-config``
(exit 78, the setting named), and the start path refuses it with the same words: both go through
config.load_config (rock5b_oom_monitor/config.py, cli.py). Issue #14."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from monitor_helpers import PROGRAM, RecordingJournal, RecordingNotifier
from rock5b_oom_monitor import cli, loop

NUMBERS = ["hysteresis_percent", "zram_weight", "poll.fill_rate_mb_s", "psi.log_interval_s", "log.repeat_s",
           "drop_caches.interval_s", "kill.psi_full_avg10", "kill.grace_s", "kill.interval_s", "hook.interval_s",
           "hook.timeout_s", "metrics.interval_s"]


def nested(dotted, value):
    """``poll.min_ms`` -> {"poll": {"min_ms": value}}."""
    parts = dotted.split(".")
    raw = value
    for part in reversed(parts):
        raw = {part: raw}
    return raw


def write(tmp_path, raw=None, text=None):
    path = tmp_path / "monitor.json"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    else:
        path.write_text(json.dumps(raw))
    return str(path)


def refused(path, capsys, monkeypatch):
    """Both entries: --validate-config and the daemon's start; returns the validation message."""
    assert cli.main(["--validate-config", path]) == 78
    message = capsys.readouterr().err
    # The start path: the same message (journal and sd_notify faked, the loop never reached).
    journal, notifier = RecordingJournal(), RecordingNotifier()
    monkeypatch.setattr(cli, "Journal", lambda: journal)
    monkeypatch.setattr(cli, "Notifier", lambda: notifier)

    def no_start(*_args, **_kwargs):
        raise AssertionError("the daemon started on a config --validate-config refuses")
    monkeypatch.setattr(loop, "run", no_start)
    assert cli.main(["--config", path]) == 78
    assert "<3>" + message.strip() in capsys.readouterr().err
    assert journal.records[0][1] == message.strip()
    return message


@pytest.mark.parametrize("setting", NUMBERS)
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(tmp_path, capsys, monkeypatch, setting, value):
    """JSON (and the role's YAML .nan/.inf) carry them; NaN passed every range check before."""
    text = json.dumps(nested(setting, "@")).replace('"@"', value)
    message = refused(write(tmp_path, text=text), capsys, monkeypatch)
    assert setting + ":" in message and "finite" in message


HUGE = 10 ** 400  # JSON carries it; a float of it overflows


@pytest.mark.parametrize("raw, setting", [
    (nested("metrics.interval_s", HUGE), "metrics.interval_s"),
    (nested("poll.fill_rate_mb_s", HUGE), "poll.fill_rate_mb_s"),
    (nested("hook.timeout_s", 1e300), "hook.timeout_s"),
    (nested("drop_caches.interval_s", HUGE), "drop_caches.interval_s"),
    (nested("kill.interval_s", -1), "kill.interval_s"),
    (nested("zram_weight", 1.5), "zram_weight"),
    (nested("kill.psi_full_avg10", 101), "kill.psi_full_avg10"),
    (nested("hysteresis_percent", 100.5), "hysteresis_percent"),
])
def test_out_of_range_numbers_are_refused(tmp_path, capsys, monkeypatch, raw, setting):
    message = refused(write(tmp_path, raw), capsys, monkeypatch)
    assert setting + ":" in message and ("maximum" in message or "minimum" in message)


@pytest.mark.parametrize("raw, setting", [
    (nested("drop_caches.value", True), "drop_caches.value"),
    (nested("drop_caches.value", 3.0), "drop_caches.value"),
    (nested("poll.min_ms", "100"), "poll.min_ms"),
    (nested("log.top", 5.0), "log.top"),
    (nested("kill.threshold", 5), "kill.threshold"),
    (nested("protect.units", "ssh"), "protect.units"),
    (nested("hook.events", None), "hook.events"),
])
def test_wrong_types_are_refused(tmp_path, capsys, monkeypatch, raw, setting):
    assert setting + ":" in refused(write(tmp_path, raw), capsys, monkeypatch)


@pytest.mark.parametrize("raw, setting", [({"poll": {"min": 5}}, "poll.min"), ({"Warn": "5%"}, "Warn")])
def test_unknown_settings_are_refused(tmp_path, capsys, monkeypatch, raw, setting):
    assert setting + ": unknown setting" in refused(write(tmp_path, raw), capsys, monkeypatch)


@pytest.mark.parametrize("raw, setting", [
    (nested("hook.command", [""]), "hook.command"),
    (nested("hook.command", ["/usr/local/bin/notify", "a\0b"]), "hook.command"),
    (nested("metrics.path", ""), "metrics.path"),
    (nested("metrics.path", "/var/lib/x\0.prom"), "metrics.path"),
    (nested("protect.units", [""]), "protect.units"),
    (nested("protect.units", ["ssh service"]), "protect.units"),
    (nested("protect.comms", [""]), "protect.comms"),
    (nested("protect.patterns", [""]), "protect.patterns"),
])
def test_empty_or_unusable_paths_commands_and_names_are_refused(tmp_path, capsys, monkeypatch, raw, setting):
    assert setting + ":" in refused(write(tmp_path, raw), capsys, monkeypatch)


@pytest.mark.parametrize("raw, setting", [
    # These raised something else than ConfigError: a traceback and exit 1 instead of 78.
    (nested("psi.triggers", ["some \u00b2 1000000"]), "psi.triggers"),
    (nested("psi.triggers", ["some %s 1000000" % ("9" * 5000)]), "psi.triggers"),
    (nested("protect.patterns", ["a{4294967296}"]), "protect.patterns"),
    ({"warn": "9" * 5000 + "M"}, "warn"),
])
def test_values_that_crashed_validation_are_refused(tmp_path, capsys, monkeypatch, raw, setting):
    assert setting + ":" in refused(write(tmp_path, raw), capsys, monkeypatch)


@pytest.mark.parametrize("raw, words", [
    ({"warn": "100M", "critical": "100M"}, "critical (100M) must be below warn (100M)"),
    ({"poll": {"min_ms": 500, "max_ms": 200}}, "poll.max_ms: 200 is below the minimum 500"),
])
def test_thresholds_and_intervals_keep_their_order(tmp_path, capsys, monkeypatch, raw, words):
    assert words in refused(write(tmp_path, raw), capsys, monkeypatch)


@pytest.mark.parametrize("text, words", [
    ("[" * 100000, "not valid JSON"),        # RecursionError before
    (b"{\"warn\": \"\xff\"}", "not valid JSON"),  # UnicodeDecodeError before
    (" " * (2 << 20), "larger than"),       # read whole: /dev/zero would never end
])
def test_unreadable_files_are_refused(tmp_path, capsys, monkeypatch, text, words):
    assert words in refused(write(tmp_path, text=text), capsys, monkeypatch)


def test_an_empty_validate_config_argument_is_not_the_installed_config(capsys):
    """``--validate-config=`` validated /etc/rock5b-oom/monitor.json instead of refusing."""
    assert cli.main(["--validate-config=", "--config", "/nonexistent/but/valid/default.json"]) == 78
    err = capsys.readouterr().err
    assert "default.json" not in err and "cannot be read" in err


def test_the_installed_program_refuses_nan_as_the_role_runs_it(tmp_path):
    """``python3 -I -S -B main.py --validate-config FILE``: exit 78, the setting named, no traceback."""
    path = write(tmp_path, text='{"hysteresis_percent": NaN}')
    result = subprocess.run([sys.executable, "-I", "-S", "-B", PROGRAM, "--validate-config", path],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert result.returncode == 78, result.stderr
    assert "hysteresis_percent: nan is not a finite number" in result.stderr
    assert "Traceback" not in result.stderr
