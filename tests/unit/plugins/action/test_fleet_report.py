"""rock5b.oom.fleet_report: the report dict (the contract with report_page.render) from fake hostvars.

The page renderer (plugins/module_utils/report_page.py) is another part of the work: every
test here replaces it with a stub that records the report it was given, so these tests
check the data, and that the action writes what the renderer returns.
"""

from __future__ import annotations

import importlib
import json
import os
from unittest import mock

import pytest

from ansible.errors import AnsibleActionFail
from ansible_collections.rock5b.oom.plugins.module_utils import report_page

NOW = 1800000000.0  # 2027-01-15T08:00:00+00:00
HOUR, DAY = 3600, 86400
SCHEMA_KEYS = {
    "name", "reachable", "reason", "ram_bytes", "mem_available_bytes", "mem_available_percent", "swap_total_bytes",
    "swap_used_bytes", "zram_total_bytes", "zram_used_bytes", "psi", "commit_limit_bytes", "committed_as_bytes",
    "oom_kills_since_boot", "oom_kills_24h", "oom_kills_7d", "victims", "kill_times", "monitor", "killers",
    "warn_bytes", "critical_bytes", "drift",
}


class StubRenderer:
    """Records what is rendered; the page's rule of a board in trouble stays the real one."""

    board_problems = staticmethod(report_page.board_problems)

    def __init__(self):
        self.reports = []

    def render(self, report):
        self.reports.append(report)
        return "<!DOCTYPE html><title>%d boards</title>\n" % len(report["boards"])


@pytest.fixture
def fleet_report(monkeypatch):
    """The action module with its renderer stubbed."""
    stub = StubRenderer()
    module = importlib.import_module("ansible_collections.rock5b.oom.plugins.action.fleet_report")
    monkeypatch.setattr(module, "report_page", stub)
    module.stub = stub
    return module


def event(age_s, comm, pid, memcg=None, rss=(1000, 200, 0)):
    return {"time": "t-%d" % age_s, "timestamp": NOW - age_s, "kind": "memcg" if memcg else "global",
            "task_memcg": memcg, "oom_memcg": memcg,
            "victim": {"pid": pid, "comm": comm, "anon_rss_kb": rss[0], "file_rss_kb": rss[1], "shmem_rss_kb": rss[2]}}


def facts(**changes):
    """A collected board: 4 GB, zram swap, PSI on, an active monitor at ok, no OOM kill."""
    rock5b_oom = {
        "memory": {"mem_total_kb": 4000000, "mem_available_kb": 3000000, "mem_free_kb": 2000000,
                   "committed_as_kb": 900000, "commit_limit_kb": 4000000, "swap_total_kb": 2000000,
                   "swap_free_kb": 1900000, "mem_available_percent": 75.0},
        "swap": [{"path": "/dev/zram0", "size_kb": 2000000, "used_kb": 100000, "zram": True}],
        "zram": [{"device": "zram0", "disksize_kb": 2000000, "orig_data_kb": 120000, "used_as_swap": True}],
        "psi": {"available": True, "state": "enabled",
                "memory": {"some": {"avg10": 1.5, "avg60": 0.5, "avg300": 0.1, "total": 5},
                           "full": {"avg10": 0.25, "avg60": 0.0, "avg300": 0.0, "total": 1}}},
        "vmstat": {"oom_kill": 0},
        "oom_events": [],
        "oom_log": {"source": "journal", "error": None},
        "killers": ["rock5b-oom-monitor"],
        "monitor": {"unit": "rock5b-oom-monitor.service", "state": "active", "level": "ok", "status": "ok: 2.9 GiB",
                    "actions": {}, "last_action": None, "warn_bytes": 209715200, "critical_bytes": 104857600},
    }
    rock5b_oom.update(changes)
    return {"rock5b_oom_report_reach": {"ping": "pong", "changed": False},
            "audit_oom_facts": {"changed": False, "ansible_facts": {"rock5b_oom": rock5b_oom}},
            "audit_findings": []}


