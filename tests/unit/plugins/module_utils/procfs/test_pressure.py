"""PSI parsing, reading, diagnosis, sampling and limits (module_utils/pressure.py)."""

from __future__ import annotations

import errno
import gzip
import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import pressure
from unit_helpers import fixture_reader, refuse_open, write

fixture = fixture_reader("psi", comment="#")


@pytest.mark.parametrize("name, some_avg10, full", [
    ("memory-5.10", 0.0, {"avg10": 0.0, "avg60": 0.04, "avg300": 0.11, "total": 5021117}),
    ("memory-6.1", 38.21, {"avg10": 17.52, "avg60": 9.85, "avg300": 3.2, "total": 402918220}),
    ("memory-6.12", 0.0, {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 97}),
    ("io-6.12", 12.5, {"avg10": 10.02, "avg60": 3.95, "avg300": 0.99, "total": 61029113}),
    ("cgroup-memory.pressure", 5.55, {"avg10": 4.4, "avg60": 1.8, "avg300": 0.41, "total": 2800111}),
])
def test_parse_some_and_full(name, some_avg10, full):
    parsed = pressure.parse_psi(fixture(name))
    assert parsed["some"]["avg10"] == some_avg10
    assert isinstance(parsed["some"]["total"], int)
    assert parsed["full"] == full


def test_cpu_before_5_13_has_no_full_line():
    parsed = pressure.parse_psi(fixture("cpu-5.10"))
    assert parsed["full"] is None
    assert parsed["some"] == {"avg10": 1.24, "avg60": 0.98, "avg300": 0.72, "total": 381273644}


def test_cpu_after_5_13_prints_a_zero_full_line():
    assert pressure.parse_psi(fixture("cpu-6.1"))["full"] == {"avg10": 0.0, "avg60": 0.0, "avg300": 0.0, "total": 0}


def test_irq_has_only_full():
    parsed = pressure.parse_psi(fixture("irq-6.1"))
    assert parsed["some"] is None and parsed["full"]["total"] == 3021874


def test_parse_rejects_lines_that_are_not_psi():
    with pytest.raises(ValueError, match="not a PSI line"):
        pressure.parse_psi("some avg10=abc\n")


def test_read_psi_reports_why_a_file_gives_no_numbers(tmp_path, monkeypatch):
    with pytest.raises(pressure.PsiUnavailable) as missing:
        pressure.read_psi(str(tmp_path / "nope"))
    assert missing.value.reason == "missing"

    empty = write(str(tmp_path / "empty"), fixture("empty"))
    with pytest.raises(pressure.PsiUnavailable) as caught:
        pressure.read_psi(empty)
    assert caught.value.reason == "empty"

    junk = write(str(tmp_path / "junk"), "hello\n")
    with pytest.raises(pressure.PsiUnavailable) as caught:
        pressure.read_psi(junk)
    assert caught.value.reason == "malformed"

    def refuse(path, *args, **kwargs):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported", path)

    monkeypatch.setattr(pressure, "open", refuse, raising=False)
    with pytest.raises(pressure.PsiUnavailable) as caught:
        pressure.read_psi(str(tmp_path / "memory"))
    assert caught.value.reason == "disabled" and "errno 95" in str(caught.value)


class Board:
    def __init__(self, base):
        self.proc = str(base / "proc")
        self.root = str(base / "root")
        os.makedirs(os.path.join(self.proc, "sys", "kernel"))
        os.makedirs(self.root)
        write(os.path.join(self.proc, "sys", "kernel", "osrelease"), "6.1.84-1-rk2410\n")
        write(os.path.join(self.proc, "cmdline"), "root=UUID=1234 rootwait console=ttyFIQ0,1500000\n")

    def psi(self, resource, text):
        return write(os.path.join(self.proc, "pressure", resource), text)

    def cmdline(self, text):
        write(os.path.join(self.proc, "cmdline"), text)

    def config_gz(self, text):
        with gzip.open(os.path.join(self.proc, "config.gz"), "wt") as handle:
            handle.write(text)

    def boot_config(self, text):
        write(os.path.join(self.root, "boot", "config-6.1.84-1-rk2410"), text)


