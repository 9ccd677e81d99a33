"""The converged board's low-memory monitor (rock5b.oom.monitor).

In these containers /proc/sys is read-only (drop_caches fails, counted and logged once),
systemd lacks CAP_SYS_ADMIN (the role leaves PrivateTmp= and friends out: auto-detected) and
CAP_SYS_RESOURCE (systemd skips OOMScoreAdjust=-1000 and starts the unit anyway), and PSI is
the host kernel's, present or not.
"""

import json
import os
import time

import pytest

UNIT = "rock5b-oom-monitor.service"
INSTALL_DIR = "/usr/lib/rock5b-oom"
ENTRY = INSTALL_DIR + "/main.py"  # puts INSTALL_DIR on sys.path and imports the rock5b_oom_monitor package
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
with open(os.path.join(REPO, "roles", "monitor", "files", "manifest.json")) as _handle:
    MANIFEST = json.load(_handle)["files"]
CONFIG = "/etc/rock5b-oom/monitor.json"
METRICS = "/var/lib/prometheus/node-exporter/rock5b_oom_monitor.prom"
# The boards whose monitor_backend runs the monitor's unit; on the others (board-2: earlyoom)
# its files are installed and its unit stopped (test_monitor_backend.py checks that).
RUNS_THE_MONITOR = pytest.mark.board_vars(monitor_backend="rock5b")


def show(host, *props):
    out = host.check_output("systemctl show -p %s %s" % (",".join(props), UNIT))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_the_files_of_the_manifest_are_installed(host):
    """Every file of roles/monitor/files/manifest.json, as it is in the collection; nothing else."""
    for entry in MANIFEST:
        installed = host.file("%s/%s" % (INSTALL_DIR, entry["dest"]))
        assert installed.is_file and installed.mode == 0o644 and installed.user == "root", entry["dest"]
        with open(os.path.join(REPO, entry["src"])) as handle:
            assert installed.content_string == handle.read(), entry["dest"]
    for name in ("rock5b_oom_monitor.py", "meminfo.py", "pressure.py", "processes.py"):
        assert not host.file("%s/%s" % (INSTALL_DIR, name)).exists
    assert host.file(ENTRY).mode == 0o644
    check = host.run("/usr/local/sbin/rock5b-oom-monitor --check")
    assert "files:      %s as manifest.json lists them" % INSTALL_DIR in check.stdout, check.stdout
    command = host.file("/usr/local/sbin/rock5b-oom-monitor")
    assert command.mode == 0o755 and ENTRY in command.content_string
    assert host.run("/usr/local/sbin/rock5b-oom-monitor --version").stdout.startswith("rock5b-oom-monitor ")


@RUNS_THE_MONITOR
def test_unit_installed_enabled_running_ready(host):
    service = host.service(UNIT)
    assert service.is_enabled
    state = show(host, "ActiveState", "SubState", "StatusText", "NRestarts", "Type", "Result")
    assert state["Type"] == "notify"
    assert (state["ActiveState"], state["SubState"]) == ("active", "running"), state
    assert state["NRestarts"] == "0" and state["Result"] == "success"
    # READY=1 carried a status; the monitor updates it with its level.
    assert state["StatusText"].split(":")[0] in ("ok", "warn", "critical"), state["StatusText"]
    assert "available" in state["StatusText"]


@RUNS_THE_MONITOR  # WatchdogUSec is the running unit's (infinity while stopped)
def test_unit_settings(host):
    state = show(host, "Restart", "WatchdogUSec", "MemoryMax", "MemoryLow", "NoNewPrivileges", "ProtectSystem",
                 "ProtectHome", "RestrictAddressFamilies", "CapabilityBoundingSet", "ProtectKernelTunables",
                 "OOMScoreAdjust", "RestartPreventExitStatus")
    assert state["Restart"] == "always"
    assert state["WatchdogUSec"] in ("30s", "30000000")
    assert int(state["MemoryMax"]) == 64 * 1024 * 1024 and int(state["MemoryLow"]) == 32 * 1024 * 1024
    assert state["NoNewPrivileges"] == "yes" and state["ProtectSystem"] == "strict" and state["ProtectHome"] == "yes"
    assert state["RestrictAddressFamilies"] == "AF_UNIX"
    assert "cap_kill" not in state["CapabilityBoundingSet"]  # kill is off by default
    assert "cap_sys_admin" not in state["CapabilityBoundingSet"]
    assert state["ProtectKernelTunables"] == "no"  # drop_caches is on by default
    # -1000 from the unit and from protect_daemons' drop-in alike
    assert int(state["OOMScoreAdjust"]) == -1000
    assert "78" in state["RestartPreventExitStatus"]


