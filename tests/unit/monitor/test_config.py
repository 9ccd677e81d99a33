"""Config parsing and validation: clear errors naming the key (rock5b_oom_monitor/config.py)."""

from __future__ import annotations

import pytest

from monitor_helpers import make_config
from rock5b_oom_monitor.config import ConfigError, load_config, parse_size, validate_config


@pytest.mark.parametrize("text, expected", [
    ("200M", (204800, None)), ("200MB", (204800, None)), ("200MiB", (204800, None)), ("1G", (1048576, None)),
    ("1.5G", (1572864, None)), ("512K", (512, None)), ("5%", (None, 5.0)), (" 2.5 % ", (None, 2.5)),
])
def test_sizes(text, expected):
    assert parse_size(text, "warn") == expected


@pytest.mark.parametrize("value", ["200", 200, "abc", "0M", "100%", "0%", True, None, "-5M"])
def test_bad_sizes_name_the_key(value):
    with pytest.raises(ConfigError, match="^warn: "):
        parse_size(value, "warn")


def test_defaults_are_the_seeds_thresholds():
    config = make_config()
    assert config["_warn"] == (200 * 1024, None) and config["_critical"] == (100 * 1024, None)
    assert config["drop_caches"]["enabled"] is True and config["kill"]["enabled"] is False


@pytest.mark.parametrize("raw, message", [
    ({"warn": "100M", "critical": "200M"}, "critical .* must be below warn"),
    ({"warn": "5%", "critical": "10%"}, "critical .* must be below warn"),
    ({"wran": "100M"}, "wran: unknown setting"),
    ({"poll": {"min_ms": 5}}, "poll.min_ms: 5 is below the minimum 10"),
    ({"poll": {"max_ms": 50}}, "poll.max_ms: 50 is below the minimum 100"),
    ({"poll": 3}, "poll: must be a mapping"),
    ({"psi": {"triggers": ["some 150000"]}}, "psi.triggers"),
    ({"psi": {"triggers": ["some 150000 100000"]}}, "the window must be"),
    ({"psi": {"triggers": ["some 2000000 1000000"]}}, "the stall must be"),
    ({"drop_caches": {"value": 4}}, "drop_caches.value"),
    ({"kill": {"threshold": "lots"}}, "kill.threshold"),
    ({"kill": {"enabled": "yes"}}, "kill.enabled: 'yes' is not true or false"),
    ({"protect": {"patterns": ["(unclosed"]}}, "protect.patterns"),
    ({"hook": {"command": ["notify.sh"]}}, "must be an absolute path"),
    ({"hook": {"command": "/bin/true"}}, "hook.command"),
    ({"hook": {"events": ["boom"]}}, "unknown event"),
    ({"metrics": {"path": "/tmp/x.txt"}}, "metrics.path"),
    ([], "JSON object"),
])
def test_config_errors_name_the_setting(raw, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


def test_protected_units_get_the_service_suffix():
    assert "ssh.service" in make_config(protect={"units": ["ssh"], "comms": [], "patterns": []})["protect"]["units"]


def test_config_file_errors_carry_the_path(tmp_path):
    path = tmp_path / "monitor.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="monitor.json: not valid JSON"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(str(tmp_path / "missing.json"))
