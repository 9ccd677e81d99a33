"""paths: the rules for a path an operator types, each message naming the variable."""

from __future__ import annotations

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.paths import absolute_problem, unit_path_problem


@pytest.mark.parametrize("path", ["/", "/etc/rock5b-oom/monitor.json", "/var/lib/x/", "/opt/my app/x", "/srv/%h"])
def test_absolute_normalized_paths_pass(path):
    assert absolute_problem(path, "some_path") is None


@pytest.mark.parametrize("path", ["", "etc/x", "../etc/x", "/etc/../tmp/x", "/etc/./x", "/etc//x", "/etc/x\n",
                                  "/etc/\x00x", None, 5, ["/etc"]])
def test_relative_unnormalized_control_or_non_string_paths_are_named(path):
    problem = absolute_problem(path, "some_path", " on the controller")
    assert problem and problem.startswith("some_path must be an absolute path on the controller")


@pytest.mark.parametrize("path", ["/usr/local/sbin/rock5b-oom-monitor", "/opt/rock5b_oom/python3.11", "/a/b+c@d-e.f"])
def test_unit_paths_of_plain_characters_pass(path):
    assert unit_path_problem(path, "monitor_command_path") is None


@pytest.mark.parametrize("path", ["/opt/my app/monitor", "/etc/%h.json", "/etc/$HOME/x", "/etc/'x'", '/etc/"x"',
                                  "/etc/a:b", "/etc/x/", "/etc/x;reboot", "/opt/caf\u00e9"])
def test_what_a_unit_would_split_expand_or_quote_is_refused(path):
    problem = unit_path_problem(path, "monitor_command_path")
    assert problem and problem.startswith("monitor_command_path must be an absolute path")


def test_a_unit_path_is_first_an_absolute_path():
    assert "written without '..'" in unit_path_problem("/usr/../bin/x", "monitor_python")