def test_config_contents(host):
    config_file = host.file(CONFIG)
    assert config_file.mode == 0o644 and config_file.user == "root"
    config = json.loads(config_file.content_string)
    assert config["warn"] == "200M" and config["critical"] == "100M"
    assert config["drop_caches"] == {"enabled": True, "interval_s": 300, "value": 3}
    assert config["kill"]["enabled"] is False
    assert "rock5b-oom-monitor.service" in config["protect"]["units"]
    assert config["metrics"]["path"] == METRICS
    assert host.run("rock5b-oom-monitor --validate-config %s" % CONFIG).rc == 0


@RUNS_THE_MONITOR
def test_metrics_file_is_written(host):
    deadline = time.time() + 60
    while not host.file(METRICS).exists and time.time() < deadline:
        time.sleep(2)
    text = host.file(METRICS).content_string
    assert "rock5b_oom_monitor_available_bytes " in text
    assert "rock5b_oom_monitor_level " in text
    assert 'rock5b_oom_monitor_events_total{event="warn"}' in text
    assert 'rock5b_oom_monitor_actions_total{action="drop_caches",result="failed"}' in text
    assert host.file(METRICS).mode == 0o644


def test_check_mode_prints_the_state(host):
    result = host.run("rock5b-oom-monitor --check")
    assert result.rc in (0, 1, 2), result.stderr
    for label in ("level:", "available:", "thresholds:", "PSI:", "actions:", "protected:"):
        assert label in result.stdout
    assert "warn below 200 MiB" in result.stdout


@RUNS_THE_MONITOR
def test_started_record_in_the_journal(host):
    out = host.check_output("journalctl -u %s -o json --no-pager ROCK5B_OOM_EVENT=start" % UNIT)
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert records, "no start record"
    assert records[-1]["SYSLOG_IDENTIFIER"] == "rock5b-oom-monitor" and records[-1]["PRIORITY"] == "6"
    assert records[-1]["ROCK5B_OOM_WARN_KB"] == "204800"
    # How the monitor wakes (PSI trigger, or the fallback said once) is logged once per start.
    modes = host.check_output("journalctl -u %s -o json --no-pager ROCK5B_OOM_EVENT=psi_mode" % UNIT)
    assert modes.strip()


def test_bad_config_is_reported_clearly(host):
    host.run("printf '{\"warn\": \"100M\", \"critical\": \"200M\"}' > /tmp/bad-monitor.json")
    result = host.run("rock5b-oom-monitor --validate-config /tmp/bad-monitor.json")
    assert result.rc == 78 and "critical (200M) must be below warn (100M)" in result.stderr


@RUNS_THE_MONITOR
@pytest.mark.parametrize("setting", ["PrivateTmp", "PrivateDevices"])
def test_namespaces_match_what_systemd_can_do(host, setting):
    cap_eff = int(host.check_output("awk '/^CapEff:/ {print $2}' /proc/1/status"), 16)
    expected = "yes" if cap_eff >> 21 & 1 else "no"
    assert show(host, setting)[setting] == expected


# board-1's host_vars in molecule.yml: monitor_node_exporter true, listen address 127.0.0.1:9109.
NODE_EXPORTER = "prometheus-node-exporter.service"
NODE_EXPORTER_DROPIN = "/etc/systemd/system/prometheus-node-exporter.service.d/rock5b-oom.conf"
NODE_EXPORTER_URL = "http://127.0.0.1:9109/metrics"


@pytest.mark.board_vars(monitor_node_exporter=True)
def test_node_exporter_serves_the_monitors_metrics_on_its_port(host):
    """The role's drop-in points Debian's exporter at the monitor's directory and port 9109."""
    assert host.package("prometheus-node-exporter").is_installed
    assert not host.package("prometheus-node-exporter-collectors").is_installed  # no recommends
    unit = host.service(NODE_EXPORTER)
    assert unit.is_enabled and unit.is_running
    assert host.file(NODE_EXPORTER_DROPIN).mode == 0o644
    drop_ins = host.check_output("systemctl show -p DropInPaths --value %s" % NODE_EXPORTER)
    assert NODE_EXPORTER_DROPIN in drop_ins
    scrape = ("import sys, time, urllib.request\n"
              "for attempt in range(30):\n"
              "    try:\n"
              "        sys.stdout.write(urllib.request.urlopen(%r, timeout=10).read().decode()); break\n"
              "    except OSError:\n"
              "        time.sleep(2)\n" % NODE_EXPORTER_URL)
    text = host.check_output("python3 -c %s", scrape)
    lines = text.splitlines()
    assert "node_textfile_scrape_error 0" in lines, [line for line in lines if "textfile" in line]
    assert any(line.startswith("rock5b_oom_monitor_level ") for line in lines), text[-2000:]
    assert any(line.startswith("rock5b_oom_monitor_last_update_timestamp_seconds ") for line in lines)
    # Debian's own port is not served: the flag in the drop-in is the one in effect.
    assert host.run("python3 -c %s", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/', timeout=5)").rc != 0

