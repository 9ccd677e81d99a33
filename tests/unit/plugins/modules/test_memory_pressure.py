"""Behaviour of rock5b.oom.memory_pressure against a fake board."""

from __future__ import annotations

import errno
import gzip
import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import pressure
from ansible_collections.rock5b.oom.plugins.modules import memory_pressure
from unit_helpers import fixture_reader, refuse_open, write

fixture = fixture_reader("")


@pytest.fixture
def board(host_fs):
    fake_host = host_fs  # hostfs.host() reads its trees
    write(os.path.join(fake_host.proc, "sys", "kernel", "osrelease"), "6.1.0-18-arm64\n")
    write(os.path.join(fake_host.proc, "cmdline"), "root=/dev/mmcblk0p2 rootwait\n")
    fake_host.psi = lambda resource, name: write(os.path.join(fake_host.proc, "pressure", resource), fixture(name))
    return fake_host


@pytest.fixture
def run(run_module):
    def call(check_mode=False, **args):
        args.setdefault("name", "rock5b-07")
        return run_module(memory_pressure, args, check_mode=check_mode)
    return call


def cgroup_v2(board, cgroup, psi_fixture="psi/cgroup-memory.pressure"):
    write(os.path.join(board.proc, "self", "mountinfo"), fixture("cgroup/v2-debian12.mountinfo"))
    directory = os.path.join(board.root, "sys", "fs", "cgroup", cgroup)
    os.makedirs(directory, exist_ok=True)
    if psi_fixture:
        write(os.path.join(directory, "memory.pressure"), fixture(psi_fixture))
    return directory


def test_reads_memory_pressure_and_changes_nothing(board, run):
    board.psi("memory", "psi/memory-6.1")
    before = board.snapshot()
    result = run()
    assert not result.get("failed") and result["changed"] is False
    assert result["available"] is True and result["state"] == "enabled"
    assert result["board"] == "rock5b-07" and result["cgroup"] is None
    assert result["source"] == os.path.join(board.proc, "pressure")
    assert result["pressure"]["memory"]["full"] == {"avg10": 17.52, "avg60": 9.85, "avg300": 3.2, "total": 402918220}
    assert result["sampled"] == {} and result["violations"] == [] and result["limits"] == {}
    assert board.snapshot() == before


def test_name_defaults_to_the_host_name(board, run_module, monkeypatch):
    board.psi("memory", "psi/memory-6.12")
    monkeypatch.setattr(memory_pressure.socket, "gethostname", lambda: "rock5b-31")
    assert run_module(memory_pressure, {})["board"] == "rock5b-31"


def test_cpu_without_full_line(board, run):
    board.psi("memory", "psi/memory-5.10")
    board.psi("cpu", "psi/cpu-5.10")
    result = run(resources=["memory", "cpu"])
    assert result["pressure"]["cpu"]["full"] is None and result["pressure"]["memory"]["full"]["total"] == 5021117


def test_full_avg10_over_the_limit_fails_naming_board_value_and_limit(board, run):
    board.psi("memory", "psi/memory-6.1")
    result = run(max_full_avg10=5, max_some_avg60=50)
    assert result["failed"]
    assert result["msg"] == "rock5b-07: memory pressure full avg10 is 17.52%, above the limit of 5.00%"
    assert result["violations"][0]["limit"] == "full_avg10"
    assert result["limits"] == {"memory": {"full_avg10": 5.0, "some_avg60": 50.0}}
    assert result["changed"] is False


def test_under_the_limits_passes(board, run):
    board.psi("memory", "psi/memory-6.12")
    result = run(max_full_avg10=5, max_some_avg10=10, max_full_avg60=1)
    assert not result.get("failed") and result["violations"] == []


def test_several_violations_in_one_message(board, run):
    board.psi("memory", "psi/memory-6.1")
    board.psi("io", "psi/io-6.12")
    result = run(max_full_avg10=5, limits={"io": {"some_avg10": 10}})
    assert result["failed"] and len(result["violations"]) == 2
    assert "io pressure some avg10 is 12.50%, above the limit of 10.00%" in result["msg"]
    # io was read because a limit names it.
    assert "io" in result["pressure"]


