# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rock5b.oom.merge_by_name filter: lists of dicts merged by their name key."""

from __future__ import annotations

DOCUMENTATION = r"""
name: merge_by_name
author:
  - rock5b.oom contributors (!UNKNOWN)
version_added: 0.1.0
short_description: Merge lists of dictionaries by their C(name) key
description:
  - Joins the lists and merges the entries that share a C(name) into one dictionary, a later
    entry's keys overriding an earlier one's (a shallow merge, as P(ansible.builtin.combine#filter)
    does without O(ansible.builtin.combine#filter:recursive)).
  - This is how a role lets an inventory override or extend a base list, for example
    C(protect_daemons_extra) over C(protect_daemons_list) in P(rock5b.oom.protect_daemons#role).
  - The result is sorted by name, so it does not depend on where an override sits. This is the
    result of the C(groupby) idiom the filter replaces,
    V((a + b\) | groupby('name'\) | map('last'\) | map('combine'\) | list).
  - An entry that is not a dictionary, or has no C(name), or a C(name) that is not a non-empty
    string, fails the templating with a message naming its list and position.
positional: _input, _lists
options:
  _input:
    description: The base list of dictionaries, each with a C(name).
    type: list
    elements: dict
    required: true
  _lists:
    description: Further lists merged over the base list, in order.
    type: list
    elements: list
    required: false
"""

EXAMPLES = r"""
- name: The base list with the inventory's entries merged over it
  ansible.builtin.debug:
    msg: "{{ protect_daemons_list | rock5b.oom.merge_by_name(protect_daemons_extra) }}"

# [{'name': 'a', 'score': -500, 'unit': 'a.service'}, {'name': 'b', 'score': 0}]
- name: A later entry's keys override an earlier one's; the result is sorted by name
  ansible.builtin.debug:
    msg: "{{ [{'name': 'b', 'score': 0}, {'name': 'a', 'unit': 'a.service', 'score': -900}]
             | rock5b.oom.merge_by_name([{'name': 'a', 'score': -500}]) }}"
"""

RETURN = r"""
_value:
  description: One dictionary per name, sorted by name, each the merge of that name's entries in order.
  type: list
  elements: dict
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def merge_by_name(base, *lists):
    """Entries of ``base`` and then ``lists`` merged by ``name``, later keys winning; sorted by name."""
    merged = {}
    for number, entries in enumerate((base,) + lists):
        where = "the input" if number == 0 else "list %d" % number
        if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Sequence):
            raise AnsibleFilterError("merge_by_name: %s is not a list of dictionaries but %s"
                                     % (where, type(entries).__name__))
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise AnsibleFilterError("merge_by_name: %s[%d] is not a dictionary but %s"
                                         % (where, index, type(entry).__name__))
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                raise AnsibleFilterError("merge_by_name: %s[%d] needs a name (a non-empty string), has %r: %r"
                                         % (where, index, name, dict(entry)))
            merged.setdefault(name, {}).update(entry)
    return [merged[name] for name in sorted(merged)]


class FilterModule:
    """rock5b.oom filters."""

    def filters(self):
        return {"merge_by_name": merge_by_name}
