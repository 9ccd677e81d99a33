# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rock5b.oom.pull_settings_problems filter: what is wrong with the pull timer's settings."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pull_settings_problems
author:
  - rock5b.oom contributors (!UNKNOWN)
version_added: 0.1.0
short_description: The problems of P(rock5b.oom.self_heal#role)'s settings, each naming its variable
description:
  - Checks a dictionary of P(rock5b.oom.self_heal#role)'s variables (their names as keys; absent
    keys are not checked) and returns one message per problem, each naming the variable, in order.
  - "The rules: exactly one pull source; O(rock5b.oom.self_heal#role:main:self_heal_repo_url) is C(https://), C(ssh://), C(user@host:path),
    an absolute path or C(file:///path) - never C(http://), C(git://) or a git remote helper - and carries
    no credentials; O(rock5b.oom.self_heal#role:main:self_heal_deploy_key) needs an ssh URL; the branch is a git branch name; board paths
    are absolute and plain; time spans are systemd time spans; signing keys are OpenSSH public keys;
    no value holds a control character."
  - The role asserts that the list is empty before it changes anything on a board.
positional: _input
options:
  _input:
    description: The settings, role variable name to value.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the settings before anything is written on the board
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ {'self_heal_repo_url': self_heal_repo_url, 'self_heal_branch': self_heal_branch}
                  | rock5b.oom.pull_settings_problems }}"
"""

RETURN = r"""
_value:
  description: One message per problem, each naming its variable; empty when the settings are valid.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.rock5b.oom.plugins.module_utils.pull_settings import problems


def pull_settings_problems(settings):
    """The problems of ``settings`` (rock5b.oom.self_heal variable name -> value)."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError("pull_settings_problems: expects a dictionary of settings, got %s" % type(settings).__name__)
    return problems(dict(settings))


class FilterModule:
    """rock5b.oom filters."""

    def filters(self):
        return {"pull_settings_problems": pull_settings_problems}