def test_sampling_measures_the_window_from_total_counters(board, run, monkeypatch):
    board.psi("memory", "psi/memory-6.12")
    clock = {"now": 500.0}

    def fake_sleep(seconds):
        # 10 s pass; some stalls 3 s and full 1 s of them (totals are microseconds).
        clock["now"] += seconds
        write(os.path.join(board.proc, "pressure", "memory"),
              "some avg10=0.00 avg60=0.00 avg300=0.00 total=3000118\n"
              "full avg10=0.00 avg60=0.00 avg300=0.00 total=1000097\n")

    monkeypatch.setattr(memory_pressure, "CLOCK", lambda: clock["now"])
    monkeypatch.setattr(memory_pressure, "SLEEP", fake_sleep)
    result = run(sample_seconds=10, max_full_sampled=15)
    assert not result.get("failed")
    assert result["sampled"] == {"memory": {"some": 30.0, "full": 10.0}}
    assert result["sample_seconds"] == 10.0
    # The reported averages are those of the first read.
    assert result["pressure"]["memory"]["some"]["total"] == 118


def test_sampled_limit_fails_the_gate(board, run, monkeypatch):
    board.psi("memory", "psi/memory-6.12")
    clock = {"now": 0.0}

    def fake_sleep(seconds):
        clock["now"] += seconds
        write(os.path.join(board.proc, "pressure", "memory"),
              "some avg10=0.00 avg60=0.00 avg300=0.00 total=2000118\n"
              "full avg10=0.00 avg60=0.00 avg300=0.00 total=500097\n")

    monkeypatch.setattr(memory_pressure, "CLOCK", lambda: clock["now"])
    monkeypatch.setattr(memory_pressure, "SLEEP", fake_sleep)
    result = run(sample_seconds=5, max_full_sampled=5)
    assert result["failed"] and result["sample_seconds"] == 5.0
    assert result["sampled"]["memory"] == {"some": 40.0, "full": 10.0}
    assert result["msg"] == "rock5b-07: memory pressure full sampled is 10.00%, above the limit of 5.00%"


def test_psi_disabled_at_boot_fails_a_gate_with_the_fix(board, run):
    write(os.path.join(board.proc, "cmdline"), "root=/dev/mmcblk0p2 psi=0\n")
    result = run(max_full_avg10=5)
    assert result["failed"] and result["state"] == "disabled" and result["available"] is False
    assert result["msg"].startswith("rock5b-07: PSI cannot be read: ")
    assert "psi=0" in result["msg"] and "psi=1" in result["msg"]


def test_radxa_default_disabled_is_reported_without_limits(board, run):
    with gzip.open(os.path.join(board.proc, "config.gz"), "wt") as handle:
        handle.write("CONFIG_PSI=y\nCONFIG_PSI_DEFAULT_DISABLED=y\n")
    result = run()
    assert not result.get("failed")
    assert result["available"] is False and result["state"] == "disabled"
    assert "CONFIG_PSI_DEFAULT_DISABLED" in result["reason"] and "psi=1" in result["hint"]
    assert len(result["warnings"]) == 1 and "rock5b-07" in result["warnings"][0]


def test_unavailable_fail_without_limits(board, run):
    result = run(unavailable="fail")
    assert result["failed"] and result["state"] == "unknown"


def test_unavailable_report_with_limits_does_not_fail(board, run):
    write(os.path.join(board.root, "boot", "config-6.1.0-18-arm64"), "# CONFIG_PSI is not set\n")
    result = run(unavailable="report", max_full_avg10=5)
    assert not result.get("failed") and result["state"] == "not_compiled" and result["violations"] == []


def test_empty_file(board, run):
    board.psi("memory", "psi/empty")
    result = run(unavailable="report")
    assert result["state"] == "empty" and result["available"] is False