def fleet():
    """board-clean; board-drifted (PSI off, kills in and out of the windows, earlyoom too);
    board-down (unreachable); board-failed (reached, audit failed); board-outside (not in the run)."""
    drifted = facts(
        psi={"available": False, "state": "disabled", "memory": None, "reason": "psi=0"},
        vmstat={"oom_kill": 7},
        oom_events=[event(10 * DAY, "old", 1), event(3 * DAY, "python3", 2201, "/system.slice/sensor.service"),
                    event(2 * HOUR, "ffmpeg", 1877), event(HOUR, "chrome", 3000, rss=(None, None, None))],
        killers=["rock5b-oom-monitor", "earlyoom"],
        monitor={"state": "active", "level": "warn", "status": "warn: 150 MiB", "warn_bytes": 209715200,
                 "critical_bytes": 104857600, "actions": {"drop_caches failed": 2, "kill ok": 1},
                 "last_action": {"action": "kill", "target": "ffmpeg (pid 1877)", "time": NOW - 2 * HOUR}},
    )
    drifted["audit_findings"] = ["live vm.panic_on_oom = 1, profile says 0"]
    return {
        "board-clean": facts(),
        "board-drifted": drifted,
        "board-down": {"rock5b_oom_report_reach": {"unreachable": True, "changed": False,
                                                   "msg": "Failed to connect to the host via ssh: Connection refused"}},
        "board-failed": {"rock5b_oom_report_reach": {"ping": "pong"}},
        "board-outside": {"audit_findings": []},
    }


def build(module, hostvars=None):
    hostvars = fleet() if hostvars is None else hostvars
    return module.build_report(list(hostvars), hostvars, NOW, "inventory/lab", "0.1.0")


def by_name(report):
    return dict((board["name"], board) for board in report["boards"])


def test_every_board_of_the_run_sorted_with_the_schema_keys(fleet_report):
    report = build(fleet_report)
    assert set(report) == {"generated", "inventory", "collection_version", "boards", "summary"}
    assert report["generated"] == "2027-01-15T08:00:00+00:00"
    assert (report["inventory"], report["collection_version"]) == ("inventory/lab", "0.1.0")
    assert [b["name"] for b in report["boards"]] == ["board-clean", "board-down", "board-drifted", "board-failed"]
    for board in report["boards"]:
        assert set(board) == SCHEMA_KEYS, board["name"]
        assert set(board["monitor"]) == {"state", "level", "status", "last_action"}


def test_a_clean_board_in_bytes(fleet_report):
    board = by_name(build(fleet_report))["board-clean"]
    assert (board["reachable"], board["reason"], board["drift"]) == (True, None, [])
    assert board["ram_bytes"] == 4000000 * 1024 and board["mem_available_bytes"] == 3000000 * 1024
    assert board["mem_available_percent"] == 75.0
    assert (board["swap_total_bytes"], board["swap_used_bytes"]) == (2000000 * 1024, 100000 * 1024)
    assert (board["zram_total_bytes"], board["zram_used_bytes"]) == (2000000 * 1024, 120000 * 1024)
    assert (board["commit_limit_bytes"], board["committed_as_bytes"]) == (4000000 * 1024, 900000 * 1024)
    assert board["psi"] == {"some_avg10": 1.5, "some_avg60": 0.5, "full_avg10": 0.25, "full_avg60": 0.0}
    assert (board["oom_kills_since_boot"], board["oom_kills_24h"], board["oom_kills_7d"]) == (0, 0, 0)
    assert board["victims"] == [] and board["kill_times"] == []
    assert board["monitor"] == {"state": "active", "level": "ok", "status": "ok: 2.9 GiB", "last_action": None}
    assert (board["warn_bytes"], board["critical_bytes"]) == (209715200, 104857600)
    assert board["killers"] == ["rock5b-oom-monitor"]


def test_drift_psi_off_and_kills_in_the_24h_and_7d_windows(fleet_report):
    board = by_name(build(fleet_report))["board-drifted"]
    assert board["drift"] == ["live vm.panic_on_oom = 1, profile says 0"]
    assert board["psi"] is None
    assert (board["oom_kills_since_boot"], board["oom_kills_24h"], board["oom_kills_7d"]) == (7, 2, 3)
    # every kill of the last 7 days, oldest first; the 10-day-old one is left out
    assert board["kill_times"] == ["2027-01-12T08:00:00+00:00", "2027-01-15T06:00:00+00:00", "2027-01-15T07:00:00+00:00"]
    assert [v["comm"] for v in board["victims"]] == ["chrome", "ffmpeg", "python3", "old"]
    chrome, ffmpeg, python3 = board["victims"][:3]
    assert chrome == {"comm": "chrome", "pid": 3000, "rss_bytes": None, "time": "t-3600", "cgroup": None}
    assert ffmpeg["rss_bytes"] == 1200 * 1024
    assert python3["cgroup"] == "/system.slice/sensor.service"


