"""Behaviour of rock5b.oom.oom_score_adj against a fake board's /proc and unit files."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import hostfs, oom_score, oom_score_apply, selection
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import processes
from ansible_collections.rock5b.oom.plugins.modules import oom_score_adj

# CapEff of root on a board, and of root in a podman container (no CAP_SYS_RESOURCE, bit 24).
CAPS_ALL = "000001ffffffffff"
CAPS_CONTAINER = "00000000a80425fb"


class FakeProcesses:
    """Writes /proc/<pid>/{stat,comm,cmdline,cgroup,oom_score_adj} and /proc/self/status."""

    def __init__(self, host):
        self.host = host
        self.proc = host.proc
        self.set_caps(CAPS_ALL)

    def set_caps(self, cap_eff):
        os.makedirs(os.path.join(self.proc, "self"), exist_ok=True)
        with open(os.path.join(self.proc, "self", "status"), "w") as handle:
            handle.write("Name:\tpython3\nCapInh:\t0000000000000000\nCapPrm:\t%s\nCapEff:\t%s\n" % (cap_eff, cap_eff))

    def add(self, pid, comm, ppid=1, cmdline=None, unit=None, score=0, cgroup=None, kthread=False,
            state="S", starttime=None):
        base = os.path.join(self.proc, str(pid))
        os.makedirs(base, exist_ok=True)
        flags = 0x00200000 if kthread else 0x00400100
        starttime = pid * 10 if starttime is None else starttime
        self._write(pid, "stat", "%d (%s) %s %d %d %d 0 -1 %d 100 0 0 0 5 3 0 0 20 0 1 0 %d 10000 300 "
                    "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n"
                    % (pid, comm[:15], state, ppid, pid, pid, flags, starttime))
        self._write(pid, "comm", comm[:15] + "\n")
        if cmdline is None:
            cmdline = [] if kthread else [comm]
        self._write(pid, "cmdline", "".join(arg + "\0" for arg in cmdline))
        if cgroup is None:
            cgroup = "0::/%s\n" % ("system.slice/" + unit if unit else "init.scope" if pid == 1 else "")
        self._write(pid, "cgroup", cgroup)
        self.set_score(pid, score)
        return pid

    def _write(self, pid, name, text):
        with open(os.path.join(self.proc, str(pid), name), "w") as handle:
            handle.write(text)

    def set_score(self, pid, score):
        self._write(pid, "oom_score_adj", "%d\n" % score)

    def score(self, pid):
        with open(os.path.join(self.proc, str(pid), "oom_score_adj")) as handle:
            return int(handle.read())

    def remove(self, pid):
        shutil.rmtree(os.path.join(self.proc, str(pid)))

    def reuse(self, pid, comm):
        """Another process gets ``pid``: same directory, another start time."""
        self.add(pid, comm, starttime=pid * 10 + 99999)


@pytest.fixture
def procs(fake_host):
    return FakeProcesses(fake_host)


SSH_UNIT = """\
[Unit]
Description=OpenBSD Secure Shell server

[Service]
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
KillMode=process
Type=notify

[Install]
WantedBy=multi-user.target
Alias=sshd.service
"""
MOSQUITTO_DROPIN = "/etc/systemd/system/mosquitto.service.d/50-oom-score-adj.conf"
SSH_DROPIN = "/etc/systemd/system/ssh.service.d/50-oom-score-adj.conf"


def dropin(value):
    return ("# Managed by Ansible (rock5b.oom.oom_score_adj). Local edits are overwritten on the next run;\n"
            "# set the score through the protect_daemons_list variable instead.\n"
            "[Service]\nOOMScoreAdjust=%d\n" % value)


@pytest.fixture
def board(fake_host, procs, monkeypatch):
    """A Debian board: sshd with one login, cron, mosquitto, a browser, kernel threads; the
    module runs as pid 4000 from the login's shell (906 <- 905 <- 900, session-3.scope)."""
    hostfs.configure(root=fake_host.root, proc=fake_host.proc)
    monkeypatch.setattr(selection, "SELF_PID", 4000)
    session = "0::/user.slice/user-1000.slice/session-3.scope\n"
    procs.add(1, "systemd", ppid=0, cmdline=["/sbin/init"])
    procs.add(2, "kthreadd", ppid=0, kthread=True)
    procs.add(30, "kworker/0:1-sshd", ppid=2, kthread=True)
    # sshd set its own listener to -1000 (OpenSSH's oom_adjust_setup) ...
    procs.add(412, "sshd", unit="ssh.service", score=-1000,
              cmdline=["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"])
    # ... and gave the login it forked the score it started with.
    procs.add(900, "sshd", ppid=412, cgroup=session, cmdline=["sshd: pi [priv]"])
    procs.add(905, "sshd", ppid=900, cgroup=session, cmdline=["sshd: pi@pts/0"])
    procs.add(906, "bash", ppid=905, cgroup=session, cmdline=["-bash"])
    procs.add(950, "sshd", ppid=412, unit="ssh.service", cmdline=["sshd: unknown [preauth]"])
    procs.add(520, "cron", unit="cron.service", cmdline=["/usr/sbin/cron", "-f"])
    procs.add(700, "mosquitto", unit="mosquitto.service",
              cmdline=["/usr/sbin/mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"])
    procs.add(1500, "chromium", ppid=906, cgroup=session,
              cmdline=["/usr/lib/chromium/chromium", "--enable-features=X"])
    procs.add(1501, "chromium", ppid=1500, cgroup=session,
              cmdline=["/usr/lib/chromium/chromium", "--type=renderer"], score=300)
    procs.add(1600, "defunct", ppid=906, cgroup=session, state="Z", cmdline=[])
    procs.add(4000, "python3", ppid=906, cgroup=session, cmdline=["/usr/bin/python3", "AnsiballZ_oom_score_adj.py"])
    fake_host.write("/lib/systemd/system/ssh.service", SSH_UNIT)
    fake_host.write("/lib/systemd/system/cron.service", "[Service]\nExecStart=/usr/sbin/cron -f\n")
    fake_host.write("/lib/systemd/system/mosquitto.service", "[Service]\nExecStart=/usr/sbin/mosquitto\n")
    os.makedirs(fake_host.path("/etc/systemd/system"))
    # Debian links it absolutely; relative here, so FakeHost.snapshot() stays inside the tree.
    os.symlink("../../../lib/systemd/system/ssh.service", fake_host.path("/etc/systemd/system/sshd.service"))
    yield fake_host
    hostfs.configure()


