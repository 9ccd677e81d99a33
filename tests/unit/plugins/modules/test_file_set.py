"""Behaviour of rock5b.oom.file_set on a fake root."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from ansible_collections.rock5b.oom.plugins.modules import file_set
from unit_helpers import write

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
    real_run_command = file_set.AnsibleModule.run_command

    def run_command(self, args, **kwargs):  # systemctl is faked; a validate command runs
        if args[0] == "systemctl":
            return fake.run_command(args, **kwargs)
        return real_run_command(self, args, **kwargs)
    monkeypatch.setattr(file_set.AnsibleModule, "run_command", run_command)
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


def set_release(root, release):
    write(os.path.join(root.proc, "sys", "kernel", "osrelease"), release)


@pytest.mark.parametrize("release, expected", [
    ("6.1.0-28-arm64\n", "with cap\n"), ("5.10.160-rockchip\n", "with cap\n"), ("6.4.16\n", "with cap\n"),
    ("6.5.0-rc1\n", "without\n"), ("6.12.12+deb13-arm64\n", "without\n"),
    ("junk\n", "with cap\n"), ("", "with cap\n"),
])
def test_content_variant_follows_the_kernel_release(root, run_module, release, expected):
    set_release(root, release)
    files = [{"path": UNIT, "content": "with cap\n",
              "content_if": [{"fact": "psi_trigger_unprivileged", "content": "without\n"}]}]
    result = run(run_module, files=files)
    assert not result.get("failed"), result.get("msg")
    assert root.read(UNIT) == expected
    assert result["board_facts"] == {"psi_trigger_unprivileged": expected == "without\n"}


def test_no_kernel_release_keeps_the_default_content(root, run_module):
    # an unknown kernel is not known to allow unprivileged PSI triggers: the default, not a failure
    files = [{"path": UNIT, "content": "with cap\n",
              "content_if": [{"fact": "psi_trigger_unprivileged", "content": "without\n"}]}]
    result = run(run_module, files=files)
    assert root.read(UNIT) == "with cap\n" and result["board_facts"] == {"psi_trigger_unprivileged": False}


@pytest.mark.parametrize("cap_eff, release, expected", [
    (CAP_WITH_SYS_ADMIN, "6.1.0-28-arm64\n", "ns cap\n"),
    (CAP_WITHOUT_SYS_ADMIN, "6.1.0-28-arm64\n", "plain cap\n"),
    (CAP_WITH_SYS_ADMIN, "6.12.12+deb13-arm64\n", "ns\n"),
    (CAP_WITHOUT_SYS_ADMIN, "6.12.12+deb13-arm64\n", "plain\n"),
])
def test_a_variant_with_also_applies_only_when_every_fact_has_its_value(root, run_module, cap_eff, release, expected):
    set_pid1_caps(root, cap_eff)
    set_release(root, release)
    files = [{"path": UNIT, "content": "ns cap\n", "content_if": [
        {"fact": "pid1_cap_sys_admin", "value": False, "also": [{"fact": "psi_trigger_unprivileged"}], "content": "plain\n"},
        {"fact": "pid1_cap_sys_admin", "value": False, "content": "plain cap\n"},
        {"fact": "psi_trigger_unprivileged", "content": "ns\n"}]}]
    result = run(run_module, files=files)
    assert root.read(UNIT) == expected
    assert result["board_facts"] == {"pid1_cap_sys_admin": cap_eff == CAP_WITH_SYS_ADMIN,
                                     "psi_trigger_unprivileged": release.startswith("6.12")}


def test_an_unknown_fact_in_also_is_refused_before_anything(root, run_module):
    before = root.snapshot()
    result = run(run_module, files=[{"path": UNIT, "content": "a\n", "content_if": [
        {"fact": "pid1_cap_sys_admin", "also": [{"fact": "kernel_is_new"}], "content": "b\n"}]}])
    assert result["failed"] and "kernel_is_new" in result["msg"]
    assert root.snapshot() == before


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


# --- modes, links, directories: refused before the first write ---------------------------

@pytest.fixture
def writes(monkeypatch):
    """Every durable write, link and directory the module makes (to prove none was made)."""
    made = []
    for name in ("write_atomic", "symlink", "make_directory", "remove"):
        real = getattr(file_set.hostfs.HostFS, name)
        monkeypatch.setattr(file_set.hostfs.HostFS, name,
                            lambda self, path, *args, _real=real, _name=name, **kw: (made.append((_name, path)),
                                                                                     _real(self, path, *args, **kw))[1])
    return made


def test_an_int_mode_is_the_bits_yaml_read_from_an_unquoted_octal(root, run_module):
    # mode: 0644 unquoted is the int 420 by the time it reaches the module; it used to become 0420.
    result = run(run_module, files=[{"path": "/etc/a", "content": "a\n", "mode": 420},
                                    {"path": "/etc/d", "state": "directory", "mode": 0o750}])
    assert not result.get("failed") and mode(root, "/etc/a") == 0o644 and mode(root, "/etc/d") == 0o750


@pytest.mark.parametrize("value, words", [
    (644, "mode 644 is a number above 0o777"), (-420, "mode -420 is negative"), ("-0644", "mode '-0644' is negative"),
    ("10000", "mode '10000' is above 07777"), (True, "mode True is neither a string of octal digits nor a number"),
])
def test_a_mode_that_would_set_other_bits_is_refused_naming_the_entry(root, run_module, writes, value, words):
    root.write("/etc/a", "old\n")
    before = root.snapshot()
    result = run(run_module, files=[{"path": "/etc/ok", "content": "ok\n"}, {"path": "/etc/a", "content": "new\n", "mode": value}])
    assert result["failed"] and "files[1] (/etc/a): " + words in result["msg"]
    assert root.snapshot() == before and writes == []


def test_a_directory_is_never_chmodded_through_a_link(root, run_module, writes):
    os.makedirs(root.path("/srv/secret"), 0o700)
    os.chmod(root.path("/srv/secret"), 0o700)
    os.makedirs(root.path("/etc"))
    os.symlink("/srv/secret", root.path("/etc/app"))
    for path in ("/etc/app", "/etc/app/", "/etc//app/."):
        result = run(run_module, files=[{"path": "/etc/ok", "content": "ok\n"},
                                        {"path": path, "state": "directory", "mode": "0777"}])
        assert result["failed"] and "files[1] (/etc/app): is a symbolic link (to /srv/secret)" in result["msg"]
        assert "nothing was changed" in result["msg"]
        assert mode(root, "/srv/secret") == 0o700 and os.readlink(root.path("/etc/app")) == "/srv/secret"
    assert writes == [] and not root.exists("/etc/ok")


def test_dot_dot_in_a_path_is_refused(root, run_module):
    result = run(run_module, files=[{"path": "/etc/../root/x", "content": "x\n"}])
    assert result["failed"] and "files[0] (/etc/../root/x): path '/etc/../root/x' has a '..' component" in result["msg"]


@pytest.mark.parametrize("entry", [{"content": "a file\n"}, {"state": "link", "src": "/elsewhere"}])
def test_a_file_or_link_over_a_directory_is_refused_before_the_first_write(root, run_module, writes, entry):
    root.write("/etc/d/kept", "kept\n")
    root.write("/etc/first", "old\n")
    before = root.snapshot()
    result = run(run_module, files=[{"path": "/etc/first", "content": "new\n"}, dict(entry, path="/etc/d")])
    assert result["failed"] and "files[1] (/etc/d): is a directory" in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert writes == [] and root.snapshot() == before


# --- validate: the new program checks the new config; refused -> everything as it was -------

CHECKER = """import json, sys
config = json.load(open(sys.argv[-1]))
if config.get("grace", 0) > %d:
    sys.stderr.write("config error: %%s: grace: must be at most %d\\n" %% sys.argv[-1])
    sys.exit(78)