def test_eopnotsupp_means_disabled_at_boot(board, run, monkeypatch):
    path = board.psi("memory", "psi/memory-5.10")
    refuse_open(monkeypatch, pressure, path, errno.EOPNOTSUPP)
    result = run(max_full_avg10=5)
    assert result["failed"] and result["state"] == "disabled"
    assert "EOPNOTSUPP (errno 95)" in result["msg"] and "psi=1" in result["msg"]


def test_irq_missing_on_this_kernel(board, run):
    board.psi("memory", "psi/memory-6.1")
    result = run(resources=["memory", "irq"])
    assert not result.get("failed") and result["state"] == "unsupported_resource"
    assert "CONFIG_IRQ_TIME_ACCOUNTING" in result["hint"]
    assert result["pressure"]["memory"]["some"]["avg10"] == 38.21


def test_report_still_checks_the_resources_that_could_be_read(board, run):
    board.psi("memory", "psi/memory-6.1")
    result = run(resources=["memory", "irq"], unavailable="report", max_full_avg10=5, limits={"irq": {"full_avg10": 1}})
    assert result["failed"] and result["state"] == "unsupported_resource"
    assert result["msg"] == "rock5b-07: memory pressure full avg10 is 17.52%, above the limit of 5.00%"
    assert [item["resource"] for item in result["violations"]] == ["memory"]


def test_irq_missing_fails_a_gate_in_auto_mode(board, run):
    board.psi("memory", "psi/memory-6.12")
    result = run(limits={"irq": {"full_avg10": 1}})
    assert result["failed"] and "no irq pressure" in result["msg"]


def test_cgroup_pressure(board, run):
    board.psi("memory", "psi/memory-6.12")
    directory = cgroup_v2(board, "system.slice")
    result = run(cgroup="/system.slice/", max_full_avg10=4)
    assert result["failed"] and result["cgroup"] == "system.slice" and result["source"] == directory
    assert result["msg"] == "rock5b-07: memory pressure full avg10 is 4.40%, above the limit of 4.00%"


def test_missing_cgroup_fails(board, run):
    cgroup_v2(board, "system.slice")
    result = run(cgroup="system.slice/nope.service", unavailable="report")
    assert result["failed"] and "does not exist" in result["msg"]


def test_cgroup_path_may_not_leave_the_hierarchy(board, run):
    cgroup_v2(board, "system.slice")
    result = run(cgroup="system.slice/../../../etc")
    assert result["failed"] and "inside the cgroup v2 hierarchy" in result["msg"]


@pytest.mark.parametrize("cgroup", ["../../..", "system.slice/../..", "a\nb"])
def test_a_bad_cgroup_path_fails_naming_cgroup_whatever_the_hierarchy(board, run, cgroup):
    # On a board without cgroup v2 the path was never looked at: checked first now (bad-input corpus).
    write(os.path.join(board.proc, "self", "mountinfo"), fixture("cgroup/v1-legacy.mountinfo"))
    result = run(cgroup=cgroup, unavailable="report")
    assert result["failed"] and result["msg"].startswith("cgroup: ") and "no_cgroup2" not in str(result.get("state"))


def test_cgroup_on_v1_only_board(board, run):
    write(os.path.join(board.proc, "self", "mountinfo"), fixture("cgroup/v1-legacy.mountinfo"))
    result = run(cgroup="system.slice", max_full_avg10=5)
    assert result["failed"] and result["state"] == "no_cgroup2" and "cgroup v1" in result["msg"]


def test_cgroup_file_missing_while_system_psi_works_is_unsupported(board, run):
    board.psi("memory", "psi/memory-6.12")
    cgroup_v2(board, "system.slice", psi_fixture=None)
    result = run(cgroup="system.slice", unavailable="report")
    assert result["state"] == "unsupported_resource" and "cgroup system.slice has no memory pressure" in result["reason"]