@pytest.fixture
def run(run_module):
    def call(check_mode=False, diff=False, **args):
        return run_module(oom_score_adj, args, check_mode=check_mode, diff=diff)
    return call


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def scores(procs, *pids):
    return [procs.score(pid) for pid in pids]


def by_pid(result):
    return dict((entry["pid"], entry) for entry in result["processes"])


# --- selectors ------------------------------------------------------------------------------

def test_comm_sets_every_matching_process_and_reports_before_and_after(board, procs, run):
    result = ok(run(comm="mosquitto", value=-900))
    assert result["changed"] is True
    assert result["processes"] == [{
        "pid": 700, "comm": "mosquitto", "unit": "mosquitto.service", "target": "the target",
        "value": -900, "before": 0, "after": -900, "changed": True, "skipped": None}]
    assert procs.score(700) == -900


def test_second_run_changes_nothing(board, procs, run):
    ok(run(comm="chromium", value=800))
    result = ok(run(comm="chromium", value=800))
    assert result["changed"] is False
    assert [entry["changed"] for entry in result["processes"]] == [False, False]


def test_only_changed_processes_count(board, procs, run):
    procs.set_score(1500, 800)
    result = ok(run(comm="chromium", value=800))
    assert result["changed"] is True
    assert [(entry["pid"], entry["changed"]) for entry in result["processes"]] == [(1500, False), (1501, True)]


def test_pattern_searches_the_command_line(board, procs, run):
    result = ok(run(pattern=r"--type=renderer", value=1000))
    assert list(by_pid(result)) == [1501]
    assert procs.score(1501) == 1000 and procs.score(1500) == 0


def test_pattern_never_selects_kernel_threads_zombies_or_the_module_itself(board, procs, run):
    result = ok(run(pattern=r"^", state="query"))
    pids = list(by_pid(result))
    assert 2 not in pids and 30 not in pids and 1600 not in pids and 4000 not in pids
    # The guards of selection.select: never PID 1, never the module's chain (the login it runs
    # from); the sshd listener that forked that login (ssh.service) is still selected.
    assert 1 not in pids and 900 not in pids and 905 not in pids and 906 not in pids
    assert 412 in pids and pids == [412, 520, 700, 950, 1500, 1501]


def test_pidfile_naming_pid_1_selects_nothing_and_says_why(board, procs, run):
    board.write("/run/x.pid", "1\n")
    before = board.snapshot()
    result = run(pidfile="/run/x.pid", value=-1000)
    assert result["failed"] and result["msg"] == (
        "no process matched, nothing was changed: the target: pidfile=/run/x.pid matches only pid 1 (systemd): "
        "PID 1 and this module's own process chain are never selected. Set on_no_match to warn or ignore where "
        "that is expected.")
    assert board.snapshot() == before
    warned = ok(run(pidfile="/run/x.pid", value=-1000, on_no_match="warn"))
    assert warned["changed"] is False and warned["processes"] == [] and procs.score(1) == 0
    assert warned["warnings"] == ["the target: pidfile=/run/x.pid matches only pid 1 (systemd): "
                                  "PID 1 and this module's own process chain are never selected"]


def test_pidfile_with_non_ascii_digits_is_junk(board, procs, run):
    board.write("/run/x.pid", "\u0661\n")  # Arabic-Indic one: int() reads it as 1
    result = run(pidfile="/run/x.pid", value=-1000)
    assert result["failed"] and "does not hold a pid" in result["msg"] and procs.score(1) == 0


def test_the_modules_own_chain_is_never_selected(board, procs, run):
    result = run(pid=905, value=500, on_no_match="warn")
    assert ok(result)["processes"] == [] and procs.score(905) == 0
    assert result["warnings"] == ["the target: pid=905 matches only pid 905 (sshd): "
                                  "PID 1 and this module's own process chain are never selected"]
    # Nor through scope=tree: the listener's tree leaves out the login Ansible runs from.
    tree = ok(run(pid=412, scope="tree", state="query"))
    assert list(by_pid(tree)) == [412, 950, 1500, 1501]


def test_comm_never_selects_a_kernel_thread(board, procs, run):
    result = run(comm="kworker/0:1-sshd", value=100, on_no_match="warn")
    assert ok(result)["processes"] == []


def test_unit_selects_every_process_of_the_unit_from_cgroup_v2(board, procs, run):
    result = ok(run(unit="ssh.service", state="query"))
    assert list(by_pid(result)) == [412, 950]


def test_unit_works_with_cgroup_v1_and_hybrid_lines(board, procs, run):
    procs.add(2000, "dockerd", cgroup="12:pids:/system.slice/docker.service\n1:name=systemd:/system.slice/docker.service\n0::/\n")
    procs.add(2001, "containerd-shim", ppid=2000,
              cgroup="1:name=systemd:/system.slice/docker.service/abc\n0::/system.slice/docker.service/abc\n")
    result = ok(run(unit="docker", state="query"))
    assert list(by_pid(result)) == [2000, 2001]


def test_unit_alias_is_resolved_through_the_unit_file_symlink(board, procs, run):
    result = ok(run(unit="sshd.service", state="query"))
    assert list(by_pid(result)) == [412, 950]
    assert result["targets"][0]["unit"] == "ssh.service"


def test_absolute_alias_link_is_followed_inside_the_tree(board, procs, run):
    os.unlink(board.path("/etc/systemd/system/sshd.service"))
    os.symlink("/lib/systemd/system/ssh.service", board.path("/etc/systemd/system/sshd.service"))
    result = ok(run(unit="sshd", state="query"))
    assert result["targets"][0]["unit"] == "ssh.service" and list(by_pid(result)) == [412, 950]


def test_masked_unit_is_not_an_alias(board, procs, run):
    os.symlink("/dev/null", board.path("/etc/systemd/system/cron.service"))
    result = ok(run(unit="cron", state="query"))
    assert result["targets"][0]["unit"] == "cron.service" and list(by_pid(result)) == [520]


def test_combined_selectors_intersect(board, procs, run):
    # comm=sshd alone also matches the logins in session-*.scope; with the unit it does not.
    # (900 and 905 are the login the module runs from, never selected: another user's login shows it.)
    procs.add(910, "sshd", ppid=412, cgroup="0::/user.slice/user-1001.slice/session-4.scope\n", cmdline=["sshd: ops [priv]"])
    assert list(by_pid(ok(run(comm="sshd", state="query")))) == [412, 910, 950]
    assert list(by_pid(ok(run(comm="sshd", unit="ssh.service", state="query")))) == [412, 950]
    assert list(by_pid(ok(run(comm="sshd", pattern="listener", state="query")))) == [412]


