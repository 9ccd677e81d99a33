"""A raw cgroup's options (raw_cgroup.py); planning and applying are tested through cgroup_memory."""

from __future__ import annotations

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import raw_cgroup


def params(**given):
    base = dict(path="rock5b/app", state="present", pids=[], comm=None, pattern=None)
    base.update(given)
    return base


@pytest.mark.parametrize("given, fragment", [
    ({"path": "/"}, "root of the memory hierarchy"),
    ({"path": ""}, "root of the memory hierarchy"),
    ({"path": "a/../../etc"}, "inside"),
    ({"pattern": "("}, "not a valid regular expression"),
    ({"comm": ""}, "comm is empty"),
    ({"state": "absent", "comm": "x"}, "moves no processes"),
    ({"pids": [True]}, "pids: True is not a process id"),
    ({"pids": [0]}, "pids: 0 is not a process id"),
    ({"pids": [-5, 10]}, "pids: -5 is not a process id"),
])
def test_check_reads_nothing_and_names_the_problem(given, fragment):
    problems = raw_cgroup.check(params(**given))
    assert len(problems) == 1 and fragment in problems[0], problems


def test_check_compiles_the_pattern():
    given = params(pattern="^myapp")
    assert raw_cgroup.check(given) == []
    assert given["regex"].search("myapp --serve")
