"""Behaviour of rock5b.oom.file_set on a fake root."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.rock5b.oom.plugins.modules import file_set

FILES = [
    {"path": "/usr/lib/app", "state": "directory", "mode": "0755"},
    {"path": "/usr/lib/app/app.py", "content": "print('hi')\n", "mode": "0755"},
    {"path": "/etc/app/app.json", "content": "{}\n"},
    {"path": "/usr/local/bin/app", "state": "link", "src": "/usr/lib/app/app.py"},
]


@pytest.fixture
def root(host_fs):
    return host_fs


def run(run_module, files=None, **kwargs):
    return run_module(file_set, {"files": FILES if files is None else files}, **kwargs)


def mode(root, path):
    return stat.S_IMODE(os.lstat(root.path(path)).st_mode)


def test_creates_everything_then_changes_nothing(root, run_module):
    result = run(run_module)
    assert result["changed_paths"] == [entry["path"] for entry in FILES]
    assert root.read("/usr/lib/app/app.py") == "print('hi')\n" and mode(root, "/usr/lib/app/app.py") == 0o755
    assert root.read("/etc/app/app.json") == "{}\n" and mode(root, "/etc/app/app.json") == 0o644
    assert os.readlink(root.path("/usr/local/bin/app")) == "/usr/lib/app/app.py"
    assert run(run_module)["changed"] is False


def test_check_mode_predicts_and_writes_nothing(root, run_module):
    before = root.snapshot()
    predicted = run(run_module, check_mode=True)
    assert root.snapshot() == before and not root.exists("/etc/app")
    assert predicted["changed_paths"] == run(run_module)["changed_paths"]


def test_content_mode_and_link_drift_are_corrected(root, run_module):
    run(run_module)
    root.write("/etc/app/app.json", '{"edited": true}\n')
    os.chmod(root.path("/usr/lib/app/app.py"), 0o600)
    os.unlink(root.path("/usr/local/bin/app"))
    os.symlink("/elsewhere", root.path("/usr/local/bin/app"))
    result = run(run_module, diff=True)
    assert result["changed_paths"] == ["/usr/lib/app/app.py", "/etc/app/app.json", "/usr/local/bin/app"]
    assert {"before": '{"edited": true}\n', "after": "{}\n"}.items() <= result["diff"][1].items()
    assert run(run_module)["changed"] is False
    assert mode(root, "/usr/lib/app/app.py") == 0o755


def test_existing_mode_is_not_kept_over_the_wanted_one(root, run_module):
    root.write("/etc/app/app.json", "old\n")
    os.chmod(root.path("/etc/app/app.json"), 0o600)
    run(run_module, files=[{"path": "/etc/app/app.json", "content": "{}\n", "mode": "0640"}])
    assert mode(root, "/etc/app/app.json") == 0o640


def test_absent_removes_files_and_directories(root, run_module):
    run(run_module)
    result = run(run_module, files=[{"path": "/etc/app", "state": "absent"},
                                    {"path": "/usr/local/bin/app", "state": "absent"}])
    assert result["changed_paths"] == ["/etc/app", "/usr/local/bin/app"]
    assert not root.exists("/etc/app") and not os.path.lexists(root.path("/usr/local/bin/app"))


@pytest.mark.parametrize("files, message", [
    ([{"path": "relative/x", "content": ""}], "path must be absolute"),
    ([{"path": "/x"}], "a file needs content"),
    ([{"path": "/x", "state": "link"}], "a link needs src"),
    ([{"path": "/x", "content": "", "mode": "rw-r--r--"}], "is not octal"),
    ([{"path": "/x", "content": "", "owner": "nobody-here"}], "no such owner/group"),
    ([{"path": "/x", "content": ""}, {"path": "/x", "content": "2"}], "listed twice"),
])
def test_invalid_entries_change_nothing(root, run_module, files, message):
    before = root.snapshot()
    result = run(run_module, files=[{"path": "/ok", "content": "fine\n"}] + files)
    assert result["failed"] and message in result["msg"]
    assert root.snapshot() == before and not root.exists("/ok")


# --- json, content_if, service ---------------------------------------------

UNIT = "/etc/systemd/system/app.service"
SERVICE = {"name": "app.service"}
CAP_WITH_SYS_ADMIN = "000001ffffffffff"  # full set: bit 21 (CAP_SYS_ADMIN) on
CAP_WITHOUT_SYS_ADMIN = "00000000a80425fb"  # podman's default set: bit 21 off


class FakeSystemd:
    """systemctl show/daemon-reload/enable/disable/start/stop against a dict of units."""

    def __init__(self, root):
        self.root = root
        self.known = {}  # name -> {"enabled": bool, "active": bool}; loaded at daemon-reload
        self.calls = []
        self.fail = None  # a verb that fails

    def run_command(self, args, **_kwargs):
        self.calls.append(list(args))
        verb, rest = args[1], [arg for arg in args[2:] if arg != "--"]
        if verb == self.fail:
            return 1, "", "Failed to %s: boom" % verb
        if verb == "daemon-reload":
            for name in os.listdir(self.root.path("/etc/systemd/system")):
                self.known.setdefault(name, {"enabled": False, "active": False})
            return 0, "", ""
        if verb == "show":
            unit = self.known.get(rest[-1])
            if unit is None:
                return 0, "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n", ""
            return 0, "LoadState=loaded\nActiveState=%s\nUnitFileState=%s\n" % (
                "active" if unit["active"] else "inactive", "enabled" if unit["enabled"] else "disabled"), ""
        unit = self.known.get(rest[0])
        if unit is None:
            return 5, "", "Unit %s not found." % rest[0]
        key, value = {"enable": ("enabled", True), "disable": ("enabled", False),
                      "start": ("active", True), "stop": ("active", False)}[verb]
        unit[key] = value
        return 0, "", ""

    def verbs(self):
        return [call[1] for call in self.calls if call[1] != "show"]


@pytest.fixture
def systemd(root, monkeypatch):
    fake = FakeSystemd(root)
    monkeypatch.setattr(file_set.AnsibleModule, "run_command", lambda self, args, **kw: fake.run_command(args, **kw))
    monkeypatch.setattr(file_set.AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: name)
    return fake


def set_pid1_caps(root, cap_eff):
    os.makedirs(os.path.join(root.proc, "1"))
    with open(os.path.join(root.proc, "1", "status"), "w") as handle:
        handle.write("Name:\tsystemd\nCapInh:\t0000000000000000\nCapEff:\t%s\nCapBnd:\t%s\n" % (cap_eff, cap_eff))


def without_namespaces(content):
    """content_if: ``content`` where PID 1 lacks CAP_SYS_ADMIN."""
    return [{"fact": "pid1_cap_sys_admin", "value": False, "content": content}]


def unit_files(unit_text="[Service]\nExecStart=/usr/bin/app\n"):
    return [{"path": "/usr/lib/app/app.py", "content": "print('hi')\n"},
            {"path": UNIT, "content": unit_text}]


def run_service(run_module, files=None, service=None, **kwargs):
    return run_module(file_set, {"files": unit_files() if files is None else files,
                                 "service": SERVICE if service is None else service}, **kwargs)


def test_json_is_written_as_to_nice_json_text(root, run_module):
    data = {"b": 1, "a": {"z": [1, 2], "y": None}, "c": True, "d": 0.5, "e": "é"}
    run(run_module, files=[{"path": "/etc/app.json", "json": data}])
    assert root.read("/etc/app.json") == (
        '{\n  "a": {\n    "y": null,\n    "z": [\n      1,\n      2\n    ]\n  },\n  "b": 1,\n'
        '  "c": true,\n  "d": 0.5,\n  "e": "\\u00e9"\n}\n')
    assert run(run_module, files=[{"path": "/etc/app.json", "json": data}])["changed"] is False


@pytest.mark.parametrize("cap_eff, expected", [(CAP_WITH_SYS_ADMIN, "sandboxed\n"),
                                               (CAP_WITHOUT_SYS_ADMIN, "plain\n")])
def test_content_variant_follows_pid1_cap_sys_admin(root, run_module, cap_eff, expected):
    set_pid1_caps(root, cap_eff)
    files = [{"path": UNIT, "content": "sandboxed\n", "content_if": without_namespaces("plain\n")}]
    result = run(run_module, files=files)
    assert root.read(UNIT) == expected
    assert result["board_facts"]["pid1_cap_sys_admin"] is (expected == "sandboxed\n")
    assert run(run_module, files=files)["changed"] is False


def test_unreadable_pid1_status_fails_and_changes_nothing(root, run_module):
    before = root.snapshot()
    result = run(run_module, files=[{"path": "/ok", "content": "x\n"},
                                    {"path": UNIT, "content": "a\n", "content_if": without_namespaces("b\n")}])
    assert result["failed"] and "CapEff of PID 1" in result["msg"]
    assert root.snapshot() == before and not root.exists("/ok")


def test_service_installed_reloaded_enabled_started_then_nothing(root, run_module, systemd):
    result = run_service(run_module)
    assert result["changed"] and result["service"] == {
        "name": "app.service", "changed": True, "daemon_reload": True,
        "enabled": {"before": False, "after": True}, "active": {"before": False, "after": True}}
    assert systemd.verbs() == ["daemon-reload", "enable", "start"]
    assert systemd.known["app.service"] == {"enabled": True, "active": True}
    systemd.calls.clear()
    again = run_service(run_module)
    assert again["changed"] is False and again["service"]["changed"] is False
    assert systemd.verbs() == []


def test_check_mode_predicts_a_fresh_install_and_runs_nothing(root, run_module, systemd):
    before = root.snapshot()
    predicted = run_service(run_module, check_mode=True, diff=True)
    assert root.snapshot() == before and systemd.verbs() == []
    assert predicted["changed"] and predicted["service"]["daemon_reload"]
    assert predicted["diff"][-1]["before"] == "enabled: False\nactive: False\n"
    assert predicted["diff"][-1]["after"] == "enabled: True\nactive: True\ndaemon-reload: yes\n"
    real_run = run_service(run_module)
    assert predicted["service"] == real_run["service"]
    assert predicted["changed_paths"] == real_run["changed_paths"]


def test_daemon_reload_only_when_a_unit_file_changed(root, run_module, systemd):
    run_service(run_module)
    systemd.calls.clear()
    result = run_service(run_module, files=[{"path": "/usr/lib/app/app.py", "content": "print('new')\n"},
                                            {"path": UNIT, "content": "[Service]\nExecStart=/usr/bin/app\n"}])
    assert result["changed_paths"] == ["/usr/lib/app/app.py"] and result["service"]["daemon_reload"] is False
    assert "daemon-reload" not in systemd.verbs()
    result = run_service(run_module, files=[{"path": "/usr/lib/app/app.py", "content": "print('new')\n"},
                                            {"path": UNIT, "content": "[Service]\nExecStart=/usr/bin/app --v\n"}])
    assert result["changed_paths"] == [UNIT] and systemd.verbs() == ["daemon-reload"]


def test_stopped_and_disabled_service_is_predicted_then_corrected(root, run_module, systemd):
    run_service(run_module)
    systemd.known["app.service"].update(enabled=False, active=False)
    systemd.calls.clear()
    predicted = run_service(run_module, check_mode=True)
    assert predicted["changed"] and predicted["changed_paths"] == [] and systemd.verbs() == []
    assert predicted["service"]["active"] == {"before": False, "after": True}
    result = run_service(run_module)
    assert result["service"] == predicted["service"] and systemd.verbs() == ["enable", "start"]
    assert run_service(run_module)["changed"] is False


def test_service_stopped_and_disabled_on_request(root, run_module, systemd):
    run_service(run_module)
    systemd.calls.clear()
    result = run_service(run_module, service={"name": "app.service", "enabled": False, "state": "stopped"})
    assert result["changed"] and systemd.verbs() == ["disable", "stop"]
    assert run_service(run_module, service={"name": "app.service", "enabled": False,
                                            "state": "stopped"})["changed"] is False


def test_invalid_entries_with_service_touch_neither_files_nor_systemd(root, run_module, systemd):
    before = root.snapshot()
    result = run_service(run_module, files=unit_files() + [{"path": "/x", "content": "a", "json": {}}])
    assert result["failed"] and "mutually exclusive" in result["msg"]
    assert root.snapshot() == before and systemd.calls == []


def test_failing_systemctl_fails_the_task(root, run_module, systemd):
    systemd.fail = "start"
    result = run_service(run_module)
    assert result["failed"] and "systemctl start app.service failed" in result["msg"]


def test_content_if_first_matching_variant_wins_and_value_defaults_to_true(root, run_module):
    set_pid1_caps(root, CAP_WITH_SYS_ADMIN)
    files = [{"path": UNIT, "content": "plain\n", "content_if": [
        {"fact": "pid1_cap_sys_admin", "value": False, "content": "never\n"},
        {"fact": "pid1_cap_sys_admin", "content": "first\n"},
        {"fact": "pid1_cap_sys_admin", "content": "second\n"}]}]
    result = run(run_module, files=files)
    assert root.read(UNIT) == "first\n" and result["board_facts"] == {"pid1_cap_sys_admin": True}
    assert "board_facts" not in run(run_module)


def test_content_if_without_content_is_refused(root, run_module):
    set_pid1_caps(root, CAP_WITH_SYS_ADMIN)
    result = run(run_module, files=[{"path": "/x", "state": "directory", "content_if": without_namespaces("b\n")}])
    assert result["failed"] and "content_if goes with content (state=file)" in result["msg"]


def test_all_problems_of_all_entries_are_listed(root, run_module):
    result = run(run_module, files=[{"path": "relative", "content": "", "mode": "9"},
                                    {"path": "/y", "state": "link"}])
    assert result["errors"] == ["files[0] (relative): path must be absolute",
                                "files[0] (relative): mode '9' is not octal",
                                "files[1] (/y): a link needs src"]


def test_a_failing_entry_undoes_the_earlier_ones(root, run_module):
    root.write("/etc/app/app.json", "old\n")
    os.chmod(root.path("/etc/app/app.json"), 0o600)
    root.write("/etc/blocker", "a file where a directory is needed\n")
    before = root.snapshot()
    result = run(run_module, files=[{"path": "/etc/app/new.conf", "content": "new\n"},
                                    {"path": "/etc/app/app.json", "content": "{}\n"},
                                    {"path": "/usr/local/bin/app", "state": "link", "src": "/x"},
                                    {"path": "/etc/blocker/x.conf", "content": "x\n"}])
    assert result["failed"] and result["msg"].startswith("/etc/blocker/x.conf: cannot write")
    assert "Changes made before it in this run were undone." in result["msg"]
    assert root.snapshot() == before and mode(root, "/etc/app/app.json") == 0o600
    assert not os.path.lexists(root.path("/usr/local/bin/app"))
