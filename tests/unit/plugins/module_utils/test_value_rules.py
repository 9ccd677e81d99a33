"""value_rules: the controller-side rules of role variables, each over the layer owning the fact."""

from __future__ import annotations

import math

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import value_rules


@pytest.mark.parametrize("rule, value, options", [
    ("integer", True, {}),
    ("integer", 1.5, {}),
    ("integer", 5, {"minimum": 10}),
    ("integer", 50, {"maximum": 10}),
    ("number", math.nan, {}),
    ("number", math.inf, {}),
    ("number", False, {}),
    ("size", "1180591620717411303424", {}),
    ("size", "512MB", {}),
    ("size", "-5M", {}),
    ("size", "max", {"allow_max": False}),
    ("size_or_percent", "abc", {}),
    ("percent", "150%", {}),
    ("percent", "40", {}),
    ("regex", "(", {}),
    ("unit", "-Hevil.service", {}),
    ("unit", "a.service\n", {}),
    ("unit", "a.service", {"suffix": ".slice"}),
    ("dropin_name", "../x.conf", {}),
    ("dropin_name", "x.conf\n", {}),
    ("absolute_path", "relative/dir", {}),
    ("absolute_path", "/etc/../tmp/x", {}),
    ("oom_score", -2000, {}),
    ("oom_score", True, {}),
    ("vm_profile", {"vm.overcommit_memory": 5}, {}),
    ("vm_profile", {"kernel.panic": 1}, {}),
    ("sysctl_path", "/etc/sysctl.d/../../tmp/x.conf", {}),
    ("sysctl_path", "/etc/sysctl.d/", {}),
    ("tmpfiles_path", "/etc/rock5b-lru-gen.conf", {}),
    ("tmpfiles_path", "/etc/tmpfiles.d/../x.conf", {}),
    ("cgroup_target", {"unit": "a.service", "memory_max": 0}, {}),
    ("cgroup_target", {"unit": "a.service", "memory_high": "2G", "memory_max": "1G"}, {}),
    ("cgroup_target", {"unit": "-Hevil.service", "memory_max": "64M"}, {}),
    ("cgroup_target", {"path": "x", "memory_max": "64M", "pids": [True]}, {}),
    ("cgroup_target", {"path": "../..", "memory_max": "64M"}, {}),
    ("protect_entry", {"name": "all", "pattern": ".*", "score": -1000}, {}),
    ("protect_entry", {"name": "x", "comm": "sshd", "score": True}, {}),
    ("protect_entry", {"name": "x", "score": 100}, {}),
    ("protect_entry", {"name": "x", "pidfile": "run/sshd.pid", "score": -500}, {}),
    ("protect_entry", {"name": "x", "comm": "sshd", "score": "١٠٠"}, {}),
    ("protect_entry", {"name": "x", "unit": "-Hevil.service", "score": 100}, {}),
    ("cgroup_target", {"path": "x", "memory_max": "64M", "pattern": "^"}, {}),
    ("cgroup_target", {"path": "x", "memory_max": "64M", "pids": ["١"]}, {}),
    ("integer", "٥", {}),
    ("cgroup_target", {"unit": "demo-app.service\n", "memory_max": "64M"}, {}),
    ("listen_address", "9100", {}),
    ("listen_address", ":0", {}),
    ("listen_address", ":65536", {}),
    ("listen_address", "0.0.0.0:9100 --web.disable-exporter-metrics", {}),
    ("listen_address", "::1:9100", {}),
    ("listen_address", 9100, {}),
])
def test_rule_refuses_and_names_the_variable(rule, value, options):
    problems = value_rules.RULES[rule](value, "the_variable", **options)
    assert problems and all(problem.startswith("the_variable") for problem in problems), problems