def test_pid_selector(board, procs, run):
    ok(run(pid=520, value=200))
    assert procs.score(520) == 200


def test_pidfile_selector(board, procs, run):
    board.write("/run/mosquitto.pid", "700\n")
    ok(run(pidfile="/run/mosquitto.pid", value=-500))
    assert procs.score(700) == -500


@pytest.mark.parametrize("text, reason", [
    (None, "pidfile /run/x.pid does not exist"),
    ("31337\n", "names pid 31337, which is not running"),
])
def test_pidfile_missing_or_stale_selects_nothing(board, procs, run, text, reason):
    if text is not None:
        board.write("/run/x.pid", text)
    result = run(pidfile="/run/x.pid", value=-500)
    assert result["failed"] and reason in result["msg"]


def test_pidfile_with_junk_fails_and_changes_nothing(board, procs, run):
    board.write("/run/x.pid", "hello\n")
    before = board.snapshot()
    result = run(pidfile="/run/x.pid", value=-500)
    assert result["failed"] and "does not hold a pid" in result["msg"]
    assert board.snapshot() == before


def test_long_comm_is_compared_by_the_kernels_15_characters(board, procs, run):
    procs.add(3000, "rock5b-oom-monitor", unit="rock5b-oom-monitor.service")
    ok(run(comm="rock5b-oom-monitor", value=-900))
    assert procs.score(3000) == -900


# --- scope: matched, main, tree ------------------------------------------------------------------

def test_by_default_children_keep_their_score(board, procs, run):
    ok(run(pid=1500, value=900))
    assert scores(procs, 1500, 1501) == [900, 300]


def test_scope_tree_extends_to_all_descendants(board, procs, run):
    # 905 and 906 are the module's own chain (test_the_modules_own_chain_is_never_selected), so
    # the tree starts at the browser: it and its children and grandchildren.
    procs.add(1502, "chromium", ppid=1501, cgroup="0::/user.slice/user-1000.slice/session-3.scope\n")
    result = ok(run(pid=1500, value=500, scope="tree"))
    assert sorted(by_pid(result)) == [1500, 1501, 1502]
    assert scores(procs, 1500, 1501, 1502) == [500, 500, 500]
    assert procs.score(906) == 0


def test_scope_main_picks_the_daemon_not_what_it_forked(board, procs, run):
    procs.set_score(412, 0)  # e.g. a container, where sshd could not set its own -1000
    result = ok(run(unit="ssh.service", comm="sshd", scope="main", value=-1000))
    assert list(by_pid(result)) == [412]
    assert scores(procs, 412, 950, 900, 905, 906) == [-1000, 0, 0, 0, 0]


# --- values and validation --------------------------------------------------------------------------

@pytest.mark.parametrize("value", [-1001, 1001, 5000])
def test_out_of_range_values_fail_and_change_nothing(board, procs, run, value):
    before = board.snapshot()
    result = run(comm="cron", value=value)
    assert result["failed"] and "out of range" in result["msg"] and "nothing was changed" in result["msg"]
    assert board.snapshot() == before


@pytest.mark.parametrize("value", [-1000, 1000, 0])
def test_range_limits_are_accepted(board, procs, run, value):
    ok(run(comm="cron", value=value))
    assert procs.score(520) == value


@pytest.mark.parametrize("args, message", [
    ({"unit": "ssh service", "value": 1}, "not a valid systemd unit name"),
    ({"unit": "../../etc/passwd", "value": 1}, "not a valid systemd unit name"),
    ({"pattern": "(unclosed", "value": 1}, "not a valid regular expression"),
    ({"comm": "cron"}, "value is required"),
    ({"comm": "cron", "value": 1, "persist": True}, "persist needs a unit"),
    ({"comm": "", "value": 1}, "comm is empty"),
    ({"pid": -4, "value": 1}, "pid must be > 0"),
    ({"pidfile": "run/x.pid", "value": 1}, "absolute"),
    ({"comm": "cron", "value": 1, "dropin_name": "../x.conf"}, "dropin_name"),
    ({"comm": "cron", "value": 1, "dropin_name": "x.conf\n"}, "dropin_name"),
])
def test_invalid_arguments_fail_and_change_nothing(board, procs, run, args, message):
    before = board.snapshot()
    result = run(**args)
    assert result["failed"] and message in result["msg"]
    assert board.snapshot() == before


def test_pid_and_pidfile_conflict(board, procs, run):
    result = run(pid=700, pidfile="/run/x.pid", value=1)
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_targets_and_top_level_selectors_conflict(board, procs, run):
    result = run(comm="cron", targets=[{"comm": "cron", "value": 1}])
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_no_selector_at_all_is_refused(board, procs, run):
    result = run(value=5)
    assert result["failed"] and "one of the following is required" in result["msg"]


def test_one_bad_target_stops_every_target(board, procs, run):
    before = board.snapshot()
    result = run(targets=[
        {"name": "ok", "comm": "cron", "value": 100},
        {"name": "selectorless", "value": 100},
        {"name": "too low", "comm": "mosquitto", "value": -2000},
    ])
    assert result["failed"]
    assert "selectorless: no selector" in result["msg"] and "too low: value -2000 is out of range" in result["msg"]
    assert board.snapshot() == before


def test_unknown_target_keys_are_refused(board, procs, run):
    result = run(targets=[{"comm": "cron", "value": 1, "score_adj": 2}])
    assert result["failed"] and "score_adj" in result["msg"]


def test_a_process_two_targets_disagree_about_fails_and_changes_nothing(board, procs, run):
    before = board.snapshot()
    result = run(targets=[{"name": "all sshd", "comm": "sshd", "value": -500},
                          {"name": "listener", "pid": 412, "value": -1000}])
    assert result["failed"] and "pid 412 (sshd) is selected by all sshd (value -500) and listener (value -1000)" in result["msg"]
    assert board.snapshot() == before


def test_targets_agreeing_on_a_process_are_fine(board, procs, run):
    result = ok(run(targets=[{"comm": "cron", "value": 100}, {"unit": "cron.service", "value": 100}]))
    assert list(by_pid(result)) == [520] and procs.score(520) == 100


# --- no match -------------------------------------------------------------------------------------

def test_no_match_fails_by_default_with_a_clear_message(board, procs, run):
    result = run(comm="nginx", value=-500)
    assert result["failed"]
    assert result["msg"] == ("no process matched, nothing was changed: the target: no running process matches "
                             "comm=nginx. Set on_no_match to warn or ignore where that is expected.")


