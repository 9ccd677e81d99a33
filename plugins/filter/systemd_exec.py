# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rock5b.oom.systemd_exec filter: an argument list as a systemd ExecStart= command line."""

from __future__ import annotations

DOCUMENTATION = r"""
name: systemd_exec
author:
  - rock5b.oom contributors (!UNKNOWN)
version_added: 0.1.0
short_description: An argument list as the command line of a systemd C(ExecStart=)
description:
  - Writes a list of arguments so that systemd reads back exactly that list from C(ExecStart=),
    C(ExecStartPre=) and the other C(Exec*=) settings of a unit (systemd.service(5), "Command lines").
  - Every C(%) is written C(%%) (systemd expands specifiers such as C(%n) in the command line) and
    every C($) is written C($$) (systemd substitutes environment variables in the arguments).
  - An argument that is empty or holds anything but letters, digits and C(_@%+=:,./$-) is quoted,
    with systemd's quoting, not a shell's - in both single and double quotes a backslash starts an
    escape, so backslashes and the quote are escaped, and control characters are written C(\xNN).
    A lone C(;) is quoted too (unquoted, it would separate two commands).
  - The first element is the executable and must be an absolute path without C($) (systemd does
    not substitute variables there) and not starting with one of systemd's prefixes.
  - A NUL character, or an element that is not a string or a number, fails the templating.
positional: _input
options:
  _input:
    description: The command, executable first.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
# ExecStart=/opt/venv/bin/ansible-playbook --extra-vars 'x={"a": "50%% of $$HOME"}' site.yml
- name: A unit's command line from a list
  ansible.builtin.copy:
    dest: /etc/systemd/system/example.service
    content: |
      [Service]
      ExecStart={{ ['/opt/venv/bin/ansible-playbook', '--extra-vars', 'x={"a": "50% of $HOME"}', 'site.yml']
                   | rock5b.oom.systemd_exec }}
"""

RETURN = r"""
_value:
  description: The command line, to follow C(ExecStart=) on one line of a unit file.
  type: str
"""

import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

BARE = re.compile(r"\A[A-Za-z0-9_@%+=:,./$-]+\Z")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def systemd_exec_word(value):
    """One argument as systemd reads it back from an Exec*= line: specifiers, variables and quotes escaped."""
    if "\x00" in value:
        raise AnsibleFilterError("systemd_exec: an argument contains a NUL character: %r" % value)
    value = value.replace("%", "%%").replace("$", "$$")
    if BARE.match(value):
        return value
    quote = "'" if '"' in value and "'" not in value else '"'
    value = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return quote + CONTROL.sub(lambda match: "\\x%02x" % ord(match.group()), value) + quote


def systemd_exec(argv):
    """The list ``argv`` (executable first) as the command line of a systemd Exec*= setting."""
    if isinstance(argv, (str, bytes, Mapping)) or not isinstance(argv, Sequence) or not argv:
        raise AnsibleFilterError("systemd_exec: expects a non-empty list of arguments, got %r" % (argv,))
    words = []
    for index, arg in enumerate(argv):
        if isinstance(arg, bool) or not isinstance(arg, (str, int, float)):
            raise AnsibleFilterError("systemd_exec: argument %d is not a string but %s: %r" % (index, type(arg).__name__, arg))
        words.append(str(arg))
    executable = words[0]
    if not executable.startswith("/") or "$" in executable or CONTROL.search(executable):
        raise AnsibleFilterError("systemd_exec: the executable must be an absolute path without '$' or control characters, got %r"
                                 % executable)
    return " ".join(systemd_exec_word(word) for word in words)


class FilterModule:
    """rock5b.oom filters."""

    def filters(self):
        return {"systemd_exec": systemd_exec}