print(sys.argv[-1] + ": valid")
"""


def program_files(root, limit=60, grace=5, extra=()):
    """A program that validates its config (grace at most ``limit``), its config and its unit."""
    program = "/usr/lib/app/check.py"
    return [{"path": "/usr/lib/app", "state": "directory", "mode": "0755"},
            {"path": program, "content": CHECKER % (limit, limit)},
            {"path": "/etc/app/app.json", "json": {"grace": grace},
             "validate": "%s -I %s --validate-config %%s" % (sys.executable, root.path(program))},
            {"path": UNIT, "content": "[Service]\nExecStart=/usr/bin/app\n"}] + list(extra)


def test_validate_passes_then_everything_is_written(root, run_module, systemd):
    result = run_service(run_module, files=program_files(root))
    assert not result.get("failed") and result["files"][2]["validate"] == "passed"
    assert root.read("/etc/app/app.json") == '{\n  "grace": 5\n}\n'
    again = run_service(run_module, files=program_files(root))
    assert again["changed"] is False and again["files"][2]["validate"] == "unchanged"


def test_refused_config_leaves_every_file_as_it_was_and_does_not_restart(root, run_module, systemd):
    run_service(run_module, files=program_files(root))
    systemd.calls.clear()
    before = root.snapshot()
    # new program (limit 30) and new config (grace 90): the new program refuses it
    result = run_service(run_module, files=program_files(root, limit=30, grace=90))
    assert result["failed"] and result["msg"].startswith("/etc/app/app.json: validate ")
    assert "(exit 78): config error: /etc/app/app.json: grace: must be at most 30" in result["msg"]
    assert "Changes made before it in this run were undone." in result["msg"]
    assert root.snapshot() == before and "limit" not in root.read("/usr/lib/app/check.py")
    assert "at most 60" in root.read("/usr/lib/app/check.py")  # the old program is back
    assert systemd.verbs() == []  # no daemon-reload, no start/restart: the monitor keeps running


def test_a_new_program_refusing_the_unchanged_config_is_undone(root, run_module, systemd):
    run_service(run_module, files=program_files(root, grace=50))
    before = root.snapshot()
    systemd.calls.clear()
    result = run_service(run_module, files=program_files(root, limit=30, grace=50))
    assert result["failed"] and "grace: must be at most 30" in result["msg"]
    assert root.snapshot() == before and systemd.verbs() == []


def test_check_mode_validates_when_nothing_before_the_entry_changes(root, run_module, systemd):
    run_service(run_module, files=program_files(root))
    before = root.snapshot()
    refused = run_service(run_module, files=program_files(root, grace=90), check_mode=True)
    assert refused["failed"] and "files[2] (/etc/app/app.json): validate " in refused["msg"]
    assert "grace: must be at most 60" in refused["msg"]
    passed = run_service(run_module, files=program_files(root, grace=9), check_mode=True)
    assert passed["changed_paths"] == ["/etc/app/app.json"] and passed["files"][2]["validate"] == "passed"
    # a new program would do the checking: check mode cannot run it, and says so
    skipped = run_service(run_module, files=program_files(root, limit=30, grace=90), check_mode=True)
    assert not skipped.get("failed") and skipped["files"][2]["validate"] == "skipped"
    assert root.snapshot() == before


@pytest.mark.parametrize("entry, words", [
    ({"path": "/x", "content": "x", "validate": "/bin/check"}, "has no %s"),
    ({"path": "/x", "content": "x", "validate": "/bin/check '%s"}, "No closing quotation"),
    ({"path": "/x", "state": "directory", "validate": "/bin/check %s"}, "validate is only for state=file"),
])
def test_a_bad_validate_is_refused_before_anything(root, run_module, writes, entry, words):
    result = run(run_module, files=[{"path": "/ok", "content": "ok\n"}, entry])
    assert result["failed"] and "files[1] (/x): " in result["msg"] and words in result["msg"]
    assert writes == []


def test_a_validate_program_that_is_missing_fails_and_undoes(root, run_module, systemd):
    before = root.snapshot()
    result = run_service(run_module, files=[{"path": "/etc/first", "content": "1\n"},
                                            {"path": "/etc/x", "content": "x\n", "validate": "/nonexistent/check %s"}])
    assert result["failed"] and "/etc/x: validate '/nonexistent/check %s' cannot run" in result["msg"]
    assert root.snapshot() == before and systemd.verbs() == []
