"""Choosing and reading the kernel log through a module's runner (module_utils/kernel_log_source.py)."""

from __future__ import annotations

import io
import os
import sys

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import kernel_log_source as source
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from unit_helpers import FakeProcess, fixture_reader

fixture = fixture_reader("oom")
BOOT = 1714550000.0


class FakeModule:
    """get_bin_path, and the commands it runs answering from the kernel log fixtures."""

    def __init__(self):
        self.ran = []
        self.bins = {"journalctl": "/usr/bin/journalctl", "dmesg": "/usr/bin/dmesg"}
        self.answers = {
            "journalctl": (0, fixture("journal-6.1-debian12.json"), ""),
            "dmesg --time-format iso": (0, fixture("dmesg-6.12-debian13.txt"), ""),
            "dmesg": (0, fixture("dmesg-5.10-rk35xx.txt"), ""),
        }

    def get_bin_path(self, name, required=False):
        if self.bins.get(name) is None and required:
            raise AssertionError("required %s is missing" % name)
        return self.bins.get(name)

    def popen(self, args, stdin=None, stdout=None, stderr=None, env=None):
        assert env["LC_ALL"] == "C"
        self.ran.append(list(args))
        words = [os.path.basename(args[0])] + list(args[1:])
        rc, out, err = self.answers["journalctl" if words[0] == "journalctl" else " ".join(words)]
        if "--reverse" in args and isinstance(out, str):
            out = "".join(reversed(out.splitlines(True)))
        stderr.write(err.encode())
        self.processes.append(FakeProcess(rc, io.BytesIO(out.encode()) if isinstance(out, str) else out))
        return self.processes[-1]


@pytest.fixture
def module(monkeypatch):
    fake = FakeModule()
    fake.processes = []
    monkeypatch.setattr(source, "POPEN", fake.popen)
    return fake


@pytest.fixture
def fs(tmp_path):
    return HostFS(root=str(tmp_path))


def journald(fs):
    os.makedirs(fs.path(source.JOURNAL_DIR))


def test_journal_available_needs_journalctl_and_journald(module, fs):
    assert source.journal_available(module, fs) is False
    journald(fs)
    assert source.journal_available(module, fs) is True
    del module.bins["journalctl"]
    assert source.journal_available(module, fs) is False


def test_read_journal_this_boot_and_since(module):
    records, error = source.read_journal(module, "boot", BOOT)
    assert error is None and records and module.ran[0][-1] == "--dmesg"
    source.read_journal(module, "-1h", 1714555000.5)
    assert module.ran[1][-2:] == ["_TRANSPORT=kernel", "--since=@1714555000"]
    source.read_journal(module, "all", None)
    assert module.ran[2][-1] == "_TRANSPORT=kernel"


def test_read_journal_failure_names_the_command(module):
    module.answers["journalctl"] = (1, "", "Failed to parse --output-fields\n")
    records, error = source.read_journal(module, "boot", BOOT)
    assert records is None
    assert error == ("/usr/bin/journalctl --no-pager --quiet --output=json --output-fields=MESSAGE,_BOOT_ID "
                     "--reverse --dmesg failed (rc 1): Failed to parse --output-fields")


def test_read_dmesg_falls_back_to_raw_times_from_the_boot_time(module):
    module.answers["dmesg --time-format iso"] = (1, "", "dmesg: unrecognized option '--time-format'")
    reading, error = source.read_dmesg(module, BOOT)
    assert error is None and module.ran == [["/usr/bin/dmesg", "--time-format", "iso"], ["/usr/bin/dmesg"]]
    assert reading["events"] and all(event["timestamp"] is None or event["timestamp"] >= BOOT for event in reading["events"])


def test_read_dmesg_restricted_and_missing(module):
    denied = (1, "", "dmesg: read kernel buffer failed: Operation not permitted")
    module.answers["dmesg --time-format iso"] = module.answers["dmesg"] = denied
    records, error = source.read_dmesg(module, BOOT)
    assert records is None and error.endswith("(kernel.dmesg_restrict is set: use become)")
    del module.bins["dmesg"]
    assert source.read_dmesg(module, BOOT) == (None, "dmesg is not installed")


