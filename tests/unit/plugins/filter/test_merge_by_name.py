"""The merge_by_name filter: lists of dicts merged by name, later keys winning, sorted by name."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.rock5b.oom.plugins.filter import merge_by_name as merge_by_name_module
from ansible_collections.rock5b.oom.plugins.filter.merge_by_name import FilterModule, merge_by_name

BASE = [
    {"name": "sshd", "comm": "sshd", "score": -1000, "persist": False},
    {"name": "monitor", "unit": "rock5b-oom-monitor.service", "score": -1000},
]


def test_a_later_entry_overrides_keys_and_keeps_the_others():
    merged = merge_by_name(BASE, [{"name": "sshd", "score": -500}, {"name": "mosquitto", "unit": "mosquitto", "score": -900}])
    assert merged == [
        {"name": "monitor", "unit": "rock5b-oom-monitor.service", "score": -1000},
        {"name": "mosquitto", "unit": "mosquitto", "score": -900},
        {"name": "sshd", "comm": "sshd", "score": -500, "persist": False},
    ]


def test_same_result_as_groupby_map_last_map_combine():
    """What roles wrote before the filter: (a + b) | groupby('name') | map('last') | map('combine')."""
    extra = [{"name": "b", "x": 2}, {"name": "a", "y": 1}, {"name": "b", "x": 3, "z": 0}]
    base = [{"name": "b", "x": 1, "w": 9}, {"name": "c"}]
    groups = {}
    for entry in base + extra:
        groups.setdefault(entry["name"], []).append(entry)
    expected = []
    for name in sorted(groups):
        combined = {}
        for entry in groups[name]:
            combined.update(entry)
        expected.append(combined)
    assert merge_by_name(base, extra) == expected
    assert merge_by_name(base + extra) == expected


def test_inputs_are_not_modified_and_empty_lists_merge_to_nothing():
    base = [{"name": "a", "k": 1}]
    merge_by_name(base, [{"name": "a", "k": 2}])
    assert base == [{"name": "a", "k": 1}]
    assert merge_by_name([], []) == [] and merge_by_name([]) == []


@pytest.mark.parametrize("base, extra, message", [
    ([{"score": 1}], [], r"the input\[0\] needs a name"),
    ([{"name": ""}], [], r"the input\[0\] needs a name"),
    ([{"name": 5}], [], r"the input\[0\] needs a name"),
    ([], [{"name": "a"}, {"unit": "x"}], r"list 1\[1\] needs a name .*'unit': 'x'"),
    ([], ["sshd"], r"list 1\[0\] is not a dictionary but str"),
    ("sshd", [], "the input is not a list of dictionaries but str"),
    ([], {"name": "a"}, "list 1 is not a list of dictionaries but dict"),
])
def test_clear_errors(base, extra, message):
    with pytest.raises(AnsibleFilterError, match=message):
        merge_by_name(base, extra)


def test_registered_under_its_name():
    assert FilterModule().filters()["merge_by_name"] is merge_by_name


def test_documentation_is_yaml_ansible_doc_can_render():
    import yaml  # pylint: disable=import-outside-toplevel

    doc = yaml.safe_load(merge_by_name_module.DOCUMENTATION)
    assert doc["name"] == "merge_by_name" and doc["positional"] == "_input, _lists"
    assert set(doc["options"]) == {"_input", "_lists"}
    assert yaml.safe_load(merge_by_name_module.RETURN)["_value"]["type"] == "list"
    assert all("rock5b.oom.merge_by_name" in str(task) for task in yaml.safe_load(merge_by_name_module.EXAMPLES))
