# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by plugins/action/validate_role_arguments.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate_role_arguments
short_description: Validate the arguments of several rock5b.oom roles in one task
version_added: 0.1.0
description:
  - Validates the variables of each named role of this collection against the C(main) entry
    point of that role's own C(meta/argument_specs.yml), with the same validator
    ansible-core uses for a role's automatic validation task.
  - For a play that imports several of the roles with C(rolespec_validate=false), as
    C(playbooks/tasks/harden.yml) does, so that a fleet run spends one task per board on
    validation instead of one per role. Importing a role without that option validates it
    as usual; nothing is lost by not using this action.
  - Runs on the controller only; never changes anything.
author:
  - rock5b.oom contributors (!UNKNOWN)
options:
  roles:
    description:
      - Names of roles in this collection, without the C(rock5b.oom.) prefix.
      - All are checked before the task fails, and the message names every role and error.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  connection:
    support: none
  check_mode:
    support: full
  delegation:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - Use it only together with C(rolespec_validate=false) on the same roles' imports; otherwise
    each role is validated twice.
"""

EXAMPLES = r"""
- name: Validate the arguments of every role below, once per board
  rock5b.oom.validate_role_arguments:
    roles: [sysctl_profile, protect_daemons]
  tags: [always]

- name: Apply the vm.* OOM sysctl profile
  ansible.builtin.import_role:
    name: rock5b.oom.sysctl_profile
    rolespec_validate: false

- name: Protect critical daemons from the OOM killer
  ansible.builtin.import_role:
    name: rock5b.oom.protect_daemons
    rolespec_validate: false
"""

RETURN = r"""
validated_roles:
  description: The roles whose arguments were checked.
  returned: always
  type: list
  elements: str
  sample: [sysctl_profile, protect_daemons]
argument_errors:
  description: The validation errors, by role.
  returned: when validation failed
  type: dict
  sample: {"sysctl_profile": ["argument 'sysctl_profile_apply_live' is of type str and we were unable to convert to bool"]}
"""