def test_the_monitors_last_action_with_its_target_and_time_and_its_counters_in_the_status(fleet_report):
    board = by_name(build(fleet_report))["board-drifted"]
    assert board["monitor"] == {
        "state": "active", "level": "warn", "status": "warn: 150 MiB; actions since start: drop_caches failed 2, kill ok 1",
        "last_action": {"action": "kill", "target": "ffmpeg (pid 1877)", "time": "2027-01-15T06:00:00+00:00"}}


def test_unreachable_and_failed_boards_have_a_reason_and_no_figures(fleet_report):
    boards = by_name(build(fleet_report))
    down, failed = boards["board-down"], boards["board-failed"]
    assert down["reachable"] is False and "Connection refused" in down["reason"]
    assert failed["reachable"] is True and "audit did not finish" in failed["reason"]
    for board in (down, failed):
        assert board["ram_bytes"] is None and board["psi"] is None and board["oom_kills_7d"] is None
        assert board["drift"] == [] and board["killers"] == [] and board["victims"] == []
        assert board["monitor"] == {"state": "absent", "level": None, "status": None, "last_action": None}


def test_a_failed_reach_or_facts_task_gives_its_message(fleet_report):
    hostvars = {"a": {"rock5b_oom_report_reach": {"failed": True, "msg": "/usr/bin/python3: not found"}},
                "b": dict(facts(), audit_oom_facts={"failed": True, "msg": "since: not a time"})}
    boards = by_name(build(fleet_report, hostvars))
    assert (boards["a"]["reachable"], boards["a"]["reason"]) == (True, "/usr/bin/python3: not found")
    assert (boards["b"]["reachable"], boards["b"]["reason"]) == (True, "since: not a time")


def test_summary_counts(fleet_report):
    assert build(fleet_report)["summary"] == {
        "boards": 4, "drifted": 1, "unreachable": 1, "under_pressure": 1, "oom_kills_24h": 2, "oom_kills_7d": 3,
        "without_psi": 1, "killers": {"rock5b-oom-monitor": 2, "earlyoom": 1},
    }


def test_under_pressure_by_level_threshold_or_psi(fleet_report):
    low = facts(monitor={"state": "inactive", "level": None, "warn_bytes": 4 << 30, "critical_bytes": 1 << 30})
    psi = facts(psi={"available": True, "memory": {"some": {"avg10": 12.0, "avg60": 3.0}, "full": {"avg10": 2.0, "avg60": 1.0}}})
    calm = facts(monitor={"state": "absent", "level": None})
    summary = build(fleet_report, {"low": low, "psi": psi, "calm": calm})["summary"]
    assert summary["under_pressure"] == 2 and summary["without_psi"] == 0
    at_warn = facts(monitor={"state": "active", "level": "ok", "warn_bytes": 3000000 * 1024, "critical_bytes": 1 << 20})
    assert build(fleet_report, {"at": at_warn})["summary"]["under_pressure"] == 0  # at the threshold is not below it


def test_an_unreadable_kernel_log_leaves_the_window_counts_unknown(fleet_report):
    hostvars = {"a": facts(oom_log={"source": "dmesg", "error": "dmesg_restrict"}, vmstat={"oom_kill": 3})}
    board = build(fleet_report, hostvars)["boards"][0]
    assert board["oom_kills_since_boot"] == 3
    assert board["oom_kills_24h"] is None and board["oom_kills_7d"] is None
    assert build(fleet_report, hostvars)["summary"]["oom_kills_7d"] == 0


def test_at_most_five_victims_newest_first(fleet_report):
    events = [event(HOUR * (10 - i), "p%d" % i, 100 + i) for i in range(9)]
    board = build(fleet_report, {"a": facts(oom_events=events)})["boards"][0]
    assert [v["pid"] for v in board["victims"]] == [108, 107, 106, 105, 104]
    assert board["oom_kills_24h"] == 9 and len(board["kill_times"]) == 9


