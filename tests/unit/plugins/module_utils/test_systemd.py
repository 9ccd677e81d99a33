"""systemd layer: how systemctl is called and how its failures read."""

from __future__ import annotations

import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import systemd
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from ansible_collections.rock5b.oom.plugins.module_utils.systemd import Systemctl
from unit_helpers import FakeModule


def test_unit_names_follow_a_double_dash():
    module = FakeModule()
    Systemctl(module).start("-app.service")
    assert module.calls == [["systemctl", "start", "--", "-app.service"]]


def test_a_failure_names_the_command_without_the_double_dash():
    module = FakeModule(rc=1, err="Failed to start app.service: boom\n")
    with pytest.raises(ModuleError) as caught:
        Systemctl(module).start("app.service")
    assert caught.value.msg == "systemctl start app.service failed: Failed to start app.service: boom"


def test_run_puts_the_double_dash_before_every_unit_and_assignment():
    module = FakeModule()
    systemctl = Systemctl(module)
    systemctl.set_property("-x.slice", ["MemoryMax=1G"])
    systemctl.show("ssh.service", ["MainPID"])
    systemctl.daemon_reload()
    assert module.calls == [
        ["systemctl", "set-property", "--runtime", "--", "-x.slice", "MemoryMax=1G"],
        ["systemctl", "show", "--no-pager", "-pMainPID", "--", "ssh.service"],
        ["systemctl", "daemon-reload"],
    ]


# --- unit files and drop-ins on a fake root (what oom_score_adj moved here) -----------------------

@pytest.fixture
def fs(tmp_path):
    return HostFS(root=str(tmp_path))