@pytest.fixture
def board(tmp_path):
    return Board(tmp_path)


def test_diagnose_enabled(board):
    board.psi("memory", fixture("memory-6.1"))
    status = pressure.diagnose(board.proc, board.root)
    assert status["available"] and status["state"] == "enabled"
    assert status["values"]["full"]["avg10"] == 17.52


def test_diagnose_psi_zero_on_the_command_line(board):
    board.cmdline("root=/dev/mmcblk0p2 psi=0 quiet\n")
    status = pressure.diagnose(board.proc, board.root)
    assert not status["available"] and status["state"] == "disabled"
    assert "psi=0" in status["reason"] and "psi=1" in status["hint"]
    assert status["hint"].startswith("replace psi=0 with psi=1 on the kernel command line and reboot ("), status["hint"]


def test_diagnose_radxa_bsp_default_disabled(board):
    board.config_gz("CONFIG_PSI=y\nCONFIG_PSI_DEFAULT_DISABLED=y\n")
    status = pressure.diagnose(board.proc, board.root)
    assert status["state"] == "disabled"
    assert "CONFIG_PSI_DEFAULT_DISABLED=y" in status["reason"] and "/proc/config.gz" in status["reason"]
    assert "psi=1" in status["hint"] and "armbianEnv.txt" in status["hint"]


def test_diagnose_not_compiled_from_boot_config(board):
    board.boot_config("# CONFIG_PSI is not set\nCONFIG_MEMCG=y\n")
    status = pressure.diagnose(board.proc, board.root)
    assert status["state"] == "not_compiled"
    assert "without CONFIG_PSI" in status["reason"] and "/boot/config-6.1.84-1-rk2410" in status["reason"]


def test_diagnose_missing_without_config_says_both(board):
    status = pressure.diagnose(board.proc, board.root)
    assert status["state"] == "unknown"
    assert "not built" in status["reason"] and "disabled at boot" in status["reason"]


def test_diagnose_missing_although_enabled_is_unknown(board):
    board.config_gz("CONFIG_PSI=y\nCONFIG_PSI_DEFAULT_DISABLED=y\n")
    board.cmdline("psi=1\n")
    assert pressure.diagnose(board.proc, board.root)["state"] == "unknown"


def test_diagnose_empty_file(board):
    board.psi("memory", "")
    status = pressure.diagnose(board.proc, board.root)
    assert status["state"] == "empty" and not status["available"]


def test_diagnose_eopnotsupp_is_disabled_at_boot(board, monkeypatch):
    path = board.psi("memory", fixture("memory-5.10"))
    refuse_open(monkeypatch, pressure, path, errno.EOPNOTSUPP)
    status = pressure.diagnose(board.proc, board.root)
    assert status["state"] == "disabled" and "EOPNOTSUPP" in status["reason"]
    assert "CONFIG_PSI_DEFAULT_DISABLED" in status["hint"]


def test_cmdline_last_psi_wins(board):
    board.cmdline("psi=0 foo psi=1\n")
    assert pressure.cmdline_psi(board.proc) is True


def test_stall_percent_from_total_counters():
    before = {"some": {"total": 1000000}, "full": {"total": 500000}}
    after = {"some": {"total": 3500000}, "full": {"total": 1000000}}
    # 2.5 s of some stall and 0.5 s of full stall in 10 s of wall time.
    assert pressure.stall_percent(before, after, 10.0) == {"some": 25.0, "full": 5.0}


def test_stall_percent_without_full_and_counter_reset():
    before = {"some": {"total": 900}, "full": None}
    after = {"some": {"total": 100}, "full": None}
    assert pressure.stall_percent(before, after, 1.0) == {"some": 0.0, "full": None}


def test_stall_percent_caps_at_100():
    assert pressure.stall_percent({"some": {"total": 0}}, {"some": {"total": 5000000}}, 1.0)["some"] == 100.0