def test_oom_log_auto_prefers_journald(module, fs):
    journald(fs)
    events, facts, warnings = source.oom_log(module, fs, "auto", "boot", BOOT)
    assert facts == {"source": "journal", "since": "2024-05-01T07:53:20+00:00", "error": None, "events": 2,
                     "events_total": 2, "truncated": False, "bytes_read": len(fixture("journal-6.1-debian12.json")),
                     "max_events": 50, "max_bytes": 16 << 20}
    assert len(events) == 2 and warnings == []


def test_oom_log_auto_without_journald_reads_dmesg(module, fs):
    events, facts, warnings = source.oom_log(module, fs, "auto", "all", BOOT)
    assert facts["source"] == "dmesg" and facts["since"] is None and len(events) == 3 and warnings == []


def test_oom_log_journal_failure_falls_back_with_a_warning(module, fs):
    journald(fs)
    module.answers["journalctl"] = (1, "", "boom")
    _events, facts, warnings = source.oom_log(module, fs, "auto", "all", BOOT)
    assert facts["source"] == "dmesg" and warnings[0].endswith("failed (rc 1): boom; reading dmesg instead")


def test_oom_log_unreadable_log_is_a_warning_not_a_failure(module, fs):
    del module.bins["dmesg"]
    events, facts, warnings = source.oom_log(module, fs, "dmesg", "boot", BOOT)
    assert events == [] and facts["error"] == "dmesg is not installed"
    assert warnings == ["OOM events left out: dmesg is not installed"]


def test_oom_log_none_reads_nothing(module, fs):
    events, facts, warnings = source.oom_log(module, fs, "none", "boot", BOOT)
    assert (events, facts["source"], facts["events"], warnings, module.ran) == ([], "none", 0, [], [])


def test_oom_log_fails_on_a_bad_since_and_a_missing_journalctl(module, fs):
    with pytest.raises(ModuleError, match="^since: "):
        source.oom_log(module, fs, "auto", "last tuesday", BOOT)
    with pytest.raises(ModuleError, match="^since: since=boot needs the boot time"):
        source.oom_log(module, fs, "dmesg", "boot", None)
    del module.bins["journalctl"]
    with pytest.raises(ModuleError, match="journalctl is not installed"):
        source.oom_log(module, fs, "journal", "boot", BOOT)


def test_an_age_before_1970_reads_the_whole_journal(module, fs):
    journald(fs)
    events, facts, _warnings = source.oom_log(module, fs, "journal", "-30000d", BOOT)
    assert module.ran[0][-1] == "--since=@0" and facts["since"].startswith("19") and len(events) == 2


def test_command_lines_reads_a_real_command_line_by_line_and_stops_at_max_bytes():
    endless = [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('kernel: noise line\\n')"]
    output = source.CommandLines(endless, 4096)
    lines = list(output)
    assert output.capped is True and output.rc == 0 and output.failure() is None
    assert output.bytes_read == sum(len(line) for line in lines) <= 4096 and len(lines) == 4096 // 19
    finished = source.CommandLines([sys.executable, "-c", "import sys; print('a'); print('b'); sys.stderr.write('warn')"], 4096)
    assert list(finished) == ["a\n", "b\n"] and (finished.capped, finished.rc, finished.err) == (False, 0, "warn")
    failed = source.CommandLines([sys.executable, "-c", "import sys; sys.stderr.write('Operation not permitted'); sys.exit(1)"], 4096)
    assert list(failed) == [] and failed.failure().endswith("failed (rc 1): Operation not permitted")


def test_a_huge_dmesg_is_read_up_to_max_bytes_with_a_warning(module, fs):
    line = "2025-09-14T12:00:00,000000+02:00 usb 1-1: new high-speed USB device number 2 using xhci-hcd\n"
    module.answers["dmesg --time-format iso"] = (0, fixture("dmesg-6.12-debian13.txt") + line * 2000, "")
    events, facts, warnings = source.oom_log(module, fs, "dmesg", "all", BOOT, max_events=2, max_bytes=65536)
    assert facts["truncated"] is True and 65536 - len(line) < facts["bytes_read"] <= 65536
    assert (facts["events"], facts["events_total"]) == (2, 3) and module.processes[0].killed is True
    assert [event["victim"]["comm"] for event in events] == ["recorder", "Isolated Web Co"]
    assert warnings == ["the dmesg holds more than max_bytes=65536 bytes of kernel log; only the oldest were read, "
                        "and newer OOM events may be missing"]
