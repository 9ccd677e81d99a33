"""killer_config: how systemd-oomd, earlyoom, nohang and the monitor are configured, on fake trees."""

from __future__ import annotations

import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import killer_config
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from unit_helpers import write


@pytest.fixture
def fs(tmp_path):
    os.makedirs(str(tmp_path / "proc"))
    return HostFS(root=str(tmp_path))


def put(fs, path, text):
    write(fs.path(path), text)


# --- systemd-oomd ---------------------------------------------------------------------------------

def test_oomd_defaults_where_no_file_sets_anything(fs):
    assert killer_config.oomd_settings(fs) == {
        "files": [],
        "settings": {"SwapUsedLimit": "90%", "DefaultMemoryPressureLimit": "60%", "DefaultMemoryPressureDurationSec": "30s"},
        "set_in": {"SwapUsedLimit": None, "DefaultMemoryPressureLimit": None, "DefaultMemoryPressureDurationSec": None},
    }


def test_oomd_later_files_win_as_systemd_reads_them(fs):
    # the main file of /etc masks the one of /usr/lib; drop-ins by name, /etc's masking /usr/lib's
    put(fs, "/usr/lib/systemd/oomd.conf", "[OOM]\nSwapUsedLimit=50%\n")
    put(fs, "/etc/systemd/oomd.conf", "[OOM]\n#SwapUsedLimit=90%\nDefaultMemoryPressureLimit=70%\n")
    put(fs, "/usr/lib/systemd/oomd.conf.d/10-vendor.conf", "[OOM]\nSwapUsedLimit=80%\nDefaultMemoryPressureDurationSec=20s\n")
    put(fs, "/usr/lib/systemd/oomd.conf.d/50-masked.conf", "[OOM]\nSwapUsedLimit=10%\n")
    put(fs, "/etc/systemd/oomd.conf.d/50-masked.conf", "[OOM]\nDefaultMemoryPressureLimit=40%\n")
    put(fs, "/etc/systemd/oomd.conf.d/90-reset.conf", "[OOM]\nDefaultMemoryPressureDurationSec=\n")
    put(fs, "/etc/systemd/oomd.conf.d/README", "[OOM]\nSwapUsedLimit=1%\n")
    facts = killer_config.oomd_settings(fs)
    assert facts["files"] == ["/etc/systemd/oomd.conf", "/usr/lib/systemd/oomd.conf.d/10-vendor.conf",
                              "/etc/systemd/oomd.conf.d/50-masked.conf", "/etc/systemd/oomd.conf.d/90-reset.conf"]
    assert facts["settings"] == {"SwapUsedLimit": "80%", "DefaultMemoryPressureLimit": "40%",
                                 "DefaultMemoryPressureDurationSec": "30s"}
    assert facts["set_in"] == {"SwapUsedLimit": "/usr/lib/systemd/oomd.conf.d/10-vendor.conf",
                               "DefaultMemoryPressureLimit": "/etc/systemd/oomd.conf.d/50-masked.conf",
                               "DefaultMemoryPressureDurationSec": None}


def test_oomd_reads_only_its_own_section(fs):
    put(fs, "/etc/systemd/oomd.conf", "[Other]\nSwapUsedLimit=5%\n[OOM]\nDefaultMemoryPressureLimit=65%\n")
    facts = killer_config.oomd_settings(fs)
    assert facts["settings"]["SwapUsedLimit"] == "90%" and facts["settings"]["DefaultMemoryPressureLimit"] == "65%"


