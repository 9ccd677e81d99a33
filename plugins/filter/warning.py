# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rock5b.oom.warning filter: a controller warning, attached to the task being templated."""

from __future__ import annotations

DOCUMENTATION = r"""
name: warning
author:
  - rock5b.oom contributors (!UNKNOWN)
version_added: 0.1.0
short_description: Emit a warning on the controller and return the message
description:
  - Emits the input as an Ansible warning (C([WARNING]:)) and returns it unchanged. Templated in a
    task, the warning belongs to that task's result, like a module's C(warnings), and Ansible shows
    each distinct warning once per run, not once per host.
  - For a risk the operator accepted but must not forget, which a C(debug) message would hide
    among the task results.
positional: _input
options:
  _input:
    description: The warning.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Warn that the boards run unverified commits
  ansible.builtin.assert:
    that: ("commits are not verified" | rock5b.oom.warning) is string
    quiet: true
  when: not verify_commit
"""

RETURN = r"""
_value:
  description: The message, unchanged.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display


def warning(message):
    """Emit ``message`` as a warning; return it."""
    if not isinstance(message, str) or not message:
        raise AnsibleFilterError("warning: expects a non-empty message, got %r" % (message,))
    Display().warning(message)
    return message


class FilterModule:
    """rock5b.oom filters."""

    def filters(self):
        return {"warning": warning}
