"""The pure decisions (rock5b_oom_monitor/decisions.py): thresholds, hysteresis, rate limits,
adaptive polling, victims, kill jobs.

Readings and the time are fed in; nothing here touches /proc or sleeps."""

from __future__ import annotations

import pytest

from monitor_helpers import FakeClock, MIB, TOTAL, make_config, process_entry
from rock5b_oom_monitor.decisions import (
    FALLING_FLOOR_S, KillJob, LevelTracker, RateLimiter, Thresholds, choose_victim, compile_protect, next_interval,
    protected_reason,
)


# --- thresholds ---------------------------------------------------------------------------------


def test_thresholds_in_sizes_and_percentages():
    t = Thresholds((None, 5.0), (100 * MIB, None), (None, 1.0), TOTAL)
    assert t.warn_kb == int(TOTAL * 0.05) and t.critical_kb == 100 * MIB and t.kill_kb == int(TOTAL * 0.01)


def test_critical_stays_below_warn_and_kill_below_critical():
    t = Thresholds((None, 2.0), (200 * MIB, None), (300 * MIB, None), 4 * 1024 * MIB // 4)  # 1 GiB board
    assert t.critical_kb < t.warn_kb and t.kill_kb <= t.critical_kb


@pytest.mark.parametrize("mb, level", [(300, "ok"), (200, "ok"), (199.9, "warn"), (100, "warn"), (99, "critical"), (0, "critical")])
def test_levels_below_the_thresholds_as_the_seed(mb, level):
    # the seed: `[ $AVAIL -lt 204800 ]` warns, `-lt 102400` drops caches
    t = Thresholds.from_config(make_config(), TOTAL)
    assert t.raw_level(int(mb * MIB)) == level


# --- hysteresis ---------------------------------------------------------------------------------


def test_hysteresis_down_at_once_up_only_past_the_margin():
    tracker = LevelTracker(Thresholds.from_config(make_config(), TOTAL))
    seen = []
    for mb in (300, 150, 90, 105, 109, 111, 205, 219, 221, 95, 300):
        seen.append(tracker.update(int(mb * MIB))[1])
    assert seen == ["ok", "warn", "critical", "critical", "critical", "warn", "warn", "warn", "ok", "critical", "ok"]


def test_no_flapping_around_a_threshold():
    tracker = LevelTracker(Thresholds.from_config(make_config(), TOTAL))
    changes = 0
    for i in range(100):
        previous, level = tracker.update(int((199 if i % 2 else 201) * MIB))
        changes += previous != level
    assert changes == 1


# --- rate limits --------------------------------------------------------------------------------


def test_rate_limiter_with_a_fake_clock():
    clock = FakeClock()
    limit = RateLimiter(300)
    assert limit.allow(clock()) is True
    assert limit.allow(clock.advance(299.9)) is False
    assert limit.allow(clock.advance(0.1)) is True
    assert limit.allow(clock()) is False


# --- adaptive polling ---------------------------------------------------------------------------


def test_polling_speeds_up_near_a_threshold():
    config = make_config(poll={"fill_rate_mb_s": 2000})
    t = Thresholds.from_config(config, TOTAL)
    poll = config["poll"]
    far = next_interval(3000 * MIB, "ok", t, poll, psi_active=False)
    near = next_interval(800 * MIB, "ok", t, poll, psi_active=False)
    at = next_interval(201 * MIB, "ok", t, poll, psi_active=False)
    assert far == 1.0 and 0.1 < near < 1.0 and at == 0.1
    assert next_interval(3000 * MIB, "ok", t, poll, psi_active=True) == pytest.approx(1.4)
    assert next_interval(5000 * MIB, "ok", t, poll, psi_active=True) == 2.0
    assert near == pytest.approx(600 / 2000.0)
    assert next_interval(150 * MIB, "warn", t, poll, psi_active=True) == 0.1  # 50 MiB to critical
    assert next_interval(1500 * MIB, "warn", t, poll, psi_active=False) == pytest.approx(1400 / 2000.0)
    assert next_interval(50 * MIB, "critical", t, poll, psi_active=True) == 0.1


def test_falling_memory_brings_the_next_check_to_the_predicted_crossing():
    config = make_config()
    t = Thresholds.from_config(config, TOTAL)
    poll = config["poll"]
    # 20 MiB above warn, falling at 320 MiB/s (16 MiB per 50 ms): the crossing is 62.5 ms away,
    # sooner than the 100 ms floor of the headroom rule.
    assert next_interval(220 * MIB, "ok", t, poll, False, falling_kb_s=320 * MIB) == pytest.approx(0.0625)
    assert next_interval(240 * MIB, "ok", t, poll, False, falling_kb_s=320 * MIB) == 0.1
    # 4 MiB above: 12.5 ms; 1 MiB above: not below the 10 ms floor.
    assert next_interval(204 * MIB, "ok", t, poll, False, falling_kb_s=320 * MIB) == pytest.approx(0.0125)
    assert next_interval(201 * MIB, "ok", t, poll, False, falling_kb_s=320 * MIB) == FALLING_FLOOR_S
    # A slow fall or none leaves the headroom rule alone: steady memory costs no extra wake-ups.
    assert next_interval(201 * MIB, "ok", t, poll, False, falling_kb_s=1 * MIB) == 0.1
    assert next_interval(3000 * MIB, "ok", t, poll, False, falling_kb_s=100 * MIB) == 1.0
    # Below warn the next target is critical.
    assert next_interval(150 * MIB, "warn", t, poll, False, falling_kb_s=500 * MIB) == pytest.approx(0.1)
    assert next_interval(110 * MIB, "warn", t, poll, False, falling_kb_s=500 * MIB) == pytest.approx(0.02)


def test_steady_memory_backs_off_while_a_psi_trigger_watches():
    config = make_config()
    t = Thresholds.from_config(config, TOTAL)
    poll = config["poll"]
    # 40 MiB above warn, memory not falling: 100 ms after one steady check, then 200 and 400 ms.
    spaced = [next_interval(240 * MIB, "ok", t, poll, True, steady_checks=n) for n in range(0, 6)]
    assert spaced == [0.1, 0.1, 0.2, 0.4, 0.4, 0.4]
    # 200 MiB above warn: 0.2 s of headroom at 1000 MiB/s, backed off to 0.8 s.
    assert next_interval(400 * MIB, "ok", t, poll, True, steady_checks=5) == pytest.approx(0.8)
    # Never beyond max_psi_ms.
    assert next_interval(3000 * MIB, "ok", t, poll, True, steady_checks=50) == 2.0
    # Without a PSI trigger (polling alone watches) and at critical: no back-off.
    assert next_interval(240 * MIB, "ok", t, poll, False, steady_checks=5) == 0.1
    assert next_interval(50 * MIB, "critical", t, poll, True, steady_checks=5) == 0.1
    # A slow leak still brings the check to its predicted crossing.
    assert next_interval(240 * MIB, "ok", t, poll, True, falling_kb_s=200 * MIB, steady_checks=5) == pytest.approx(0.2)


def test_intervals_are_monotonic_in_headroom():
    config = make_config(poll={"fill_rate_mb_s": 2000})
    t = Thresholds.from_config(config, TOTAL)
    values = [next_interval(mb * MIB, "ok", t, config["poll"], False) for mb in range(200, 4000, 50)]
    assert values == sorted(values)


# --- victims ------------------------------------------------------------------------------------

PROTECT = compile_protect(make_config(protect={
    "units": ["ssh.service", "rock5b-oom-monitor.service"], "comms": ["systemd-journal"],
    "patterns": ["^/usr/bin/mosquitto"]})["protect"])


def test_victim_is_the_highest_oom_score_then_rss():
    table = [process_entry(10, "chromium", 900, 600), process_entry(11, "node", 1200, 600), process_entry(12, "bash", 5, 2)]
    assert choose_victim(table, PROTECT, 4242)["pid"] == 11


@pytest.mark.parametrize("protected", [
    process_entry(1, "systemd", 3000, 999),
    process_entry(4242, "python3", 3000, 999),
    process_entry(20, "sshd", 3000, 999, unit="ssh.service"),
    process_entry(21, "python3", 3000, 999, unit="rock5b-oom-monitor.service"),
    process_entry(22, "systemd-journal", 3000, 999),
    process_entry(23, "mosquitto", 3000, 999, cmdline="/usr/bin/mosquitto -c /etc/mosquitto.conf"),
    process_entry(24, "postgres", 3000, 999, adj=-1000),
    process_entry(25, "kworker", 3000, 999, kernel_thread=True),
    process_entry(26, "defunct", 3000, 999, state="Z"),
])
def test_never_a_protected_process_even_the_largest(protected):
    table = [protected, process_entry(30, "app", 100, 50)]
    assert protected_reason(protected, PROTECT, 4242)
    assert choose_victim(table, PROTECT, 4242)["pid"] == 30


def test_no_victim_when_everything_is_protected_or_has_no_memory():
    table = [process_entry(24, "postgres", 3000, 0, adj=-1000), process_entry(31, "zombie-ish", 0, 900)]
    assert choose_victim(table, PROTECT, 4242) is None


def test_comm_protection_compares_the_kernels_15_characters():
    protect = compile_protect(make_config(protect={"units": [], "comms": ["a-very-long-daemon-name"], "patterns": []})["protect"])
    assert protected_reason(process_entry(40, "a-very-long-dae", 10, 1), protect, 1)


# --- kill jobs ----------------------------------------------------------------------------------


def test_a_process_that_exits_on_sigterm_gets_no_sigkill():
    job = KillJob(process_entry(60, "polite", 10, 1), started=0.0, grace=5)
    assert job.step(1.0, alive=True) == "wait"
    assert job.step(2.0, alive=False) == "done"


def test_an_unkillable_process_is_given_up_after_sigkill():
    job = KillJob(process_entry(61, "stuck", 10, 1), started=0.0, grace=5)
    assert job.step(5.0, alive=True) == "sigkill"
    assert job.step(10.0, alive=True) == "wait"
    assert job.step(15.0, alive=True) == "done"
