"""The monitor's state and decisions (rock5b_oom_monitor/monitor.py): what each reading, PSI event
and action outcome leads to. Readings and the time are fed in; no I/O."""

from __future__ import annotations

import pytest

from monitor_helpers import FakeClock, MIB, kinds, make_monitor, mb_reading, process_entry
from rock5b_oom_monitor import LOG_CRIT, LOG_ERR, LOG_NOTICE, LOG_WARNING


# --- levels, repeats and drop_caches ------------------------------------------------------------


def test_warn_logs_once_with_top_users_then_repeats_at_the_interval():
    m, clock = make_monitor(), FakeClock()
    first = m.step(clock(), mb_reading(150))
    assert kinds(first) == ["log"] and first[0].priority == LOG_WARNING and first[0].top
    assert first[0].event == "warn" and "low memory: 150 MiB available" in first[0].message
    assert m.step(clock.advance(30), mb_reading(150)) == []
    repeat = m.step(clock.advance(30), mb_reading(150))
    assert kinds(repeat) == ["log"] and repeat[0].message.startswith("still low memory")
    assert m.events["warn"] == 1


def test_critical_logs_crit_and_drops_caches_at_most_once_per_interval():
    m, clock = make_monitor(drop_caches={"interval_s": 300}), FakeClock()
    actions = m.step(clock(), mb_reading(90))
    assert kinds(actions) == ["log", "drop_caches"] and actions[0].priority == LOG_CRIT
    assert actions[1].value == 3
    drops = 0
    for _step in range(299):
        drops += kinds(m.step(clock.advance(1), mb_reading(90))).count("drop_caches")
    assert drops == 0
    assert "drop_caches" in kinds(m.step(clock.advance(1), mb_reading(90)))


def test_recovering_logs_a_notice_and_counts_the_event():
    m, clock = make_monitor(), FakeClock()
    m.step(clock(), mb_reading(90))
    actions = m.step(clock.advance(1), mb_reading(500))
    assert kinds(actions) == ["log"] and actions[0].priority == LOG_NOTICE and actions[0].event == "recover"
    assert m.level == "ok" and m.events == {"warn": 0, "critical": 1, "recover": 1, "psi": 0}


def test_switched_off_actions_do_nothing():
    m, clock = make_monitor(log={"enabled": False}, drop_caches={"enabled": False}), FakeClock()
    assert m.step(clock(), mb_reading(10)) == []


def test_failed_drop_caches_is_logged_once_and_counted_every_time():
    m = make_monitor()
    first = m.record("drop_caches", False, "EROFS", "EROFS: Read-only file system")
    assert kinds(first) == ["log"] and first[0].priority == LOG_ERR and "further" in first[0].message
    assert m.record("drop_caches", False, "EROFS", "EROFS: Read-only file system") == []
    assert m.actions[("drop_caches", "failed")] == 2
    assert kinds(m.record("drop_caches", False, "EACCES", "denied")) == ["log"]  # another error: logged once too


# --- adaptive polling ---------------------------------------------------------------------------


def test_monitor_measures_the_fall_between_checks():
    m, clock = make_monitor(), FakeClock()
    m.step(clock(), mb_reading(300))
    m.step(clock.advance(0.1), mb_reading(232))  # 68 MiB in 100 ms
    assert m.falling_kb_s == pytest.approx(680 * MIB)
    assert m.next_timeout(clock(), psi_active=True) == pytest.approx(32 / 680.0)
    m.step(clock.advance(0.1), mb_reading(280))  # rising again: no trend
    assert m.falling_kb_s == 0.0
    assert m.next_timeout(clock(), psi_active=True) == pytest.approx(0.1)


def test_a_check_between_two_steps_of_a_hog_keeps_the_trend():
    # A hog allocating 16 MiB every 50 ms: a check that lands between two steps sees no fall
    # since the one before. The rate over the last second still says 16 MiB per 50 ms, so the
    # next check comes by the predicted crossing instead of 100 ms later (after it).
    m, clock = make_monitor(), FakeClock()
    for mb in (242, 226, 210):
        m.step(clock.advance(0.05), mb_reading(mb))
    m.step(clock.advance(0.031), mb_reading(210))  # flat: between two steps
    assert m.falling_kb_s == pytest.approx(32 * MIB / 0.131)
    assert m.steady_checks == 0
    assert m.next_timeout(clock(), psi_active=True) == pytest.approx(10 * 0.131 / 32)
    # Memory rising again (freed) ends the trend at once.
    m.step(clock.advance(0.05), mb_reading(260))
    assert m.falling_kb_s == 0.0


def test_the_trend_looks_back_one_second_only():
    m, clock = make_monitor(), FakeClock()
    m.step(clock(), mb_reading(600))
    m.step(clock.advance(0.05), mb_reading(400))  # one drop of 200 MiB, then steady
    for _check in range(6):
        m.step(clock.advance(0.4), mb_reading(400))
    assert m.falling_kb_s == 0.0 and m.steady_checks >= 3


def test_steady_checks_count_checks_that_found_memory_not_falling():
    m, clock = make_monitor(), FakeClock()
    m.step(clock(), mb_reading(240))
    for _check in range(3):
        m.step(clock.advance(0.1), mb_reading(240))
    assert m.steady_checks == 3
    assert m.next_timeout(clock(), psi_active=True) == pytest.approx(0.4)
    m.step(clock.advance(0.4), mb_reading(239.5))  # within STEADY_NOISE_KB: still steady
    assert m.steady_checks == 4
    m.step(clock.advance(0.4), mb_reading(230))  # 9.5 MiB fell: back to the short intervals
    assert m.steady_checks == 0
    assert m.next_timeout(clock(), psi_active=True) == pytest.approx(0.1)
    m.step(clock.advance(0.05), mb_reading(231))  # rising: steady again, but one check is not a trend
    assert m.steady_checks == 1
    assert m.next_timeout(clock(), psi_active=True) == pytest.approx(0.1)


