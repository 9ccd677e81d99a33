"""Properties of config.validate_config (rock5b_oom_monitor/config.py): on any JSON value of any
setting it either refuses with ConfigError, or returns a config the daemon starts and runs with
(thresholds, decisions, intervals, metrics arithmetic) without an exception. Issue #14."""

from __future__ import annotations

from hypothesis import given, strategies as st

from monitor_helpers import TOTAL
from rock5b_oom_monitor import loop
from rock5b_oom_monitor.config import DEFAULTS, ConfigError, parse_trigger, validate_config
from rock5b_oom_monitor.decisions import Thresholds, compile_protect
from rock5b_oom_monitor.metrics import render_metrics
from rock5b_oom_monitor.monitor import Monitor
from rock5b_oom_monitor.readings import effective_available


def leaves(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from leaves(value, prefix + key + ".")
        else:
            yield prefix + key


LEAVES = sorted(leaves(DEFAULTS))

# Values the settings take in real configs, so that many drawn configs are accepted.
GOOD = {
    "warn": ["5%", "200M", "1.5G", "1024T", "0.01%"], "critical": ["1%", "100M", "512K", "99.9%"],
    "kill.threshold": ["critical", "50M", "2%"], "psi.triggers": [[], ["full 1 500000"], ["some 10000000 10000000"]],
    "hook.command": [None, ["/usr/local/bin/notify", "", "--x"]], "hook.events": [[], ["recover", "psi"]],
    "metrics.path": [None, "/run/x.prom"], "protect.patterns": [[], ["^/usr/bin/java "]],
    "protect.units": [[], ["ssh", "user@1000.service"]], "protect.comms": [[], ["a" * 40]],
}
ADVERSARIAL = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.just(10 ** 400), st.floats(),
    st.text(max_size=6), st.lists(st.text(max_size=6), max_size=2), st.dictionaries(st.text(max_size=3), st.none(), max_size=1),
    st.sampled_from([0, 1, 10, 100, 600, 604800, 1e-9, 0.5, 59.9]),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 10 ** 400, 1e300, "", "\0", ["/x\0"], [""],
                     "9" * 5000 + "M", ["some \u00b2 1000000"], ["a{4294967296}"]]),
)


def default(key):
    node = DEFAULTS
    for part in key.split("."):
        node = node[part]
    return node


def value_for(key):
    good = st.sampled_from(GOOD.get(key, []) + [default(key)])
    return st.one_of(good, good, ADVERSARIAL)


@st.composite
def raw_configs(draw):
    raw = {}
    for key in draw(st.lists(st.sampled_from(LEAVES), max_size=3, unique=True)):
        parts = key.split(".")
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = draw(value_for(key))
    return raw


def run_like_the_daemon(config):
    """What the start and the loop compute from the config, on a 4 GB and a tiny board."""
    for trigger in config["psi"]["triggers"]:
        parse_trigger(trigger)
    compile_protect(config["protect"])
    for mem_total in (TOTAL, 1024):
        thresholds = Thresholds.from_config(config, mem_total)
        monitor = Monitor(config, thresholds, self_pid=4242)
        now = 1000.0
        for kb in (10 ** 9, thresholds.warn_kb, thresholds.critical_kb, 0, thresholds.warn_up_kb + 1):
            reading = effective_available({"MemTotal": mem_total, "MemAvailable": kb},
                                          [{"size_kb": 1 << 20, "used_kb": 0, "zram": True}],
                                          config["count_swap"], config["zram_weight"])
            monitor.step(now, reading)
            for psi_active in (False, True):
                timeout = monitor.next_timeout(now, psi_active)
                assert 0 < timeout < 700 and int(timeout * 1000) >= 0
            now += 0.5
        render_metrics(monitor, reading, None, "polling", 0.0)
        loop.describe_start(config, thresholds, type("J", (), {"native": True})())
        assert now + config["metrics"]["interval_s"] > now
        assert now + config["hook"]["timeout_s"] > now and now + config["kill"]["grace_s"] + 10 > now


@given(raw_configs())
def test_validate_config_refuses_or_the_daemon_runs(raw):
    try:
        config = validate_config(raw)
    except ConfigError as error:
        assert str(error)
        return
    run_like_the_daemon(config)