@pytest.mark.parametrize("rule, value, options", [
    ("integer", 10, {"minimum": 10, "maximum": 10}),
    ("number", 0.5, {"minimum": 0, "maximum": 1}),
    ("size", "512M", {}),
    ("size", "max", {}),
    ("size_or_percent", "5%", {}),
    ("percent", "12.5%", {}),
    ("regex", "^sshd$", {}),
    ("unit", "ssh", {}),
    ("unit", "rock5b-untrusted.slice", {"suffix": ".slice"}),
    ("dropin_name", "60-rock5b-memory.conf", {}),
    ("absolute_path", "/usr/local/lib/rock5b-oom", {}),
    ("oom_score", -1000, {}),
    ("vm_profile", {"vm.min_free_kbytes": "auto", "vm/overcommit_memory": 2}, {}),
    ("sysctl_path", "/etc/sysctl.d/99-oom-rock5b.conf", {}),
    ("tmpfiles_path", "/etc/tmpfiles.d/rock5b-oom-lru-gen.conf", {}),
    ("cgroup_target", {"unit": "demo-app.service", "memory_max": "512M", "memory_high": "384M",
                       "slice": "rock5b-untrusted.slice"}, {}),
    ("cgroup_target", {"path": "apps/camera", "memory_max": "256M", "comm": "ffmpeg"}, {}),
    ("protect_entry", {"name": "sshd", "unit": "ssh", "comm": "sshd", "score": -1000, "scope": "main"}, {}),
    ("protect_entry", {"name": "all", "pattern": ".*", "score": -1000, "allow_broad": True}, {}),
    ("protect_entry", {"name": "app", "unit": "demo-app.service", "score": 500}, {}),
    ("protect_entry", {"name": "app", "unit": "demo-app.service", "score": "500"}, {}),
    ("cgroup_target", {"path": "x", "memory_max": "64M", "pids": ["1234"]}, {}),
    ("listen_address", ":9100", {}),
    ("listen_address", "127.0.0.1:9100", {}),
    ("listen_address", "[::1]:9100", {}),
    ("listen_address", "board-7.lan:9100", {}),
])
def test_rule_accepts_good_values(rule, value, options):
    assert value_rules.RULES[rule](value, "the_variable", **options) == []


def test_each_and_list_rules_name_the_entry():
    rules = {"units": {"each": {"memory_max": {"rule": "size"}, "pids": {"rule": "integer", "list": True, "minimum": 2}}}}
    problems = value_rules.check(rules, {"units": [{"memory_max": "64M", "pids": [5]}, {"memory_max": "64X", "pids": [3, 1]}]})
    assert len(problems) == 2
    assert problems[0].startswith("units[1].memory_max")
    assert problems[1].startswith("units[1].pids[1]")


def test_unset_variables_are_not_checked():
    assert value_rules.check({"a": {"rule": "integer", "minimum": 5}}, {}) == []


def test_an_unknown_rule_is_a_bug_in_the_role():
    with pytest.raises(ValueError, match="unknown rule 'intger'"):
        value_rules.check({"a": {"rule": "intger"}}, {"a": 1}, owner="roles/x/meta/value_rules.yml")


def test_monitor_config_rules_use_the_programs_validation_and_name_the_variables():
    rules = {"monitor_warn": {"rule": "monitor_config", "key": "warn"},
             "monitor_critical": {"rule": "monitor_config", "key": "critical"},
             "monitor_poll_min_ms": {"rule": "monitor_config", "key": "poll.min_ms"}}
    inverted = value_rules.check(rules, {"monitor_warn": "100M", "monitor_critical": "200M", "monitor_poll_min_ms": 100})
    assert len(inverted) == 1 and inverted[0].startswith("monitor_") and "critical" in inverted[0]
    assert "monitor_poll_min_ms" not in inverted[0]
    too_fast = value_rules.check(rules, {"monitor_warn": "200M", "monitor_critical": "100M", "monitor_poll_min_ms": 0})
    assert len(too_fast) == 1 and too_fast[0].startswith("monitor_poll_min_ms: poll.min_ms")
    assert value_rules.check(rules, {"monitor_warn": "200M", "monitor_critical": "100M", "monitor_poll_min_ms": 100}) == []
    # The value as the role's template hands it to the program: "٥" is text there, not 5.
    unicode_digit = value_rules.check(rules, {"monitor_warn": "200M", "monitor_critical": "100M", "monitor_poll_min_ms": "٥"})
    assert len(unicode_digit) == 1 and unicode_digit[0].startswith("monitor_poll_min_ms")


@pytest.mark.parametrize("rule, value", [("absolute_path", ""), ("unit_path", ""), ("unit_path", "/opt/rock 5b/lib"),
                                         ("unit_path", "/etc/%h.json"), ("unit_path", "/usr/bin/$PY"), ("unit_path", "rel/x")])
def test_path_rules_refuse_empty_and_what_a_unit_would_split_or_expand(rule, value):
    problems = value_rules.RULES[rule](value, "monitor_install_dir")
    assert problems and problems[0].startswith("monitor_install_dir must be an absolute path"), problems


def test_empty_is_none_only_where_the_rule_says_so():
    assert value_rules.RULES["unit_path"]("", "monitor_command_path", empty_ok=True) == []


def test_a_variable_may_meet_several_rules_and_each_names_it():
    rules = {"monitor_metrics_path": [{"rule": "monitor_config", "key": "metrics.path"}, {"rule": "unit_path", "empty_ok": True}]}
    problems = value_rules.check(rules, {"monitor_metrics_path": "/var/lib/my exporter/x.prom"})
    assert problems and all(problem.startswith("monitor_metrics_path") for problem in problems), problems
    assert value_rules.check(rules, {"monitor_metrics_path": "/var/lib/prometheus/node-exporter/x.prom"}) == []