def test_sample_uses_the_measured_window():
    reads = iter([
        {"some": {"total": 0}, "full": {"total": 0}},
        {"some": {"total": 2000000}, "full": {"total": 400000}},
    ])
    ticks = iter([100.0, 104.0])
    slept = []
    stalls, elapsed = pressure.sample({"memory": "/x"}, 3.0, read=lambda path: next(reads),
                                      clock=lambda: next(ticks), sleep=slept.append)
    assert slept == [3.0]
    assert elapsed == 4.0
    assert stalls == {"memory": {"some": 50.0, "full": 10.0}}


def test_check_limits_names_board_value_and_limit():
    values = pressure.parse_psi(fixture("memory-6.1"))
    violations = pressure.check_limits("rock5b-07", "memory", values, None, {"full_avg10": 5, "some_avg300": 50})
    assert len(violations) == 1
    assert violations[0]["value"] == 17.52 and violations[0]["max"] == 5
    assert violations[0]["message"] == \
        "rock5b-07: memory pressure full avg10 is 17.52%, above the limit of 5.00%"


def test_check_limits_missing_value_is_a_violation():
    values = pressure.parse_psi(fixture("cpu-5.10"))
    violations = pressure.check_limits("b1", "cpu", values, None, {"full_avg10": 5})
    assert "no full avg10 value" in violations[0]["message"]


def test_check_limits_on_sampled_values():
    values = pressure.parse_psi(fixture("memory-6.12"))
    violations = pressure.check_limits("b1", "memory", values, {"some": 1.0, "full": 7.5}, {"full_sampled": 2})
    assert violations[0]["limit"] == "full_sampled" and "7.50%" in violations[0]["message"]


def test_limit_names_are_checked():
    with pytest.raises(ValueError):
        pressure.parse_limit_name("full_avg5")
    assert pressure.parse_limit_name("some_sampled") == ("some", "sampled")


def test_explain_a_missing_resource_while_memory_psi_works(board):
    board.psi("memory", fixture("memory-6.1"))
    irq = {"irq": pressure.PsiUnavailable("missing", "/proc/pressure/irq")}
    assert pressure.explain(board.proc, board.root, irq) == (
        "unsupported_resource", "this kernel has no irq pressure (no /proc/pressure/irq)",
        "irq pressure needs Linux 6.1+ built with CONFIG_IRQ_TIME_ACCOUNTING")
    cpu = {"cpu": pressure.PsiUnavailable("missing", "/sys/fs/cgroup/a/cpu.pressure"),
           "memory": pressure.PsiUnavailable("missing", "/sys/fs/cgroup/a/memory.pressure")}
    state, reason, hint = pressure.explain(board.proc, board.root, cpu, cgroup="a")
    assert state == "unsupported_resource" and reason.startswith("cgroup a has no cpu pressure") and "4.20" in hint


def test_explain_disabled_empty_and_unreadable_files(board):
    board.psi("memory", fixture("memory-6.1"))
    disabled = {"memory": pressure.PsiUnavailable("disabled", "/sys/fs/cgroup/a/memory.pressure")}
    state, reason, hint = pressure.explain(board.proc, board.root, disabled, cgroup="a")
    assert state == "disabled" and "EOPNOTSUPP (errno 95)" in reason and hint == pressure.ENABLE_HINT
    empty = {"io": pressure.PsiUnavailable("empty", "/proc/pressure/io", "no lines")}
    state, reason, hint = pressure.explain(board.proc, board.root, empty)
    assert state == "empty" and reason == "/proc/pressure/io exists but has no PSI lines (no lines)"
    assert hint == "check the kernel; a working PSI file always has a some or full line"
    unreadable = {"io": pressure.PsiUnavailable("unreadable", "/proc/pressure/io", "Permission denied")}
    assert pressure.explain(board.proc, board.root, unreadable)[::2] == ("unreadable", "run the task as root (become: true)")


def test_explain_missing_without_system_psi_is_the_diagnosis(board):
    board.cmdline("root=/dev/mmcblk0p2 psi=0\n")
    missing = {"memory": pressure.PsiUnavailable("missing", os.path.join(board.proc, "pressure", "memory"))}
    diagnosis = pressure.diagnose(board.proc, board.root)
    assert pressure.explain(board.proc, board.root, missing) == (diagnosis["state"], diagnosis["reason"], diagnosis["hint"])
    assert diagnosis["state"] == "disabled"