def test_no_match_names_a_unit_that_is_not_installed(board, procs, run):
    result = run(unit="nginx", value=-500)
    assert "(unit nginx.service is not installed)" in result["msg"]


def test_no_match_fail_in_one_target_stops_all(board, procs, run):
    before = board.snapshot()
    result = run(targets=[{"comm": "cron", "value": 100}, {"name": "web", "comm": "nginx", "value": 100}])
    assert result["failed"] and "web: no running process matches comm=nginx" in result["msg"]
    assert board.snapshot() == before


def test_no_match_warn_and_ignore(board, procs, run):
    warned = ok(run(comm="nginx", value=-500, on_no_match="warn"))
    assert warned["changed"] is False and warned["warnings"] == ["the target: no running process matches comm=nginx"]
    ignored = ok(run(targets=[{"comm": "nginx", "value": -500, "on_no_match": "ignore"}, {"comm": "cron", "value": 5}]))
    assert ignored["warnings"] == [] and procs.score(520) == 5


# --- check mode and diff ------------------------------------------------------------------------------

TARGETS = [
    {"name": "sshd", "unit": "ssh.service", "comm": "sshd", "scope": "main", "value": -1000, "persist": False},
    {"name": "mosquitto", "unit": "mosquitto.service", "value": -900, "persist": True},
    {"name": "browser", "comm": "chromium", "value": 800},
]


def test_check_mode_predicts_the_real_run_and_changes_nothing(board, procs, run):
    before = board.snapshot()
    predicted = ok(run(targets=TARGETS, check_mode=True))
    assert board.snapshot() == before
    real = ok(run(targets=TARGETS))
    assert predicted["changed"] is real["changed"] is True
    assert predicted["processes"] == real["processes"]
    assert predicted["dropins"] == real["dropins"]
    assert ok(run(targets=TARGETS, check_mode=True))["changed"] is False
    assert ok(run(targets=TARGETS))["changed"] is False


def test_diff_shows_live_values_and_drop_in(board, procs, run):
    result = ok(run(targets=TARGETS, diff=True))
    live, file_diff = result["diff"]
    assert live["before"] == "700 mosquitto: 0\n1500 chromium: 0\n1501 chromium: 300\n"
    assert live["after"] == "700 mosquitto: -900\n1500 chromium: 800\n1501 chromium: 800\n"
    assert file_diff["before_header"] == MOSQUITTO_DROPIN
    assert file_diff["before"] == "" and file_diff["after"] == dropin(-900)
    assert ok(run(targets=TARGETS, diff=True))["diff"] == []


def test_query_reports_and_changes_nothing(board, procs, run):
    before = board.snapshot()
    result = ok(run(targets=TARGETS, state="query"))
    assert result["changed"] is False and result["dropins"] == []
    assert by_pid(result)[412]["before"] == by_pid(result)[412]["after"] == -1000
    assert by_pid(result)[412]["value"] is None
    assert board.snapshot() == before


# --- races and the kernel's answers --------------------------------------------------------------------

def test_process_exiting_between_listing_and_write_is_skipped(board, procs, run, monkeypatch):
    real_list = oom_score_apply.list_processes

    def list_then_exit(root):
        table = real_list(root)
        procs.remove(1500)
        return table

    monkeypatch.setattr(oom_score_apply, "list_processes", list_then_exit)
    result = ok(run(comm="chromium", value=800))
    assert result["vanished"] == [1500]
    assert by_pid(result)[1500]["skipped"] == "vanished" and by_pid(result)[1500]["changed"] is False
    assert procs.score(1501) == 800 and result["changed"] is True


def test_pid_reused_between_listing_and_write_is_not_touched(board, procs, run, monkeypatch):
    real_list = oom_score_apply.list_processes

    def list_then_reuse(root):
        table = real_list(root)
        procs.reuse(1500, "innocent")
        return table

    monkeypatch.setattr(oom_score_apply, "list_processes", list_then_reuse)
    result = ok(run(comm="chromium", value=800))
    assert result["vanished"] == [1500] and procs.score(1500) == 0


@pytest.mark.parametrize("code", [errno.ESRCH, errno.ENOENT])
def test_esrch_or_enoent_at_write_time_is_a_vanished_process(board, procs, run, monkeypatch, code):
    real_write = oom_score_apply.write_oom_score_adj

    def exited(root, pid, value, starttime=None):
        if pid == 520:
            raise processes.ProcessGone(pid)
        return real_write(root, pid, value, starttime)

    monkeypatch.setattr(oom_score_apply, "write_oom_score_adj", exited)
    result = ok(run(targets=[{"comm": "cron", "value": 100}, {"comm": "mosquitto", "value": 100}]))
    assert result["vanished"] == [520] and procs.score(700) == 100


def deny(monkeypatch, denied_pid, code=errno.EACCES):
    real_write = oom_score_apply.write_oom_score_adj

    def write(root, pid, value, starttime=None):
        if pid == denied_pid:
            raise OSError(code, os.strerror(code))
        return real_write(root, pid, value, starttime)

    monkeypatch.setattr(oom_score_apply, "write_oom_score_adj", write)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM])
def test_kernel_denial_restores_what_was_written_and_names_the_capability(board, procs, run, monkeypatch, code):
    deny(monkeypatch, 700, code)
    before = board.snapshot()
    result = run(targets=[
        {"pid": 520, "value": -800},
        {"pid": 700, "value": -900, "unit": "mosquitto", "persist": True},
        {"pid": 1500, "value": 800},
    ])
    assert result["failed"]
    assert "the kernel refused oom_score_adj -900 for pid 700 (mosquitto)" in result["msg"]
    assert "CAP_SYS_RESOURCE" in result["msg"]
    assert "restored" in result["msg"]
    assert board.snapshot() == before  # cron's -800 written first, then put back; no drop-in


def test_read_back_mismatch_restores_and_fails(board, procs, run, monkeypatch):
    real_write = oom_score_apply.write_oom_score_adj

    def clamp(root, pid, value, starttime=None):
        return real_write(root, pid, -500 if value == -1000 else value, starttime)

    monkeypatch.setattr(oom_score_apply, "write_oom_score_adj", clamp)
    before = board.snapshot()
    result = run(targets=[{"pid": 700, "value": -1000}, {"pid": 520, "value": 100}])
    assert result["failed"] and "pid 700 (mosquitto) holds oom_score_adj -500 after writing -1000" in result["msg"]
    assert board.snapshot() == before


