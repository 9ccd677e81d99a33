"""selection: selector validation, select() and its guards (PID 1, the module's own chain)."""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import selection

SESSION = "session-3.scope"


def process(pid, ppid, comm, unit=None, cmdline=None):
    return {"pid": pid, "ppid": ppid, "comm": comm, "unit": unit, "cmdline": cmdline or comm,
            "state": "S", "starttime": pid * 10, "kernel_thread": False, "oom_score_adj": 0}


@pytest.fixture
def table(monkeypatch):
    """A board the module reaches over SSH: systemd <- sshd listener <- login <- shell <- python (4000)."""
    monkeypatch.setattr(selection, "SELF_PID", 4000)
    rows = [
        process(1, 0, "systemd", "init.scope", "/sbin/init"),
        process(412, 1, "sshd", "ssh.service", "sshd: /usr/sbin/sshd -D [listener]"),
        process(950, 412, "sshd", "ssh.service", "sshd: unknown [preauth]"),
        process(900, 412, "sshd", SESSION, "sshd: pi [priv]"),
        process(905, 900, "sshd", SESSION, "sshd: pi@notty"),
        process(906, 905, "sh", SESSION, "/bin/sh -c python3 AnsiballZ_oom_score_adj.py"),
        process(4000, 906, "python3", SESSION, "/usr/bin/python3 AnsiballZ_oom_score_adj.py"),
        process(520, 1, "cron", "cron.service", "/usr/sbin/cron -f"),
        process(1500, 906, "chromium", SESSION, "/usr/lib/chromium/chromium"),
    ]
    return dict((row["pid"], row) for row in rows)


def valid(**selector):
    assert selection.validate(selector) == []
    return selector


# --- validate and describe ------------------------------------------------------------------------

def test_validate_normalizes_the_unit_and_compiles_the_pattern():
    selector = {"unit": "ssh", "pattern": "^/usr/sbin"}
    assert selection.validate(selector) == []
    assert selector["unit"] == "ssh.service" and selector["regex"] == re.compile("^/usr/sbin")
    plain = {"comm": "cron"}
    assert selection.validate(plain) == [] and plain["regex"] is None


@pytest.mark.parametrize("selector, problem", [
    ({"pid": 5, "pidfile": "/run/x.pid"}, "pid and pidfile each name one process and cannot be combined"),
    ({"pid": 0}, "pid must be > 0, got 0"),
    ({"comm": ""}, "comm is empty"),
    ({"pattern": "(unclosed"}, "pattern '(unclosed' is not a valid regular expression"),
    ({"unit": "../../etc/passwd"}, "unit '../../etc/passwd' is not a valid systemd unit name"),
    ({"unit": "ssh service"}, "unit 'ssh service' is not a valid systemd unit name"),
    ({"pidfile": "run/x.pid"}, "pidfile must be an absolute path, got 'run/x.pid'"),
])
def test_validate_names_every_problem(selector, problem):
    problems = selection.validate(selector)
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_validate_collects_all_problems_in_order():
    assert selection.validate({"pid": -1, "comm": "", "pidfile": "x"}) == [
        "pid and pidfile each name one process and cannot be combined", "pid must be > 0, got -1",
        "comm is empty", "pidfile must be an absolute path, got 'x'"]


def test_describe_lists_the_given_selectors_in_a_fixed_order():
    assert selection.describe({"pattern": "^/usr", "comm": "sshd", "pid": None, "regex": "x"}) == "comm=sshd, pattern=^/usr"


# --- guards ---------------------------------------------------------------------------------------

def test_own_chain_stops_at_the_first_ancestor_in_another_unit(table):
    # The login Ansible runs from, not the sshd listener (ssh.service) that forked it.
    assert selection.own_chain(table) == {4000, 906, 905, 900}
    assert selection.guarded(table) == {1, 4000, 906, 905, 900}


def test_the_whole_chain_includes_the_sshd_listener_the_login_came_through(table):
    # What a limiting change (a raw cgroup move) must not touch: the connection up to PID 1.
    assert selection.own_chain(table, whole=True) == {4000, 906, 905, 900, 412}
    assert selection.guarded(table, whole_chain=True) == {1, 4000, 906, 905, 900, 412}
    assert 412 not in selection.select(table, valid(pattern="^"), whole_chain=True)
    assert 412 in selection.select(table, valid(pattern="^"))


def test_own_chain_without_units_goes_up_to_but_not_including_pid_1(table):
    for row in table.values():
        row["unit"] = None  # a container without systemd: no unit tells the chain apart
    assert selection.own_chain(table) == {4000, 906, 905, 900, 412}


def test_own_chain_of_a_pid_missing_from_the_table_and_of_a_loop(table):
    assert selection.own_chain(table, self_pid=7777) == {7777}
    table[905]["ppid"] = 906  # a cycle (pids reused while listing) still ends
    assert selection.own_chain(table) == {4000, 906, 905}


def test_pattern_matching_everything_selects_neither_pid_1_nor_the_modules_chain(table):
    assert selection.select(table, valid(pattern="^")) == [412, 520, 950, 1500]
    assert selection.refused(table, valid(pattern="^")) == [1, 900, 905, 906, 4000]


