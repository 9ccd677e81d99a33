"""The pure decision logic: thresholds, hysteresis, rate limits, adaptive polling, victims, kills.

Readings and the time are fed in; nothing here touches /proc or sleeps.
"""

from __future__ import annotations

import pytest

from monitor_helpers import MIB, FakeClock, make_config, mon

TOTAL = 3995120  # a 4 GB board's MemTotal in kB


def reading(mb, total=TOTAL, psi=None):
    kb = int(mb * MIB)
    return {"effective": kb, "mem_available": kb, "mem_total": total, "swap_free": 0, "zram_free": 0, "psi": psi}


def monitor(clock_start=None, **overrides):
    config = make_config(**overrides)
    return mon.Monitor(config, mon.Thresholds.from_config(config, TOTAL), self_pid=4242)


def kinds(actions):
    return [a.kind for a in actions]


# --- thresholds ---------------------------------------------------------------------------------

def test_thresholds_in_sizes_and_percentages():
    t = mon.Thresholds((None, 5.0), (100 * MIB, None), (None, 1.0), TOTAL)
    assert t.warn_kb == int(TOTAL * 0.05) and t.critical_kb == 100 * MIB and t.kill_kb == int(TOTAL * 0.01)


def test_critical_stays_below_warn_and_kill_below_critical():
    t = mon.Thresholds((None, 2.0), (200 * MIB, None), (300 * MIB, None), 4 * 1024 * MIB // 4)  # 1 GiB board
    assert t.critical_kb < t.warn_kb and t.kill_kb <= t.critical_kb


@pytest.mark.parametrize("mb, level", [(300, "ok"), (200, "ok"), (199.9, "warn"), (100, "warn"), (99, "critical"), (0, "critical")])
def test_levels_below_the_thresholds_as_the_seed(mb, level):
    # the seed: `[ $AVAIL -lt 204800 ]` warns, `-lt 102400` drops caches
    t = mon.Thresholds.from_config(make_config(), TOTAL)
    assert t.raw_level(int(mb * MIB)) == level


# --- hysteresis ---------------------------------------------------------------------------------

def test_hysteresis_down_at_once_up_only_past_the_margin():
    tracker = mon.LevelTracker(mon.Thresholds.from_config(make_config(), TOTAL))
    seen = []
    for mb in (300, 150, 90, 105, 109, 111, 205, 219, 221, 95, 300):
        seen.append(tracker.update(int(mb * MIB))[1])
    assert seen == ["ok", "warn", "critical", "critical", "critical", "warn", "warn", "warn", "ok", "critical", "ok"]


def test_no_flapping_around_a_threshold():
    tracker = mon.LevelTracker(mon.Thresholds.from_config(make_config(), TOTAL))
    changes = 0
    for i in range(100):
        previous, level = tracker.update(int((199 if i % 2 else 201) * MIB))
        changes += previous != level
    assert changes == 1


# --- rate limits --------------------------------------------------------------------------------

def test_rate_limiter_with_a_fake_clock():
    clock = FakeClock()
    limit = mon.RateLimiter(300)
    assert limit.allow(clock()) is True
    assert limit.allow(clock.advance(299.9)) is False
    assert limit.allow(clock.advance(0.1)) is True
    assert limit.allow(clock()) is False


def test_warn_logs_once_with_top_users_then_repeats_at_the_interval():
    m, clock = monitor(), FakeClock()
    first = m.step(clock(), reading(150))
    assert kinds(first) == ["log"] and first[0].priority == mon.LOG_WARNING and first[0].top
    assert first[0].event == "warn" and "low memory: 150 MiB available" in first[0].message
    assert m.step(clock.advance(30), reading(150)) == []
    repeat = m.step(clock.advance(30), reading(150))
    assert kinds(repeat) == ["log"] and repeat[0].message.startswith("still low memory")
    assert m.events["warn"] == 1


def test_critical_logs_crit_and_drops_caches_at_most_once_per_interval():
    m, clock = monitor(drop_caches={"interval_s": 300}), FakeClock()
    actions = m.step(clock(), reading(90))
    assert kinds(actions) == ["log", "drop_caches"] and actions[0].priority == mon.LOG_CRIT
    assert actions[1].value == 3
    drops = 0
    for _step in range(299):
        drops += kinds(m.step(clock.advance(1), reading(90))).count("drop_caches")
    assert drops == 0
    assert "drop_caches" in kinds(m.step(clock.advance(1), reading(90)))


def test_recovering_logs_a_notice_and_counts_the_event():
    m, clock = monitor(), FakeClock()
    m.step(clock(), reading(90))
    actions = m.step(clock.advance(1), reading(500))
    assert kinds(actions) == ["log"] and actions[0].priority == mon.LOG_NOTICE and actions[0].event == "recover"
    assert m.level == "ok" and m.events == {"warn": 0, "critical": 1, "recover": 1, "psi": 0}


def test_switched_off_actions_do_nothing():
    m, clock = monitor(log={"enabled": False}, drop_caches={"enabled": False}), FakeClock()
    assert m.step(clock(), reading(10)) == []


def test_failed_drop_caches_is_logged_once_and_counted_every_time():
    m = monitor()
    first = m.record("drop_caches", False, "EROFS", "EROFS: Read-only file system")
    assert kinds(first) == ["log"] and first[0].priority == mon.LOG_ERR and "further" in first[0].message
    assert m.record("drop_caches", False, "EROFS", "EROFS: Read-only file system") == []
    assert m.actions[("drop_caches", "failed")] == 2
    assert kinds(m.record("drop_caches", False, "EACCES", "denied")) == ["log"]  # another error: logged once too


# --- adaptive polling ---------------------------------------------------------------------------

def test_polling_speeds_up_near_a_threshold():
    config = make_config(poll={"fill_rate_mb_s": 2000})
    t = mon.Thresholds.from_config(config, TOTAL)
    poll = config["poll"]
    far = mon.next_interval(3000 * MIB, "ok", t, poll, psi_active=False)
    near = mon.next_interval(800 * MIB, "ok", t, poll, psi_active=False)
    at = mon.next_interval(201 * MIB, "ok", t, poll, psi_active=False)
    assert far == 1.0 and 0.1 < near < 1.0 and at == 0.1
    assert mon.next_interval(3000 * MIB, "ok", t, poll, psi_active=True) == pytest.approx(1.4)
    assert mon.next_interval(5000 * MIB, "ok", t, poll, psi_active=True) == 2.0
    assert near == pytest.approx(600 / 2000.0)
    assert mon.next_interval(150 * MIB, "warn", t, poll, psi_active=True) == 0.1  # 50 MiB to critical
    assert mon.next_interval(1500 * MIB, "warn", t, poll, psi_active=False) == pytest.approx(1400 / 2000.0)
    assert mon.next_interval(50 * MIB, "critical", t, poll, psi_active=True) == 0.1


def test_falling_memory_brings_the_next_check_to_the_predicted_crossing():
    config = make_config()
    t = mon.Thresholds.from_config(config, TOTAL)
    poll = config["poll"]
    # 20 MiB above warn, falling at 320 MiB/s (16 MiB per 50 ms): the crossing is 62.5 ms away,
    # sooner than the 100 ms floor of the headroom rule.
    assert mon.next_interval(220 * MIB, "ok", t, poll, False, falling_kb_s=320 * MIB) == pytest.approx(0.0625)
    assert mon.next_interval(240 * MIB, "ok", t, poll, False, falling_kb_s=320 * MIB) == 0.1
    # 4 MiB above: 12.5 ms; 1 MiB above: not below the 10 ms floor.
    assert mon.next_interval(204 * MIB, "ok", t, poll, False, falling_kb_s=320 * MIB) == pytest.approx(0.0125)
    assert mon.next_interval(201 * MIB, "ok", t, poll, False, falling_kb_s=320 * MIB) == mon.FALLING_FLOOR_S
    # A slow fall or none leaves the headroom rule alone: steady memory costs no extra wake-ups.
    assert mon.next_interval(201 * MIB, "ok", t, poll, False, falling_kb_s=1 * MIB) == 0.1
    assert mon.next_interval(3000 * MIB, "ok", t, poll, False, falling_kb_s=100 * MIB) == 1.0
    # Below warn the next target is critical.
    assert mon.next_interval(150 * MIB, "warn", t, poll, False, falling_kb_s=500 * MIB) == pytest.approx(0.1)
    assert mon.next_interval(110 * MIB, "warn", t, poll, False, falling_kb_s=500 * MIB) == pytest.approx(0.02)


def test_monitor_measures_the_fall_between_checks():
    m, clock = monitor(), FakeClock()
    m.step(clock(), reading(300))
    m.step(clock.advance(0.1), reading(232))  # 68 MiB in 100 ms
    assert m.falling_kb_s == pytest.approx(680 * MIB)
    assert m.next_timeout(clock(), psi_active=True) == pytest.approx(32 / 680.0)
    m.step(clock.advance(0.1), reading(280))  # rising again: no trend
    assert m.falling_kb_s == 0.0
    assert m.next_timeout(clock(), psi_active=True) == pytest.approx(0.1)


def test_intervals_are_monotonic_in_headroom():
    config = make_config(poll={"fill_rate_mb_s": 2000})
    t = mon.Thresholds.from_config(config, TOTAL)
    values = [mon.next_interval(mb * MIB, "ok", t, config["poll"], False) for mb in range(200, 4000, 50)]
    assert values == sorted(values)


# --- swap and zram ------------------------------------------------------------------------------

def test_swap_counted_and_zram_weighted():
    info = {"MemTotal": TOTAL, "MemAvailable": 100 * MIB, "SwapTotal": 3 * 1024 * MIB, "SwapFree": 2 * 1024 * MIB}
    swaps = [{"path": "/dev/zram0", "size_kb": 2048 * MIB, "used_kb": 1024 * MIB, "zram": True, "type": "partition",
              "priority": 100},
             {"path": "/swapfile", "size_kb": 1024 * MIB, "used_kb": 0, "zram": False, "type": "file", "priority": -2}]
    figures = mon.effective_available(info, swaps, count_swap=True, zram_weight=0.5)
    assert figures["effective"] == 100 * MIB + 1024 * MIB + 512 * MIB
    assert figures["swap_free"] == 2048 * MIB and figures["zram_free"] == 1024 * MIB
    assert mon.effective_available(info, swaps, count_swap=False)["effective"] == 100 * MIB


def test_memavailable_missing_falls_back_to_free_plus_cache():
    figures = mon.effective_available({"MemTotal": 1000, "MemFree": 100, "Cached": 50, "Buffers": 5}, [], False)
    assert figures["effective"] == 155


# --- PSI events ---------------------------------------------------------------------------------

def test_psi_events_counted_and_logged_at_most_once_per_interval():
    m, clock = monitor(psi={"log_interval_s": 60}), FakeClock()
    values = {"some": {"avg10": 12.5}, "full": {"avg10": 3.0}}
    first = m.on_psi(clock(), values)
    assert kinds(first) == ["log"] and "some avg10 12.5%" in first[0].message
    assert m.on_psi(clock.advance(10), values) == []
    assert m.events["psi"] == 2


# --- victims ------------------------------------------------------------------------------------

PROTECT = mon.compile_protect(make_config(protect={
    "units": ["ssh.service", "rock5b-oom-monitor.service"], "comms": ["systemd-journal"],
    "patterns": ["^/usr/bin/mosquitto"]})["protect"])


def proc(pid, comm, rss_mb, oom_score, adj=0, unit=None, cmdline="", **extra):
    entry = {"pid": pid, "comm": comm, "rss_kb": rss_mb * MIB, "oom_score": oom_score, "oom_score_adj": adj,
             "unit": unit, "cmdline": cmdline, "state": "S", "kernel_thread": False, "ppid": 1, "starttime": pid}
    entry.update(extra)
    return entry


def test_victim_is_the_highest_oom_score_then_rss():
    table = [proc(10, "chromium", 900, 600), proc(11, "node", 1200, 600), proc(12, "bash", 5, 2)]
    assert mon.choose_victim(table, PROTECT, 4242)["pid"] == 11


@pytest.mark.parametrize("protected", [
    proc(1, "systemd", 3000, 999),
    proc(4242, "python3", 3000, 999),
    proc(20, "sshd", 3000, 999, unit="ssh.service"),
    proc(21, "python3", 3000, 999, unit="rock5b-oom-monitor.service"),
    proc(22, "systemd-journal", 3000, 999),
    proc(23, "mosquitto", 3000, 999, cmdline="/usr/bin/mosquitto -c /etc/mosquitto.conf"),
    proc(24, "postgres", 3000, 999, adj=-1000),
    proc(25, "kworker", 3000, 999, kernel_thread=True),
    proc(26, "defunct", 3000, 999, state="Z"),
])
def test_never_a_protected_process_even_the_largest(protected):
    table = [protected, proc(30, "app", 100, 50)]
    assert mon.protected_reason(protected, PROTECT, 4242)
    assert mon.choose_victim(table, PROTECT, 4242)["pid"] == 30


def test_no_victim_when_everything_is_protected_or_has_no_memory():
    table = [proc(24, "postgres", 3000, 0, adj=-1000), proc(31, "zombie-ish", 0, 900)]
    assert mon.choose_victim(table, PROTECT, 4242) is None


def test_comm_protection_compares_the_kernels_15_characters():
    protect = mon.compile_protect(make_config(protect={"units": [], "comms": ["a-very-long-daemon-name"], "patterns": []})["protect"])
    assert mon.protected_reason(proc(40, "a-very-long-dae", 10, 1), protect, 1)


# --- kills --------------------------------------------------------------------------------------

def test_kill_only_when_enabled_and_below_the_kill_threshold():
    clock = FakeClock()
    assert "kill" not in kinds(monitor().step(clock(), reading(10)))
    m = monitor(kill={"enabled": True, "threshold": "50M"}, drop_caches={"enabled": False})
    assert "kill" not in kinds(m.step(clock(), reading(80)))  # critical, above the kill threshold
    assert "kill" in kinds(m.step(clock.advance(1), reading(40)))


def test_kill_waits_for_psi_full_when_asked_and_psi_gives_numbers():
    m = monitor(kill={"enabled": True, "psi_full_avg10": 20.0}, drop_caches={"enabled": False})
    clock = FakeClock()
    assert "kill" not in kinds(m.step(clock(), reading(40, psi={"full": {"avg10": 5.0}})))
    assert "kill" in kinds(m.step(clock.advance(1), reading(40, psi={"full": {"avg10": 25.0}})))
    m2 = monitor(kill={"enabled": True, "psi_full_avg10": 20.0}, drop_caches={"enabled": False})
    assert "kill" in kinds(m2.step(clock(), reading(40, psi=None)))  # no PSI: memory decides


def test_kill_sequence_sigterm_grace_sigkill_and_rate_limit():
    m, clock = monitor(kill={"enabled": True, "grace_s": 5, "interval_s": 10}, drop_caches={"enabled": False}), FakeClock()
    assert "kill" in kinds(m.step(clock(), reading(40)))
    victim = proc(50, "hog", 2000, 800)
    logs = m.start_kill(clock(), victim)
    assert kinds(logs) == ["log"] and logs[0].priority == mon.LOG_CRIT and "hog (pid 50" in logs[0].message
    assert "kill" not in kinds(m.step(clock.advance(1), reading(40)))  # one kill at a time
    assert m.kill_progress(clock.advance(1), alive=True) == []
    assert m.next_timeout(clock(), True) <= 3.0
    escalate = m.kill_progress(clock.advance(3), alive=True)
    assert kinds(escalate)[0] == "sigkill" and escalate[0].victim["pid"] == 50
    done = m.kill_progress(clock.advance(0.5), alive=False)
    assert m.kill_job is None and "exited" in done[0].message
    assert "kill" not in kinds(m.step(clock.advance(9), reading(40)))  # interval after the kill ended
    assert "kill" in kinds(m.step(clock.advance(1), reading(40)))
    assert m.actions[("kill", "ok")] == 1 and m.actions[("sigkill", "ok")] == 1


def test_a_process_that_exits_on_sigterm_gets_no_sigkill():
    job = mon.KillJob(proc(60, "polite", 10, 1), started=0.0, grace=5)
    assert job.step(1.0, alive=True) == "wait"
    assert job.step(2.0, alive=False) == "done"


def test_an_unkillable_process_is_given_up_after_sigkill():
    job = mon.KillJob(proc(61, "stuck", 10, 1), started=0.0, grace=5)
    assert job.step(5.0, alive=True) == "sigkill"
    assert job.step(10.0, alive=True) == "wait"
    assert job.step(15.0, alive=True) == "done"


# --- hooks --------------------------------------------------------------------------------------

def test_hook_runs_on_its_events_rate_limited():
    m, clock = monitor(hook={"command": ["/usr/local/bin/alert"], "events": ["critical"], "interval_s": 60},
                       drop_caches={"enabled": False}), FakeClock()
    assert "hook" not in kinds(m.step(clock(), reading(150)))  # warn is not a hook event here
    assert "hook" in kinds(m.step(clock.advance(1), reading(90)))
    m.step(clock.advance(1), reading(500))
    assert "hook" not in kinds(m.step(clock.advance(1), reading(90)))
    assert m.actions[("hook", "skipped")] == 1