def test_kernel_denial_with_on_denied_warn_skips_and_carries_on(board, procs, run, monkeypatch):
    deny(monkeypatch, 700)
    result = ok(run(targets=[{"pid": 700, "value": -900}, {"pid": 520, "value": -800}], on_denied="warn"))
    assert result["denied"] == [700] and by_pid(result)[700]["skipped"] == "denied"
    assert procs.score(520) == -800 and procs.score(700) == 0
    assert any("CAP_SYS_RESOURCE" in warning for warning in result["warnings"])


@pytest.fixture
def container(procs, monkeypatch):
    """Root without CAP_SYS_RESOURCE, and a kernel that refuses lowering below 0 (as measured on a host
    with CapEff 000001fffeffffff: 0 -> 500 -> 0 accepted, -1 refused with EACCES)."""
    procs.set_caps(CAPS_CONTAINER)
    real_write = oom_score_apply.write_oom_score_adj

    def kernel(root, pid, value, starttime=None):
        if value < 0 and value < procs.score(pid):
            raise OSError(errno.EACCES, "Permission denied")
        return real_write(root, pid, value, starttime)

    monkeypatch.setattr(oom_score_apply, "write_oom_score_adj", kernel)


CONTAINER_TARGETS = [{"comm": "chromium", "value": 800}, {"unit": "mosquitto", "value": -900, "persist": True}]


def test_without_cap_sys_resource_a_negative_score_fails_and_changes_nothing(board, procs, run, container):
    before = board.snapshot()
    result = run(targets=CONTAINER_TARGETS)
    assert result["failed"]
    assert "the kernel refused oom_score_adj -900 for pid 700 (mosquitto): Permission denied" in result["msg"]
    assert "needs CAP_SYS_RESOURCE" in result["msg"] and "this process lacks it" in result["msg"]
    assert "protect_daemons_on_denied: warn" in result["msg"]
    assert board.snapshot() == before


def test_check_mode_predicts_the_refusal_without_cap_sys_resource(board, procs, run, container):
    result = run(targets=CONTAINER_TARGETS, check_mode=True)
    assert result["failed"] and result["denied"] == [700]
    assert "pid 700 (mosquitto) 0 -> -900" in result["msg"] and "lacks CAP_SYS_RESOURCE" in result["msg"]


def test_without_cap_sys_resource_on_denied_warn_raises_and_skips_lowering(board, procs, run, container):
    args = dict(targets=CONTAINER_TARGETS, on_denied="warn")
    predicted = ok(run(check_mode=True, **args))
    result = ok(run(**args))
    assert predicted["processes"] == result["processes"]
    assert predicted["changed"] is result["changed"] is True
    assert result["cap_sys_resource"] is False and result["denied"] == [700]
    assert by_pid(result)[700]["skipped"] == "denied" and by_pid(result)[700]["after"] == 0
    assert scores(procs, 700, 1500, 1501) == [0, 800, 800]
    assert board.read(MOSQUITTO_DROPIN) == dropin(-900)  # the next start applies it where it can
    assert any("CAP_SYS_RESOURCE" in warning for warning in result["warnings"])
    again = ok(run(**args))
    assert again["changed"] is False and again["denied"] == [700]


def test_without_cap_sys_resource_a_raised_score_can_come_back_down(board, procs, run, container):
    # Drift correction of an expendable process: 800 -> 500 is a lowering, but not below the floor.
    ok(run(comm="cron", value=500))
    procs.set_score(520, 800)
    predicted = ok(run(comm="cron", value=500, check_mode=True))
    result = ok(run(comm="cron", value=500))
    assert predicted["changed"] is result["changed"] is True and procs.score(520) == 500


def test_raising_needs_no_capability(board, procs, run):
    procs.set_caps(CAPS_CONTAINER)
    ok(run(comm="cron", value=500))
    assert procs.score(520) == 500


# --- drop-ins ----------------------------------------------------------------------------------------

def test_persist_writes_the_drop_in_exactly(board, procs, run):
    result = ok(run(unit="mosquitto.service", value=-900, persist=True))
    assert board.read(MOSQUITTO_DROPIN) == dropin(-900)
    assert os.stat(board.path(MOSQUITTO_DROPIN)).st_mode & 0o777 == 0o644
    assert result["dropins_changed"] is True and result["dropins"] == [{
        "unit": "mosquitto.service", "path": MOSQUITTO_DROPIN, "state": "present", "changed": True,
        "target": "the target", "managed_oom_preference": None}]
    again = ok(run(unit="mosquitto.service", value=-900, persist=True))
    assert again["changed"] is False and again["dropins_changed"] is False


def test_drift_in_live_value_and_deleted_drop_in_are_both_corrected(board, procs, run):
    ok(run(unit="mosquitto.service", value=-900, persist=True))
    procs.set_score(700, 0)
    os.unlink(board.path(MOSQUITTO_DROPIN))
    predicted = ok(run(unit="mosquitto.service", value=-900, persist=True, check_mode=True))
    assert predicted["changed"] and predicted["dropins_changed"] and by_pid(predicted)[700]["changed"]
    result = ok(run(unit="mosquitto.service", value=-900, persist=True))
    assert result["dropins_changed"] and by_pid(result)[700]["changed"]
    assert board.read(MOSQUITTO_DROPIN) == dropin(-900) and procs.score(700) == -900


def test_edited_drop_in_and_wrong_mode_are_drift(board, procs, run):
    ok(run(unit="mosquitto.service", value=-900, persist=True))
    board.write(MOSQUITTO_DROPIN, "[Service]\nOOMScoreAdjust=-1000\n")
    assert ok(run(unit="mosquitto.service", value=-900, persist=True))["dropins_changed"] is True
    assert board.read(MOSQUITTO_DROPIN) == dropin(-900)
    os.chmod(board.path(MOSQUITTO_DROPIN), 0o600)
    assert ok(run(unit="mosquitto.service", value=-900, persist=True))["dropins_changed"] is True
    assert os.stat(board.path(MOSQUITTO_DROPIN)).st_mode & 0o777 == 0o644


def test_persist_false_removes_only_our_drop_in(board, procs, run):
    board.write(SSH_DROPIN, dropin(-1000))
    board.write("/etc/systemd/system/ssh.service.d/10-other.conf", "[Service]\nNice=5\n")
    result = ok(run(unit="ssh.service", comm="sshd", scope="main", value=-1000, persist=False, diff=True))
    assert not board.exists(SSH_DROPIN) and board.exists("/etc/systemd/system/ssh.service.d/10-other.conf")
    assert result["dropins"][0]["state"] == "absent" and result["dropins_changed"] is True
    assert result["diff"][0]["after"] == "" and result["processes"][0]["changed"] is False