def test_a_pidfile_naming_pid_1_or_the_module_selects_nothing(table):
    assert selection.select(table, valid(pidfile="/run/x.pid"), pidfile_pid=1) == []
    assert selection.refused(table, valid(pidfile="/run/x.pid"), pidfile_pid=1) == [1]
    assert selection.select(table, valid(pid=4000)) == []
    assert selection.select(table, valid(pidfile="/run/x.pid"), pidfile_pid=0) == []  # missing pidfile
    assert selection.refused(table, valid(pidfile="/run/x.pid"), pidfile_pid=0) == []


def test_select_intersects_the_selectors_and_knows_unit_aliases(table):
    assert selection.select(table, valid(comm="sshd")) == [412, 950]
    assert selection.select(table, valid(comm="sshd", pattern="listener")) == [412]
    assert selection.select(table, valid(unit="sshd"), unit_names=["ssh.service"]) == [412, 950]
    assert selection.select(table, valid(unit="ssh")) == [412, 950]


def test_unguarded_filters_a_widened_selection(table):
    assert selection.unguarded(table, [1, 412, 900, 950, 1500, 4000]) == [412, 950, 1500]


def test_the_real_self_pid_is_this_process():
    assert selection.SELF_PID == os.getpid()


def test_validate_refuses_a_boolean_pid():
    # YAML's true is an int to Ansible (pid 1, then guarded): name it instead of guessing.
    assert selection.validate({"pid": True}) == ["pid must be a number, got the boolean True"]


def test_no_selector_returns_pid_1(table):
    assert selection.select(table, valid(pid=1)) == [] and selection.refused(table, valid(pid=1)) == [1]
    assert selection.select(table, valid(comm="systemd")) == []
    assert 1 not in selection.select(table, valid(pattern="init")) + selection.select(table, valid(unit="init.scope"))


def test_no_selector_returns_a_kernel_thread_even_if_a_table_holds_one(table):
    table[2] = dict(process(2, 0, "kthreadd", None, ""), kernel_thread=True)
    table[30] = dict(process(30, 2, "kworker/0:1", None, ""), kernel_thread=True)
    assert selection.select(table, valid(pid=2)) == [] and selection.select(table, valid(comm="kthreadd")) == []
    assert 30 not in selection.select(table, valid(pattern="")) and 30 not in selection.select(table, valid(pattern="^"))


# --- the guard against protecting too much -------------------------------------------------------------

@pytest.mark.parametrize("pattern", [".*", "^", "", ".", "$", "(?:)", ".+", "^.", "\\S", "[\\s\\S]", "x*", "sshd|", "[^\\n]"])
def test_universal_patterns(pattern):
    assert selection.universal_pattern(pattern) is True


@pytest.mark.parametrize("pattern", ["sshd", "^/usr/sbin/sshd", "\\w", "mosquitto$", "(unclosed", "[a-z]"])
def test_patterns_that_are_not_universal(pattern):
    assert selection.universal_pattern(pattern) is False


@pytest.mark.parametrize("unit, session", [
    ("session-3.scope", True), ("session-c1.scope", True), ("user@1000.service", True),
    ("ssh.service", False), ("user-runtime-dir@1000.service", False), ("init.scope", False), (None, False),
])
def test_session_units(unit, session):
    assert selection.session_unit(unit) is session


@pytest.mark.parametrize("value, problem", [
    (16, None), (1, None), (500, None),
    (0, "max_protected must be at least 1, got 0"),
    (-3, "max_protected must be at least 1, got -3"),
    (True, "max_protected must be a whole number, got True"),
    ("16", "max_protected must be a whole number, got '16'"),
])
def test_max_protected_problem(value, problem):
    assert selection.max_protected_problem(value) == problem


def test_broad_negative_problem_for_every_selector_kind(table):
    # A daemon or two is fine, whatever selected it.
    for selector in (valid(pid=412), valid(comm="cron"), valid(unit="ssh"), valid(pattern="^/usr/sbin/cron"),
                     valid(pidfile="/run/cron.pid")):
        assert selection.broad_negative_problem(selector, [412, 520], table) is None
    # More than the limit, whatever selected it.
    many = list(range(2000, 2017))
    for pid in many:
        table[pid] = process(pid, 1, "worker", "worker.service")
    for selector in (valid(unit="worker"), valid(comm="worker"), valid(pattern="worker")):
        assert selection.broad_negative_problem(selector, many, table) == "it matches 17 processes, more than 16"
        assert selection.broad_negative_problem(selector, many, table, limit=17) is None
    assert selection.MAX_PROTECTED == 16


def test_broad_negative_problem_refuses_universal_patterns_whatever_matches_now(table):
    assert selection.broad_negative_problem(valid(pattern=".*"), [], table) == "pattern '.*' matches every process"


@pytest.mark.parametrize("pid, problem", [
    (1, "it matches pid 1 (systemd), PID 1"),
    (2, "it matches pid 2 (kthreadd), a kernel thread"),
    (1500, "it matches pid 1500 (chromium) of the user session session-3.scope"),
    (901, "it matches pid 901 (systemd) of the user session user@1000.service"),
])
def test_broad_negative_problem_refuses_pid_1_kernel_threads_and_sessions(table, pid, problem):
    table[2] = dict(process(2, 0, "kthreadd", None, ""), kernel_thread=True)
    table[901] = process(901, 1, "systemd", "user@1000.service", "/lib/systemd/systemd --user")
    assert selection.broad_negative_problem(valid(pid=pid), [412, pid], table) == problem


def test_a_unit_that_reads_as_an_option_is_refused():
    problems = selection.validate({"unit": "-Hevil.service"})
    assert problems and "not a valid systemd unit name" in problems[0]