@pytest.mark.parametrize("args, message", [
    ({"limits": {"swap": {"full_avg10": 1}}}, "not a PSI resource"),
    ({"limits": {"memory": {"full_avg5": 1}}}, "not a PSI limit"),
    ({"limits": {"memory": {"full_avg10": "lots"}}}, "must be a number"),
    ({"limits": {"memory": 5}}, "must map limit names"),
    ({"max_full_avg10": 150}, "between 0 and 100"),
    ({"max_full_sampled": 5}, "needs sample_seconds"),
    ({"sample_seconds": 600}, "sample_seconds must be between"),
])
def test_bad_parameters_fail_clearly(board, run, args, message):
    board.psi("memory", "psi/memory-6.12")
    result = run(**args)
    assert result["failed"] and message in result["msg"]


def test_check_mode_reads_the_same(board, run):
    board.psi("memory", "psi/memory-6.1")
    result = run(check_mode=True, max_full_avg10=20)
    assert not result.get("failed") and result["changed"] is False


@pytest.mark.parametrize("option", list(memory_pressure.SHORTHANDS))
@pytest.mark.parametrize("value, words", [
    (float("nan"), "must be a finite number"), ("nan", "must be a finite number"), (float("inf"), "must be a finite number"),
    ("-inf", "must be a finite number"), (True, "must be a number, got True"), (-1, "must be between 0 and 100"),
    (100.01, "must be between 0 and 100"), ("lots", "must be a number"),
])
def test_every_limit_option_refuses_nan_inf_bool_and_out_of_range(board, run, option, value, words):
    board.psi("memory", "psi/memory-6.1")
    before = board.snapshot()
    result = run(sample_seconds=1, **{option: value})
    assert result["failed"] and result["msg"].startswith(option + " must be ") and words in result["msg"]
    assert board.snapshot() == before


@pytest.mark.parametrize("value, words", [
    (float("nan"), "must be a finite number"), (float("inf"), "must be a finite number"), (True, "must be a number, got True"),
    (-1, "must be between 0 and 60"), (60.5, "must be between 0 and 60"), ("soon", "must be a number"),
])
def test_sample_seconds_refuses_nan_inf_bool_and_out_of_range(board, run, monkeypatch, value, words):
    board.psi("memory", "psi/memory-6.1")
    slept = []
    monkeypatch.setattr(memory_pressure, "SLEEP", slept.append)
    result = run(sample_seconds=value)
    assert result["failed"] and result["msg"].startswith("sample_seconds must be ") and words in result["msg"]
    assert slept == []


@pytest.mark.parametrize("value, words", [
    (float("nan"), "must be a finite number"), (True, "must be a number, got True"), (-0.5, "must be between 0 and 100"),
    ("inf", "must be a finite number"),
])
def test_limits_entries_refuse_nan_bool_and_out_of_range_naming_the_entry(board, run, value, words):
    board.psi("memory", "psi/memory-6.1")
    result = run(limits={"io": {"some_avg60": 10}, "memory": {"full_avg300": value}})
    assert result["failed"] and result["msg"].startswith("limits.memory.full_avg300 must be ") and words in result["msg"]


def test_numeric_strings_from_extra_vars_still_work(board, run):
    board.psi("memory", "psi/memory-6.1")
    result = run(max_full_avg10="5", limits={"memory": {"some_avg60": "50"}})
    assert result["failed"] and result["limits"] == {"memory": {"full_avg10": 5.0, "some_avg60": 50.0}}
    assert result["msg"] == "rock5b-07: memory pressure full avg10 is 17.52%, above the limit of 5.00%"


def test_unreadable_psi_file_fails_a_gate_saying_to_use_become(board, run, monkeypatch):
    path = board.psi("memory", "psi/memory-6.1")
    refuse_open(monkeypatch, pressure, path, errno.EACCES)
    result = run(max_full_avg10=5)
    assert result["failed"] and result["state"] == "unreadable" and result["available"] is False
    assert result["msg"].startswith("rock5b-07: PSI cannot be read: ") and "become" in result["msg"]
