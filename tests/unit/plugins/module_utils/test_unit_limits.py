"""A systemd unit's memory properties (unit_limits.py): values, checks, and the header of its files."""

from __future__ import annotations

from ansible_collections.rock5b.oom.plugins.module_utils import systemd, unit_limits
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.sizes import MAX


def params(**given):
    base = dict(unit="myapp", dropin_name="60-rock5b-memory.conf", oom_group=None, oom_kill_disable=None,
                comm=None, pattern=None, pids=[], slice=None, oom_policy=None, managed_oom_memory_pressure_limit=None)
    base.update(given)
    return base


def test_header_keeps_the_wording_boards_already_have():
    # Drop-ins and slice files written before keep their content (no rewrite, no daemon-reload).
    assert unit_limits.HEADER == (
        "# Managed by Ansible (rock5b.oom.cgroup_memory). Local edits are overwritten on the next run;\n"
        "# set the limits through the cgroup_limits_units variable instead.\n")
    assert systemd.header("x", "y") == ("# Managed by Ansible (rock5b.oom.x). Local edits are overwritten on the "
                                        "next run;\n# set it through the y variable instead.\n")
    assert unit_limits.render_slice("A\nB").startswith(unit_limits.HEADER + "[Unit]\nDescription=A B\n")


def test_percentages_as_given_and_as_systemd_shows_them():
    assert unit_limits.permyriad("60%") == 6000 and unit_limits.permyriad("12.5 %") == 1250
    assert unit_limits.permyriad("160%") is None and unit_limits.permyriad("60") is None
    assert unit_limits.show_permyriad("60.00%") == 6000
    assert unit_limits.show_permyriad(str((6000 * 0xFFFFFFFF + 5000) // 10000)) == 6000
    assert unit_limits.render_percent(6000) == "60%" and unit_limits.render_percent(1250) == "12.50%"


def test_live_values_go_back_as_set_property_takes_them():
    assert unit_limits.comparable("MemoryMax", "infinity") == MAX
    assert unit_limits.comparable("MemoryMax", "536870912") == 536870912
    assert unit_limits.render_live("MemoryMax", MAX) == "infinity"
    assert unit_limits.render_live("MemoryHigh", 536870912) == "536870912"
    assert unit_limits.render_live("ManagedOOMMemoryPressureLimit", 6000) == "60%"
    assert unit_limits.render_live("ManagedOOMSwap", "kill") == "kill"


def test_check_normalizes_the_unit_and_lists_every_problem():
    given = params(oom_group=True, pids=[5], slice="nope", managed_oom_memory_pressure_limit="x")
    problems = unit_limits.check(given)
    assert given["unit"] == "myapp.service"
    assert len(problems) == 4
    assert unit_limits.check(params(unit="x.timer")) == ["unit x.timer: only .service, .scope and .slice units take "
                                                         "memory limits here"]
    assert unit_limits.check(params(unit="my app")) == ["unit 'my app' is not a valid systemd unit name"]
    assert unit_limits.check(params()) == []


def test_check_refuses_a_dropin_name_with_a_trailing_newline():
    assert any("dropin_name" in problem for problem in unit_limits.check(params(dropin_name="60-x.conf\n")))
    assert any("dropin_name" in problem for problem in unit_limits.check(params(dropin_name="../x.conf")))


def test_check_refuses_a_unit_beginning_with_a_dash_and_bad_slice_names():
    assert unit_limits.check(params(unit="-myapp")) == [
        "unit '-myapp' begins with '-', which tools read as an option; name the unit without it"]
    assert unit_limits.check(params(unit="-.slice")) == ["unit -.slice is the root slice, which takes no memory limits"]
    for name in ("a--b.slice", "a-.slice", "-a.slice"):
        assert len(unit_limits.check(params(unit=name))) == 1
    assert unit_limits.check(params(unit="a--b.slice")) == ["unit 'a--b.slice' is not a valid slice name"]
    assert unit_limits.check(params(unit="rock5b-untrusted.slice")) == []
    # Slice= may name the root slice; other names follow systemd's slice rule.
    assert unit_limits.check(params(slice="-.slice")) == []
    assert unit_limits.check(params(slice="rock5b-untrusted.slice")) == []
    for name in ("-x.slice", "x-.slice", "x--y.slice", "x.service"):
        assert unit_limits.check(params(slice=name)) == [
            "slice %r is not a valid slice unit name (like rock5b-untrusted.slice)" % name]
    assert unit_limits.unit_problem("myapp.service", "myapp") is None
