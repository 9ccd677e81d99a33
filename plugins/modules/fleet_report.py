# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by plugins/action/fleet_report.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Write the fleet report (JSON and a static HTML page) from what report.yml collected
version_added: 0.1.0
description:
  - Builds one report of every board of the run from the variables C(playbooks/report.yml)
    leaves in C(hostvars) (its reach check C(rock5b_oom_report_reach), the audit's
    C(audit_oom_facts) and C(audit_findings)), unreachable and failed boards included, and
    writes it into O(dest) as C(report.json) and C(index.html), a self-contained page.
  - The schema of C(report.json) is in C(docs/report.md) and in the action plugin's docstring.
  - Runs on the controller only; changes no board.
author:
  - rock5b.oom contributors (!UNKNOWN)
options:
  dest:
    description:
      - The directory to write into, created when missing; absolute, or relative to the
        directory ansible-playbook runs in. Not empty, one line, not an existing file.
    type: str
    required: true
  hosts:
    description:
      - The inventory names of the boards to report, usually C(groups['rock5b']). A host without
        a reach result (outside C(--limit)) is left out.
      - Required unless O(validate_only=true).
    type: list
    elements: str
  validate_only:
    description:
      - Only check O(dest) and fail naming C(rock5b_oom_report_dir) when it cannot be used;
        write nothing.
    type: bool
    default: false
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
    support: none
    details: It writes the report in check mode too; playbooks/report.yml runs it with C(check_mode=false).
  delegation:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: all
seealso:
  - module: rock5b.oom.oom_facts
"""

EXAMPLES = r"""
- name: Write the fleet report
  rock5b.oom.fleet_report:
    dest: "{{ rock5b_oom_report_dir }}"
    hosts: "{{ groups['rock5b'] | default([]) }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
report_dir:
  description: The directory, absolute.
  returned: always
  type: str
  sample: /home/ops/rock5b-oom-report
json:
  description: The report's JSON file.
  returned: unless validate_only
  type: str
  sample: /home/ops/rock5b-oom-report/report.json
html:
  description: The report's page.
  returned: unless validate_only
  type: str
  sample: /home/ops/rock5b-oom-report/index.html
summary:
  description: The report's C(summary) (see docs/report.md).
  returned: unless validate_only
  type: dict
  sample: {"boards": 3, "drifted": 1, "unreachable": 1, "under_pressure": 0, "oom_kills_24h": 0,
           "oom_kills_7d": 2, "without_psi": 0, "killers": {"rock5b-oom-monitor": 2}}
"""