def test_unset_persist_leaves_files_alone(board, procs, run):
    board.write(SSH_DROPIN, dropin(-1000))
    result = ok(run(unit="ssh.service", comm="sshd", scope="main", value=-1000))
    assert result["dropins"] == [] and board.exists(SSH_DROPIN)


def test_state_absent_removes_the_drop_in_and_leaves_live_values(board, procs, run):
    ok(run(unit="mosquitto.service", value=-900, persist=True))
    result = ok(run(targets=[{"unit": "mosquitto", "state": "absent"}]))
    assert result["changed"] and not board.exists(MOSQUITTO_DROPIN)
    assert procs.score(700) == -900 and result["processes"] == []
    assert ok(run(targets=[{"unit": "mosquitto", "state": "absent"}]))["changed"] is False


def test_state_absent_needs_a_unit(board, procs, run):
    result = run(targets=[{"comm": "cron", "state": "absent"}])
    assert result["failed"] and "needs unit" in result["msg"]


def test_drop_in_goes_to_the_canonical_name_of_an_alias(board, procs, run):
    ok(run(unit="sshd", comm="sshd", scope="main", value=-1000, persist=True))
    assert board.read(SSH_DROPIN) == dropin(-1000)


def test_not_installed_unit_gets_no_drop_in(board, procs, run):
    result = ok(run(unit="rock5b-oom-monitor.service", value=-900, persist=True, on_no_match="ignore"))
    assert result["changed"] is False and result["dropins"] == []
    assert result["targets"][0]["unit_exists"] is False
    assert not board.exists("/etc/systemd/system/rock5b-oom-monitor.service.d")


def test_installed_but_stopped_unit_gets_its_drop_in(board, procs, run):
    board.write("/usr/lib/systemd/system/rock5b-oom-monitor.service", "[Service]\nExecStart=/bin/true\n")
    result = ok(run(unit="rock5b-oom-monitor.service", value=-900, persist=True, on_no_match="ignore"))
    assert result["changed"] is True and result["processes"] == []
    assert board.read("/etc/systemd/system/rock5b-oom-monitor.service.d/50-oom-score-adj.conf") == dropin(-900)


def test_two_targets_disagreeing_about_a_drop_in_fail(board, procs, run):
    result = run(targets=[{"unit": "cron", "value": 100, "persist": True},
                          {"unit": "cron", "comm": "nothing", "value": 200, "persist": True, "on_no_match": "ignore"}])
    assert result["failed"] and "disagree about /etc/systemd/system/cron.service.d/50-oom-score-adj.conf" in result["msg"]


def test_a_later_drop_in_overriding_ours_is_named(board, procs, run):
    board.write("/etc/systemd/system/mosquitto.service.d/override.conf", "[Service]\nOOMScoreAdjust=-100\n")
    board.write("/etc/systemd/system/mosquitto.service.d/10-early.conf", "[Service]\nOOMScoreAdjust=-200\n")
    result = ok(run(unit="mosquitto.service", value=-900, persist=True))
    assert [(item["path"], item["value"]) for item in result["overrides"]] == [
        ("/etc/systemd/system/mosquitto.service.d/override.conf", "-100")]
    assert any("override.conf sorts after 50-oom-score-adj.conf" in warning for warning in result["warnings"])


def test_inherited_unit_setting_on_a_main_only_target_is_the_pitfall(board, procs, run):
    # What `systemctl edit ssh` with OOMScoreAdjust=-1000 (the seed's intent) leaves behind.
    board.write("/etc/systemd/system/ssh.service.d/override.conf", "[Service]\nOOMScoreAdjust=-1000\n")
    result = ok(run(unit="ssh.service", comm="sshd", scope="main", value=-1000, persist=False))
    assert result["overrides"][0]["path"] == "/etc/systemd/system/ssh.service.d/override.conf"
    assert any("everything it forks (logins, jobs), starts with -1000" in warning for warning in result["warnings"])


# --- inheritance ---------------------------------------------------------------------------------------

def test_logins_that_inherited_the_listeners_score_are_reported(board, procs, run):
    for pid in (900, 905, 906):
        procs.set_score(pid, -1000)
    result = ok(run(unit="ssh.service", comm="sshd", scope="main", value=-1000))
    assert [(item["pid"], item["ancestor"]) for item in result["inherited"]] == [(900, 412), (905, 412), (906, 412)]
    assert any("3 process(es) forked from protected ones carry the protective score" in warning
               for warning in result["warnings"])


def test_sshd_restoring_the_score_in_its_sessions_is_quiet(board, procs, run):
    result = ok(run(unit="ssh.service", comm="sshd", scope="main", value=-1000, persist=False))
    assert result["inherited"] == [] and result["overrides"] == [] and result["warnings"] == []
    assert result["changed"] is False  # sshd did it already


def test_top_level_defaults_apply_to_targets_that_do_not_set_their_own(board, procs, run):
    result = ok(run(targets=[{"comm": "nginx", "value": 1}, {"unit": "cron", "value": 100}],
                    on_no_match="ignore", persist=True))
    assert board.read("/etc/systemd/system/cron.service.d/50-oom-score-adj.conf") == dropin(100)
    assert [target["name"] for target in result["targets"]] == ["targets[0]", "targets[1]"]
    assert result["targets"][0]["persist"] is None and result["targets"][1]["persist"] is True


# --- guards against protecting too much, and input that is not what it claims ---------------------------

@pytest.mark.parametrize("pattern", [".*", "^", "", "."])
@pytest.mark.parametrize("check_mode", [False, True])
def test_protecting_everything_is_refused_before_any_change(board, procs, run, pattern, check_mode):
    # protect_daemons_extra: [{name: all, pattern: ".*", score: -1000}]: nothing killable would be left.
    before = board.snapshot()
    result = run(check_mode=check_mode, targets=[{"name": "sshd", "unit": "ssh", "comm": "sshd", "scope": "main",
                                                  "value": -1000, "persist": False},
                                                 {"name": "all", "pattern": pattern, "score": -1000}])
    assert result["failed"] and result["msg"].startswith(
        "invalid arguments, nothing was changed: all: refusing the protective value -1000 for pattern %r, "
        "which matches every process" % pattern)
    assert "set allow_broad: true on this target" in result["msg"] and "max_protected" in result["msg"]
    assert board.snapshot() == before


def test_a_universal_pattern_with_a_positive_score_or_allowed_is_fine(board, procs, run):
    assert ok(run(pattern=".", value=100, state="query"))["changed"] is False
    result = ok(run(targets=[{"name": "all", "pattern": ".", "value": -1, "allow_broad": True}], on_no_match="warn"))
    assert 412 in by_pid(result) and 1 not in by_pid(result) and 4000 not in by_pid(result)