# --- PSI events ---------------------------------------------------------------------------------


def test_psi_events_counted_and_logged_at_most_once_per_interval():
    m, clock = make_monitor(psi={"log_interval_s": 60}), FakeClock()
    values = {"some": {"avg10": 12.5}, "full": {"avg10": 3.0}}
    first = m.on_psi(clock(), values)
    assert kinds(first) == ["log"] and "some avg10 12.5%" in first[0].message
    assert m.on_psi(clock.advance(10), values) == []
    assert m.events["psi"] == 2


# --- kills --------------------------------------------------------------------------------------


def test_kill_only_when_enabled_and_below_the_kill_threshold():
    clock = FakeClock()
    assert "kill" not in kinds(make_monitor().step(clock(), mb_reading(10)))
    m = make_monitor(kill={"enabled": True, "threshold": "50M"}, drop_caches={"enabled": False})
    assert "kill" not in kinds(m.step(clock(), mb_reading(80)))  # critical, above the kill threshold
    assert "kill" in kinds(m.step(clock.advance(1), mb_reading(40)))


def test_kill_waits_for_psi_full_when_asked_and_psi_gives_numbers():
    m = make_monitor(kill={"enabled": True, "psi_full_avg10": 20.0}, drop_caches={"enabled": False})
    clock = FakeClock()
    assert "kill" not in kinds(m.step(clock(), mb_reading(40, psi={"full": {"avg10": 5.0}})))
    assert "kill" in kinds(m.step(clock.advance(1), mb_reading(40, psi={"full": {"avg10": 25.0}})))
    m2 = make_monitor(kill={"enabled": True, "psi_full_avg10": 20.0}, drop_caches={"enabled": False})
    assert "kill" in kinds(m2.step(clock(), mb_reading(40, psi=None)))  # no PSI: memory decides


def test_kill_sequence_sigterm_grace_sigkill_and_rate_limit():
    m, clock = make_monitor(kill={"enabled": True, "grace_s": 5, "interval_s": 10}, drop_caches={"enabled": False}), FakeClock()
    assert "kill" in kinds(m.step(clock(), mb_reading(40)))
    victim = process_entry(50, "hog", 2000, 800)
    logs = m.start_kill(clock(), victim)
    assert kinds(logs) == ["log"] and logs[0].priority == LOG_CRIT and "hog (pid 50" in logs[0].message
    assert "kill" not in kinds(m.step(clock.advance(1), mb_reading(40)))  # one kill at a time
    assert m.kill_progress(clock.advance(1), alive=True) == []
    assert m.next_timeout(clock(), True) <= 3.0
    escalate = m.kill_progress(clock.advance(3), alive=True)
    assert kinds(escalate)[0] == "sigkill" and escalate[0].victim["pid"] == 50
    done = m.kill_progress(clock.advance(0.5), alive=False)
    assert m.kill_job is None and "exited" in done[0].message
    assert "kill" not in kinds(m.step(clock.advance(9), mb_reading(40)))  # interval after the kill ended
    assert "kill" in kinds(m.step(clock.advance(1), mb_reading(40)))
    assert m.actions[("kill", "ok")] == 1 and m.actions[("sigkill", "ok")] == 1


# --- hooks --------------------------------------------------------------------------------------


def test_hook_runs_on_its_events_rate_limited():
    m, clock = make_monitor(hook={"command": ["/usr/local/bin/alert"], "events": ["critical"], "interval_s": 60},
                            drop_caches={"enabled": False}), FakeClock()
    assert "hook" not in kinds(m.step(clock(), mb_reading(150)))  # warn is not a hook event here
    assert "hook" in kinds(m.step(clock.advance(1), mb_reading(90)))
    m.step(clock.advance(1), mb_reading(500))
    assert "hook" not in kinds(m.step(clock.advance(1), mb_reading(90)))
    assert m.actions[("hook", "skipped")] == 1


# --- the last action of each kind (exported in the metrics) -------------------------------------


def test_the_last_action_of_each_kind_is_noted_on_actions_only_never_per_check():
    m, clock = make_monitor(kill={"enabled": True, "grace_s": 5, "interval_s": 10}), FakeClock()
    m.step(clock(), mb_reading(150))
    assert m.last_actions == {"warn": (1000.0, "")}
    for _step in range(100):  # checks at the same level note nothing
        m.step(clock.advance(1), mb_reading(150))
    assert m.last_actions == {"warn": (1000.0, "")}
    m.step(clock.advance(1), mb_reading(40))
    m.record("drop_caches", True, now=clock())
    m.start_kill(clock.advance(0.5), process_entry(50, "hog", 2000, 800))
    assert m.last_actions == {"warn": (1000.0, ""), "critical": (1101.0, ""), "drop_caches": (1101.0, ""),
                              "kill": (1101.5, "hog (pid 50)")}
    m.step(clock.advance(60), mb_reading(500))  # recovering is not an action
    m.record("drop_caches", False, "EROFS", "ro", now=clock())  # nor is a failed one
    assert set(m.last_actions) == {"warn", "critical", "drop_caches", "kill"} and m.last_actions["drop_caches"][0] == 1101.0
