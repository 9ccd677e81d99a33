"""killer_backends: earlyoom's arguments from the monitor's settings, the comm rule, the regexes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible.errors import AnsibleFilterError
from ansible_collections.rock5b.oom.plugins.filter.earlyoom_args import earlyoom_args as earlyoom_args_filter
from ansible_collections.rock5b.oom.plugins.module_utils import killer_backends, value_rules
from ansible_collections.rock5b.oom.plugins.module_utils.killer_backends import comm_problem, comm_regex, earlyoom_args

PROTECTED = ["systemd", "systemd-journal", "sshd"]


def flag(args, name):
    """The value after ``name``, or None; a flag given twice is a bug."""
    assert args.count(name) <= 1, args
    return args[args.index(name) + 1] if name in args else None


@pytest.mark.parametrize("critical, flags", [
    ("100M", {"-M": "102400", "-m": None}),     # the default: binary units, in KiB
    ("1G", {"-M": "1048576", "-m": None}),
    ("512K", {"-M": "512", "-m": None}),
    ("1.5M", {"-M": "1536", "-m": None}),
    ("5%", {"-m": "5", "-M": None}),            # a share of MemTotal, as the monitor reads it
    ("2.5%", {"-m": "2.5", "-M": None}),
])
def test_critical_is_the_sigterm_level_and_sigkill_stays_earlyooms_half(critical, flags):
    args = earlyoom_args(critical, True, [], [])
    for name, value in flags.items():
        assert flag(args, name) == value, args
    # no ",KILL" part: earlyoom sends SIGKILL at half of the SIGTERM level
    assert not any("," in arg for arg in args), args


def test_swap_is_ignored_only_when_the_monitor_ignores_it():
    assert flag(earlyoom_args("100M", False, [], []), "-s") == "100"
    counted = earlyoom_args("100M", True, [], [])
    # earlyoom's own swap minimum; never -S, which fails earlyoom's start above the swap total
    assert flag(counted, "-s") is None and flag(counted, "-S") is None


def test_a_report_an_hour_and_nothing_else_by_default():
    assert earlyoom_args("100M", True, [], []) == ["-r", "3600", "-M", "102400"]


def test_protected_comms_are_avoided_and_preferred_ones_preferred():
    args = earlyoom_args("100M", True, PROTECTED, ["chromium", "node"])
    assert flag(args, "--avoid") == "^(systemd|systemd-journal|sshd)$"
    assert flag(args, "--prefer") == "^(chromium|node)$"


def test_names_with_regex_characters_are_escaped_and_duplicates_dropped():
    assert comm_regex(["a.b", "x+y", "(c)", "a.b", "p|q", "$^", "[z]{2}", "back\\slash", "star*?"]) == (
        r"^(a\.b|x\+y|\(c\)|p\|q|\$\^|\[z\]\{2\}|back\\slash|star\*\?)$")
    assert comm_regex([]) is None


def test_a_protected_name_longer_than_a_comm_is_cut_as_the_kernel_cuts_it():
    args = earlyoom_args("100M", True, ["chromium-browser", "systemd"], [])
    assert flag(args, "--avoid") == "^(chromium-browse|systemd)$"


@pytest.mark.parametrize("comm, words", [
    ("", "empty"),
    ("chromium-browser", "'chromium-browse'"),      # 16 characters: what the kernel shows instead
    ("ab\ncd", "control character"),
    ("tab\there", "control character"),
    ("ééééééééé", "longer than a process name"),  # 9 characters, 18 bytes
    (5, "not a process name"),
    (True, "not a process name"),
])
def test_a_preferred_name_that_is_no_comm_is_refused(comm, words):
    assert words in comm_problem(comm, "monitor_prefer_comms[0]")
    with pytest.raises(ValueError, match=r"monitor_prefer_comms\[0\]"):
        earlyoom_args("100M", True, [], [comm])


@pytest.mark.parametrize("comm", ["a", "Web Content", "kworker/0:1", "systemd-journal", "éééé"])
def test_comms_the_kernel_keeps_are_accepted(comm):
    assert comm_problem(comm, "x") is None


def test_a_bad_threshold_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match="monitor_critical"):
        earlyoom_args("100", True, [], [])


@given(st.lists(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=1, max_size=15),
                min_size=1, max_size=6))
def test_the_regex_matches_exactly_the_names(names):
    # Python's re reads these escapes as POSIX extended regular expressions do (earlyoom's regcomp).
    pattern = re.compile(comm_regex(names))
    for name in names:
        assert pattern.search(name), (names, name)
    for other in ("", "x" * 16, names[0] + "x", "x" + names[0], names[0][:-1]):
        assert bool(pattern.search(other)) == (other in names), (names, other)


def test_the_value_rule_and_the_filter_say_the_same():
    rules = {"monitor_prefer_comms": {"rule": "comm", "list": True}}
    problems = value_rules.check(rules, {"monitor_prefer_comms": ["ok", "chromium-browser"]})
    assert problems == [comm_problem("chromium-browser", "monitor_prefer_comms[1]")]
    assert value_rules.check(rules, {"monitor_prefer_comms": ["ok", "Web Content"]}) == []
    with pytest.raises(AnsibleFilterError, match=r"monitor_prefer_comms\[1\]"):
        earlyoom_args_filter("100M", prefer=["ok", "chromium-browser"])
    with pytest.raises(AnsibleFilterError, match="list of process names"):
        earlyoom_args_filter("100M", prefer="chromium")
    with pytest.raises(AnsibleFilterError, match="boolean"):
        earlyoom_args_filter("100M", count_swap="no")
    expected = ["-r", "3600", "-m", "5", "-s", "100", "--avoid", "^(sshd)$"]
    assert earlyoom_args_filter("5%", count_swap=False, avoid=["sshd"]) == expected


def test_the_role_flags_are_the_ones_earlyoom_args_sets():
    args = earlyoom_args("100M", False, ["a"], ["b"]) + earlyoom_args("5%", True, [], [])
    assert set(arg for arg in args if arg.startswith("-") and not arg[1:].isdigit()) - {"-r"} <= set(killer_backends.ROLE_FLAGS)