def test_a_boolean_score_is_refused_and_changes_nothing(board, procs, run):
    # Ansible's int type lets YAML's true through as 1: oom_score_adj would silently become 1.
    before = board.snapshot()
    for args in ({"comm": "cron", "value": True}, {"targets": [{"name": "cron", "comm": "cron", "score": True}]}):
        result = run(**args)
        assert result["failed"] and "value (score) must be a whole number from -1000 to 1000, got True" in result["msg"]
    for args, message in (({"pid": True, "value": 5}, "pid must be a number, got the boolean True"),
                          ({"comm": "cron", "value": 5, "max_protected": True}, "max_protected must be a whole number"),
                          ({"comm": "cron", "value": 5, "max_protected": 0}, "max_protected must be at least 1")):
        result = run(**args)
        assert result["failed"] and message in result["msg"] and "nothing was changed" in result["msg"]
    assert board.snapshot() == before


def workers(procs, count, unit="worker.service"):
    return [procs.add(2000 + index, "worker", unit=unit, cmdline=["/usr/bin/worker"]) for index in range(count)]


def test_protecting_more_processes_than_max_protected_is_refused(board, procs, run):
    pids = workers(procs, 17)
    before = board.snapshot()
    for args in ({"unit": "worker"}, {"comm": "worker"}, {"pattern": "^/usr/bin/worker"}):
        result = run(targets=[dict(args, name="workers", value=-500)])
        assert result["failed"] and result["msg"] == (
            "too broad a protection, nothing was changed: workers: refusing the protective value -500: it matches "
            "17 processes, more than 16; " + oom_score.BROAD_HINT)
    assert board.snapshot() == before
    # Raised for the run, or allowed for the target; a positive score is never limited.
    assert ok(run(unit="worker", value=-500, max_protected=17))["changed"] is True
    assert ok(run(targets=[{"unit": "worker", "value": -400, "allow_broad": True}]))["changed"] is True
    assert ok(run(unit="worker", value=300))["changed"] is True
    assert scores(procs, *pids) == [300] * 17


def test_the_default_protect_list_fits_the_limit(board, procs, run):
    # sshd's listener, and a monitor with a helper: far below 16 each.
    procs.add(3000, "rock5b-oom-moni", unit="rock5b-oom-monitor.service", cmdline=["/usr/bin/python3", "main.py"])
    procs.add(3001, "sh", ppid=3000, unit="rock5b-oom-monitor.service", cmdline=["/bin/sh", "-c", "hook"])
    board.write("/etc/systemd/system/rock5b-oom-monitor.service", "[Service]\nExecStart=/usr/bin/python3 main.py\n")
    ok(run(targets=[
        {"name": "sshd", "unit": "ssh.service", "comm": "sshd", "scope": "main", "value": -1000, "persist": False},
        {"name": "rock5b-oom-monitor", "unit": "rock5b-oom-monitor.service", "value": -1000, "on_no_match": "ignore"}],
        persist=True))
    assert board.read("/etc/systemd/system/rock5b-oom-monitor.service.d/50-oom-score-adj.conf") == dropin(-1000)
    assert scores(procs, 412, 3000, 3001, 950) == [-1000, -1000, -1000, 0]


@pytest.mark.parametrize("args", [
    {"comm": "bash"},                                            # another user's login shell
    {"comm": "sshd"},                                            # ... and the sshd of that login
    {"unit": "ssh.service", "comm": "sshd", "scope": "tree"},    # the listener and every login under it
    {"pid": 913},                                                # the user's own service manager
    {"pidfile": "/run/x.pid"},                                   # a pidfile naming the login shell
])
def test_protecting_a_users_session_is_refused(board, procs, run, args):
    session = "0::/user.slice/user-1001.slice/session-4.scope\n"
    procs.add(910, "sshd", ppid=412, cgroup=session, cmdline=["sshd: ops [priv]"])
    procs.add(911, "bash", ppid=910, cgroup=session, cmdline=["-bash"])
    procs.add(913, "systemd", cgroup="0::/user.slice/user-1001.slice/user@1001.service/init.scope\n",
              cmdline=["/lib/systemd/systemd", "--user"])
    board.write("/run/x.pid", "911\n")
    before = board.snapshot()
    result = run(targets=[dict(args, name="logins", value=-1000)])
    assert result["failed"] and result["msg"].startswith(
        "too broad a protection, nothing was changed: logins: refusing the protective value -1000: it matches pid ")
    assert "of the user session " in result["msg"] and "allow_broad" in result["msg"]
    assert board.snapshot() == before


def test_pid_1_is_never_selected_by_pid(board, procs, run):
    result = run(pid=1, value=-1000)
    assert result["failed"] and "pid=1 matches only pid 1 (systemd): " + selection.GUARD_NOTE in result["msg"]
    assert ok(run(pid=1, value=-1000, on_no_match="warn"))["processes"] == [] and procs.score(1) == 0


def pidfile_directory(board):
    os.makedirs(board.path("/run/x.pid"))


def pidfile_bytes(data):
    def make(board):
        with open(board.write("/run/x.pid", ""), "wb") as handle:
            handle.write(data)
    return make


@pytest.mark.parametrize("make, message", [
    (pidfile_directory, "pidfile /run/x.pid cannot be read: is a directory"),
    (pidfile_bytes(b"\x00garbage\x1b[31m\n"), "pidfile /run/x.pid does not hold a pid from 1 to 4194304"),
    (pidfile_bytes(b"123456789012345678901234567890\n"), "pidfile /run/x.pid does not hold a pid from 1 to 4194304"),
    (pidfile_bytes("\u0667\u0660\u0660\n".encode()), "pidfile /run/x.pid does not hold a pid from 1 to 4194304"),
    (pidfile_bytes(b"7" * 10000), "pidfile /run/x.pid does not hold a pid: it is larger than 4096 bytes"),
])
def test_a_pidfile_that_is_not_one_fails_naming_it_and_changes_nothing(board, procs, run, make, message):
    make(board)
    before = board.snapshot()
    result = run(pidfile="/run/x.pid", value=-500)
    assert result["failed"] and result["msg"].startswith("the target: " + message) and "Nothing was changed" in result["msg"]
    assert board.snapshot() == before and procs.score(700) == 0