def test_managed_oom_units_ubuntu_defaults_and_an_override(fs):
    put(fs, "/usr/lib/systemd/system/-.slice.d/10-oomd-root-slice-defaults.conf", "[Slice]\nManagedOOMSwap=kill\n")
    put(fs, "/usr/lib/systemd/system/user@.service.d/10-oomd-user-service-defaults.conf",
        "[Service]\nManagedOOMMemoryPressure=kill\nManagedOOMMemoryPressureLimit=50%\n")
    put(fs, "/usr/lib/systemd/system/user@.service", "[Service]\nExecStart=/lib/systemd/systemd --user\n")
    put(fs, "/etc/systemd/system/app.service", "[Service]\nExecStart=/bin/app\nManagedOOMPreference=avoid\n")
    put(fs, "/etc/systemd/system/app.service.d/zz.conf", "[Service]\nManagedOOMPreference=omit\n")
    # reset later: nothing left
    put(fs, "/etc/systemd/system/other.service", "[Service]\nManagedOOMPreference=avoid\n")
    put(fs, "/etc/systemd/system/other.service.d/50.conf", "[Service]\nManagedOOMPreference=\n")
    # masked: systemd does not load it
    os.makedirs(fs.path("/etc/systemd/system"), exist_ok=True)
    put(fs, "/usr/lib/systemd/system/masked.slice", "[Slice]\nManagedOOMSwap=kill\n")
    os.symlink("/dev/null", fs.path("/etc/systemd/system/masked.slice"))
    put(fs, "/usr/lib/systemd/system/plain.service", "[Service]\nExecStart=/bin/true\n")
    assert killer_config.managed_oom_units(fs) == {
        "-.slice": {"ManagedOOMSwap": "kill"},
        "app.service": {"ManagedOOMPreference": "omit"},
        "user@.service": {"ManagedOOMMemoryPressure": "kill", "ManagedOOMMemoryPressureLimit": "50%"},
    }


# --- earlyoom ---------------------------------------------------------------------------------------

def test_earlyoom_arguments_in_every_spelling():
    facts = killer_config.parse_earlyoom_args(
        ["/usr/bin/earlyoom", "-r", "3600", "-m", "5", "-s10,3", "-M", "409600,204800", "--avoid", "(^|/)(sshd|systemd)$",
         "--prefer=(^|/)(chromium)$", "-n", "--dryrun"])
    assert (facts["mem_term_percent"], facts["mem_kill_percent"]) == (5, 2.5)
    assert (facts["swap_term_percent"], facts["swap_kill_percent"]) == (10, 3)
    assert (facts["mem_term_kib"], facts["mem_kill_kib"]) == (409600, 204800)
    assert facts["swap_term_kib"] is None and facts["swap_kill_kib"] is None
    assert facts["avoid"] == "(^|/)(sshd|systemd)$" and facts["prefer"] == "(^|/)(chromium)$"
    assert facts["ignore"] is None and facts["dryrun"] is True
    assert facts["other"] == ["-r", "3600", "-n"]


def test_earlyoom_without_arguments_and_with_garbage():
    facts = killer_config.parse_earlyoom_args(["earlyoom"])
    assert all(facts[field] is None for field in killer_config.EARLYOOM_FIELDS)
    assert facts["other"] == [] and facts["dryrun"] is False
    broken = killer_config.parse_earlyoom_args(["earlyoom", "-m", "lots", "-s", "nan", "-S"])
    assert broken["mem_term_percent"] is None and broken["mem_kill_percent"] is None
    assert broken["swap_term_percent"] is None and broken["swap_term_kib"] is None


def test_parse_tuple():
    assert killer_config.parse_tuple("10") == (10, 5)
    assert killer_config.parse_tuple("4.5,1") == (4.5, 1)
    assert killer_config.parse_tuple("7") == (7, 3.5)
    assert killer_config.parse_tuple(",3") == (None, 3)
    assert killer_config.parse_tuple(None) == (None, None)


# --- nohang and the whole ---------------------------------------------------------------------------