def put(fs, path, text=""):
    full = fs.path(path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def link(fs, path, target):
    os.makedirs(os.path.dirname(fs.path(path)), exist_ok=True)
    os.symlink(target, fs.path(path))


def test_resolve_unit_follows_an_alias_symlink_to_its_canonical_name(fs):
    put(fs, "/lib/systemd/system/ssh.service", "[Service]\n")
    link(fs, "/etc/systemd/system/sshd.service", "/lib/systemd/system/ssh.service")
    assert systemd.resolve_unit(fs, "sshd.service") == {
        "name": "sshd.service", "canonical": "ssh.service", "exists": True, "masked": False,
        "path": "/etc/systemd/system/sshd.service"}
    os.unlink(fs.path("/etc/systemd/system/sshd.service"))
    link(fs, "/etc/systemd/system/sshd.service", "../../../lib/systemd/system/ssh.service")
    assert systemd.resolve_unit(fs, "sshd.service")["canonical"] == "ssh.service"


def test_resolve_unit_masked_and_missing(fs):
    put(fs, "/lib/systemd/system/cron.service", "[Service]\n")
    link(fs, "/etc/systemd/system/cron.service", "/dev/null")
    assert systemd.resolve_unit(fs, "cron.service") == {
        "name": "cron.service", "canonical": "cron.service", "exists": True, "masked": True,
        "path": "/etc/systemd/system/cron.service"}
    assert systemd.resolve_unit(fs, "nginx.service") == {
        "name": "nginx.service", "canonical": "nginx.service", "exists": False, "masked": False, "path": None}


@pytest.mark.parametrize("links", [
    {"/etc/systemd/system/a.service": "b.service", "/etc/systemd/system/b.service": "a.service"},
    {"/etc/systemd/system/a.service": "a.service"},
    {"/etc/systemd/system/a.service": "/lib/systemd/system/b.service",
     "/lib/systemd/system/b.service": "/usr/lib/systemd/system/c.service",
     "/usr/lib/systemd/system/c.service": "../../../../etc/systemd/system/a.service"},
])
def test_resolve_unit_refuses_an_alias_loop_naming_the_unit(fs, links):
    for path, target in links.items():
        link(fs, path, target)
    with pytest.raises(ModuleError) as caught:
        systemd.resolve_unit(fs, "a.service")
    assert "a.service" in caught.value.msg and "loop" in caught.value.msg
    assert "/etc/systemd/system/a.service" in caught.value.msg


def test_resolve_unit_refuses_an_endless_alias_chain(fs):
    for number in range(50):
        link(fs, "/etc/systemd/system/u%d.service" % number, "u%d.service" % (number + 1))
    put(fs, "/etc/systemd/system/u50.service", "[Service]\n")
    with pytest.raises(ModuleError, match="u0.service"):
        systemd.resolve_unit(fs, "u0.service")
    # A chain of a few aliases is fine.
    assert systemd.resolve_unit(fs, "u45.service")["canonical"] == "u50.service"


def test_slice_names_follow_systemds_rule():
    for name in ("-.slice", "a.slice", "a-b.slice", "rock5b-untrusted.slice", "a-b-c.slice"):
        assert systemd.valid_slice(name), name
    for name in ("a--b.slice", "-a.slice", "a-.slice", "-", ".slice", "a.service", "a b.slice", "a.slice\n"):
        assert not systemd.valid_slice(name), name


def test_resolve_unit_of_a_template_instance_finds_the_template(fs):
    put(fs, "/usr/lib/systemd/system/getty@.service", "[Service]\n")
    info = systemd.resolve_unit(fs, "getty@tty1.service")
    assert info["exists"] and info["path"] == "/usr/lib/systemd/system/getty@.service"
    assert info["canonical"] == "getty@tty1.service"  # a template is not an alias
    # Higher precedence wins: /etc before /usr/lib.
    put(fs, "/etc/systemd/system/getty@tty1.service", "[Service]\n")
    assert systemd.resolve_unit(fs, "getty@tty1.service")["path"] == "/etc/systemd/system/getty@tty1.service"


def test_dropin_sources_in_the_order_systemd_applies_them(fs):
    put(fs, "/lib/systemd/system/getty@.service", "[Service]\n")
    put(fs, "/lib/systemd/system/getty@.service.d/20-vendor.conf")
    put(fs, "/etc/systemd/system/getty@tty1.service.d/10-local.conf")
    put(fs, "/etc/systemd/system/getty@tty1.service.d/notes.txt")  # not a .conf: ignored
    put(fs, "/run/systemd/system/service.d/30-all.conf")
    # The same name higher in the search path masks the one further down.
    put(fs, "/usr/lib/systemd/system/getty@.service.d/10-local.conf")
    info = systemd.resolve_unit(fs, "getty@tty1.service")
    assert systemd.dropin_sources(fs, info) == [
        {"path": "/lib/systemd/system/getty@.service", "name": None},
        {"path": "/etc/systemd/system/getty@tty1.service.d/10-local.conf", "name": "10-local.conf"},
        {"path": "/lib/systemd/system/getty@.service.d/20-vendor.conf", "name": "20-vendor.conf"},
        {"path": "/run/systemd/system/service.d/30-all.conf", "name": "30-all.conf"},
    ]


def test_dropin_sources_of_an_alias_and_of_a_masked_unit(fs):
    put(fs, "/lib/systemd/system/ssh.service", "[Service]\n")
    link(fs, "/etc/systemd/system/sshd.service", "ssh.service")
    put(fs, "/etc/systemd/system/sshd.service.d/a.conf")
    put(fs, "/etc/systemd/system/ssh.service.d/b.conf")
    info = systemd.resolve_unit(fs, "sshd.service")
    assert [source["name"] for source in systemd.dropin_sources(fs, info)] == [None, "a.conf", "b.conf"]
    link(fs, "/etc/systemd/system/cron.service", "/dev/null")
    put(fs, "/etc/systemd/system/cron.service.d/x.conf")
    masked = systemd.resolve_unit(fs, "cron.service")
    assert systemd.dropin_sources(fs, masked) == [
        {"path": "/etc/systemd/system/cron.service.d/x.conf", "name": "x.conf"}]  # no unit file


def test_section_value_is_the_last_assignment_of_that_section():
    text = ("[Unit]\nOOMScoreAdjust=5\n[Service]\n# OOMScoreAdjust=-1\n; OOMScoreAdjust=-2\n"
            "  OOMScoreAdjust = -100 \nOOMScoreAdjust=-900\n[Install]\nOOMScoreAdjust=7\n")
    assert systemd.section_value(text, "Service", "OOMScoreAdjust") == "-900"
    assert systemd.section_value("[Service]\nOOMScoreAdjust=\n", "Service", "OOMScoreAdjust") == ""  # a reset
    assert systemd.section_value("[Unit]\nOOMScoreAdjust=5\n", "Service", "OOMScoreAdjust") is None
    assert systemd.section_value(None, "Service", "OOMScoreAdjust") is None


def test_parse_dropin_reads_assignments_last_wins():
    text = "# comment\n; other\n[Slice]\nMemoryMax=1G\nMemoryHigh = 800M\nMemoryMax=2G\nnot an assignment\n"
    assert systemd.parse_dropin(text) == {"MemoryMax": "2G", "MemoryHigh": "800M"}
    assert systemd.parse_dropin(None) == {}


@pytest.mark.parametrize("name, valid", [
    ("50-oom-score-adj.conf", True), ("a@b_c.d-e.conf", True),
    ("x.conf\n", False), ("../x.conf", False), ("x.conf/y.conf", False), ("x.cfg", False), (".conf", False),
    ("", False), (None, False),
])
def test_valid_dropin_name(name, valid):
    assert systemd.valid_dropin_name(name) is valid


def test_header_render_and_dropin_path():
    head = systemd.header("oom_score_adj", "protect_daemons_list", what="the score")
    assert head == ("# Managed by Ansible (rock5b.oom.oom_score_adj). Local edits are overwritten on the next run;\n"
                    "# set the score through the protect_daemons_list variable instead.\n")
    assert systemd.render_dropin(head, "Service", [("OOMScoreAdjust", "-900")]) == head + "[Service]\nOOMScoreAdjust=-900\n"
    assert systemd.dropin_path("ssh.service", "x.conf") == "/etc/systemd/system/ssh.service.d/x.conf"