def test_an_unreadable_pidfile_fails_naming_it_and_changes_nothing(board, procs, run, monkeypatch):
    path = board.write("/run/x.pid", "700\n")
    real_open = os.open

    def refuse(name, *args, **kwargs):
        if name == path:
            raise PermissionError(errno.EACCES, "Permission denied", name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    before = board.snapshot()
    result = run(pidfile="/run/x.pid", value=-500)
    assert result["failed"] and result["msg"] == (
        "the target: pidfile /run/x.pid cannot be read: Permission denied. Nothing was changed.")
    assert board.snapshot() == before and procs.score(700) == 0


# --- ManagedOOMPreference= where systemd-oomd runs ------------------------------------------------------

def oomd_board(board, version=252, installed=True):
    board.write("/usr/lib/aarch64-linux-gnu/systemd/libsystemd-shared-%d.so" % version, "")
    if installed:
        board.write("/lib/systemd/system/systemd-oomd.service", "[Service]\nExecStart=/lib/systemd/systemd-oomd\n")


def test_auto_writes_omit_for_minus_1000_and_avoid_for_other_protection(board, procs, run):
    oomd_board(board)
    board.write("/usr/lib/systemd/system/rock5b-oom-monitor.service", "[Service]\nExecStart=/bin/true\n")
    result = ok(run(targets=[
        {"name": "mosquitto", "unit": "mosquitto.service", "value": -900},
        {"name": "monitor", "unit": "rock5b-oom-monitor.service", "value": -1000, "on_no_match": "ignore"},
        {"name": "cron", "unit": "cron.service", "value": 100}], persist=True, managed_oom_preference="auto"))
    assert board.read(MOSQUITTO_DROPIN) == dropin(-900) + "ManagedOOMPreference=avoid\n"
    assert board.read("/etc/systemd/system/rock5b-oom-monitor.service.d/50-oom-score-adj.conf") == (
        dropin(-1000) + "ManagedOOMPreference=omit\n")
    assert board.read("/etc/systemd/system/cron.service.d/50-oom-score-adj.conf") == dropin(100)
    assert [(item["target"], item["managed_oom_preference"]) for item in result["dropins"]] == [
        ("mosquitto", "avoid"), ("monitor", "omit"), ("cron", None)]
    # idempotent; and none takes this module's line out again
    assert ok(run(unit="mosquitto", value=-900, persist=True, managed_oom_preference="auto"))["changed"] is False
    assert ok(run(unit="mosquitto", value=-900, persist=True))["changed"] is True
    assert board.read(MOSQUITTO_DROPIN) == dropin(-900)


def test_no_preference_without_systemd_oomd_unless_assumed_and_check_mode_predicts_it(board, procs, run):
    oomd_board(board, installed=False)
    result = ok(run(unit="mosquitto", value=-900, persist=True, managed_oom_preference="omit"))
    assert board.read(MOSQUITTO_DROPIN) == dropin(-900) and result["dropins"][0]["managed_oom_preference"] is None
    before = board.read(MOSQUITTO_DROPIN)
    predicted = ok(run(check_mode=True, diff=True, unit="mosquitto", value=-900, persist=True,
                       managed_oom_preference="omit", assume_systemd_oomd=True))
    assert predicted["changed"] is True and predicted["dropins"][0]["managed_oom_preference"] == "omit"
    assert board.read(MOSQUITTO_DROPIN) == before
    assert predicted["diff"][-1]["after"] == dropin(-900) + "ManagedOOMPreference=omit\n"
    ok(run(unit="mosquitto", value=-900, persist=True, managed_oom_preference="omit", assume_systemd_oomd=True))
    assert board.read(MOSQUITTO_DROPIN) == predicted["diff"][-1]["after"]


SSHD_LIVE_ONLY = {"name": "sshd", "unit": "ssh.service", "comm": "sshd", "scope": "main", "value": -1000,
                  "persist": False}
PREFERENCE_ONLY = dropin(0).split("OOMScoreAdjust", maxsplit=1)[0] + "ManagedOOMPreference=omit\n"


def test_a_live_only_entry_gets_a_drop_in_with_the_preference_alone_where_oomd_runs(board, procs, run):
    # sshd (persist false: its sessions would inherit OOMScoreAdjust=) is still a cgroup oomd may pick
    oomd_board(board)
    board.write(SSH_DROPIN, dropin(-1000))  # an earlier run's persisted score
    predicted = ok(run(check_mode=True, diff=True, targets=[SSHD_LIVE_ONLY], managed_oom_preference="auto"))
    assert predicted["changed"] and board.read(SSH_DROPIN) == dropin(-1000)
    result = ok(run(targets=[SSHD_LIVE_ONLY], managed_oom_preference="auto"))
    assert board.read(SSH_DROPIN) == PREFERENCE_ONLY == predicted["diff"][-1]["after"]
    assert "OOMScoreAdjust" not in board.read(SSH_DROPIN)
    assert [(d["unit"], d["state"], d["managed_oom_preference"]) for d in result["dropins"]] == [
        ("ssh.service", "present", "omit")]
    assert result["dropins_changed"] and procs.score(412) == -1000 and procs.score(900) == 0
    assert ok(run(targets=[SSHD_LIVE_ONLY], managed_oom_preference="auto"))["changed"] is False
    # no preference wanted any more: the drop-in goes, as persist false always did
    assert ok(run(targets=[SSHD_LIVE_ONLY], managed_oom_preference="none"))["changed"] is True
    assert not board.exists(SSH_DROPIN)


def test_a_live_only_entry_gets_no_drop_in_without_oomd(board, procs, run):
    oomd_board(board, installed=False)
    board.write(SSH_DROPIN, dropin(-1000))
    result = ok(run(targets=[SSHD_LIVE_ONLY], managed_oom_preference="auto"))
    assert not board.exists(SSH_DROPIN) and result["dropins"][0]["state"] == "absent"


def test_systemd_older_than_248_gets_no_preference_and_a_warning(board, procs, run):
    oomd_board(board, version=247)
    result = ok(run(unit="mosquitto", value=-900, persist=True, managed_oom_preference="auto"))
    assert board.read(MOSQUITTO_DROPIN) == dropin(-900)
    assert any("ManagedOOMPreference= needs systemd 248 or later" in warning for warning in result["warnings"])


@pytest.mark.parametrize("args, message", [
    ({"managed_oom_preference": "always"}, "managed_oom_preference"),
    ({"assume_systemd_oomd": "perhaps"}, "assume_systemd_oomd"),
])
def test_bad_preference_options_fail_naming_them_and_change_nothing(board, procs, run, args, message):
    oomd_board(board)
    result = run(unit="mosquitto", value=-900, persist=True, **args)
    assert result["failed"] and message in result["msg"]
    assert not board.exists(MOSQUITTO_DROPIN) and procs.score(700) == 0