def test_zram_used_falls_back_to_its_swap_without_mm_stat(fleet_report):
    hostvars = {"a": facts(zram=[{"device": "zram0", "disksize_kb": 1000, "orig_data_kb": None}]),
                "b": facts(zram=[], swap=[])}
    boards = by_name(build(fleet_report, hostvars))
    assert (boards["a"]["zram_total_bytes"], boards["a"]["zram_used_bytes"]) == (1000 * 1024, 100000 * 1024)
    assert (boards["b"]["zram_total_bytes"], boards["b"]["zram_used_bytes"]) == (0, 0)


def test_the_report_is_plain_json(fleet_report):
    report = build(fleet_report)
    assert json.loads(json.dumps(report)) == report


@pytest.mark.parametrize("value, words", [
    ("", "must not be empty"), ("   ", "must not be empty"), (None, "not NoneType"), (["a"], "not list"),
    ("out\n", "line break"), (" out", "leading or trailing"),
])
def test_report_dir_problems(fleet_report, value, words):
    assert words in fleet_report.report_dir_problem(value)


def test_report_dir_accepts_relative_absolute_and_refuses_a_file(fleet_report, tmp_path):
    assert fleet_report.report_dir_problem("rock5b-oom-report") is None
    assert fleet_report.report_dir_problem(str(tmp_path / "new" / "dir")) is None
    (tmp_path / "file").write_text("x")
    assert "not a directory" in fleet_report.report_dir_problem(str(tmp_path / "file"))


def run_action(module, args, task_vars):
    task = mock.MagicMock(args=args, async_val=0, check_mode=False, diff=False)
    task.get_validated_value.return_value = None
    action = module.ActionModule(task, mock.MagicMock(), mock.MagicMock(check_mode=False), loader=None,
                                 templar=None, shared_loader_obj=None)
    return action.run(task_vars=task_vars)


def test_the_action_writes_json_and_the_rendered_page(fleet_report, tmp_path):
    dest = tmp_path / "out" / "report"
    result = run_action(fleet_report, {"dest": str(dest), "hosts": list(fleet())},
                        {"hostvars": fleet(), "ansible_inventory_sources": ("/inv/a.yml", "/inv/b.yml")})  # a tuple, as Ansible gives it
    assert result["changed"] is True and result["report_dir"] == str(dest)
    written = json.loads((dest / "report.json").read_text())
    assert written == fleet_report.stub.reports[0]
    assert written["inventory"] == "/inv/a.yml, /inv/b.yml"
    assert written["collection_version"] and written["summary"] == result["summary"]
    assert (dest / "index.html").read_text() == "<!DOCTYPE html><title>4 boards</title>\n"
    assert sorted(os.listdir(dest)) == ["index.html", "report.json"]


def test_validate_only_writes_nothing_and_a_bad_dir_fails_before_rendering(fleet_report, tmp_path):
    result = run_action(fleet_report, {"dest": str(tmp_path / "r"), "validate_only": True}, {})
    assert result["changed"] is False and not (tmp_path / "r").exists()
    with pytest.raises(AnsibleActionFail, match="rock5b_oom_report_dir must not be empty"):
        run_action(fleet_report, {"dest": "", "hosts": []}, {"hostvars": {}})
    assert fleet_report.stub.reports == []


def test_a_renderer_failure_writes_neither_file(fleet_report, tmp_path, monkeypatch):
    def broken(report):
        raise ValueError("renderer bug")
    monkeypatch.setattr(fleet_report.stub, "render", broken)
    with pytest.raises(ValueError):
        fleet_report.write_report(str(tmp_path), build(fleet_report))
    assert os.listdir(tmp_path) == []


def test_the_real_renderer_takes_the_report(tmp_path):
    """The contract both sides keep: report_page.render accepts what build_report makes, for
    every kind of board (clean, drifted with kills, unreachable, failed)."""
    from ansible_collections.rock5b.oom.plugins.action import fleet_report
    from ansible_collections.rock5b.oom.plugins.module_utils import report_page
    assert fleet_report.report_page is report_page
    json_path, html_path = fleet_report.write_report(str(tmp_path), build(fleet_report))
    page = open(html_path).read()
    assert page.lstrip().lower().startswith("<!doctype html")
    for name in ("board-clean", "board-down", "board-drifted", "board-failed"):
        assert name in page
    assert json.load(open(json_path))["summary"]["boards"] == 4