def test_nohang_config_from_its_arguments_else_the_first_default_that_exists(fs):
    argv = ["/usr/bin/python3", "/usr/sbin/nohang", "--monitor", "--config", "/etc/nohang/nohang-desktop.conf"]
    assert killer_config.nohang_config_path(fs, argv) == "/etc/nohang/nohang-desktop.conf"
    assert killer_config.nohang_config_path(fs, ["python3", "nohang", "-c/etc/x.conf"]) == "/etc/x.conf"
    assert killer_config.nohang_config_path(fs, ["python3", "nohang", "--config=/etc/y.conf"]) == "/etc/y.conf"
    assert killer_config.nohang_config_path(fs, ["python3", "nohang", "--monitor"]) is None
    put(fs, "/etc/nohang/nohang.conf", "warning_threshold_min_mem = 20 %\n")
    assert killer_config.nohang_config_path(fs, ["python3", "nohang", "--monitor"]) == "/etc/nohang/nohang.conf"


def test_killer_config_only_for_the_running_killers(fs):
    write(os.path.join(fs.proc, "612", "cmdline"), "/usr/bin/earlyoom\0-m\0 4\0--avoid\0(^|/)(sshd process)$\0")
    write(os.path.join(fs.proc, "700", "cmdline"), "/usr/bin/python3\0/usr/sbin/nohang\0--monitor\0")
    processes = {
        612: {"comm": "earlyoom", "unit": "earlyoom.service"},
        700: {"comm": "nohang", "unit": "nohang.service"},
        800: {"comm": "python3", "unit": "rock5b-oom-monitor.service"},
    }
    monitor = {"state": "active", "metrics_path": "/run/m.prom", "warn_bytes": 2, "critical_bytes": 1, "level": "ok"}
    config = killer_config.killer_config(fs, processes, ["rock5b-oom-monitor", "earlyoom", "nohang"], monitor,
                                         "/etc/rock5b-oom/monitor.json")
    assert sorted(config) == ["earlyoom", "nohang", "rock5b-oom-monitor"]
    assert config["rock5b-oom-monitor"] == {"config": "/etc/rock5b-oom/monitor.json", "metrics_path": "/run/m.prom",
                                            "warn_bytes": 2, "critical_bytes": 1}
    # one argument with a space stays one argument
    assert config["earlyoom"]["args"] == ["-m", " 4", "--avoid", "(^|/)(sshd process)$"]
    assert config["earlyoom"]["pid"] == 612 and config["earlyoom"]["mem_term_percent"] == 4
    assert config["earlyoom"]["avoid"] == "(^|/)(sshd process)$"
    assert config["nohang"] == {"pid": 700, "args": ["/usr/sbin/nohang", "--monitor"], "config": None}
    assert killer_config.killer_config(fs, processes, [], monitor) == {}


def test_a_killer_whose_process_vanished_has_no_arguments(fs):
    processes = {612: {"comm": "earlyoom", "unit": "earlyoom.service"}}
    config = killer_config.killer_config(fs, processes, ["earlyoom"], {})
    assert config["earlyoom"]["pid"] == 612 and config["earlyoom"]["args"] == []
    assert config["earlyoom"]["mem_term_percent"] is None


def test_systemd_oomd_config_with_its_managed_units(fs):
    put(fs, "/etc/systemd/oomd.conf.d/50-rock5b.conf", "[OOM]\nSwapUsedLimit=75%\n")
    put(fs, "/etc/systemd/system/rock5b.slice.d/50-oomd.conf", "[Slice]\nManagedOOMMemoryPressure=kill\n")
    processes = {300: {"comm": "systemd-oomd", "unit": "systemd-oomd.service"}}
    config = killer_config.killer_config(fs, processes, ["systemd-oomd"], {})
    assert config["systemd-oomd"]["settings"]["SwapUsedLimit"] == "75%"
    assert config["systemd-oomd"]["set_in"]["SwapUsedLimit"] == "/etc/systemd/oomd.conf.d/50-rock5b.conf"
    assert config["systemd-oomd"]["managed_units"] == {"rock5b.slice": {"ManagedOOMMemoryPressure": "kill"}}
