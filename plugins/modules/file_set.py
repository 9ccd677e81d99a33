#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: file_set
short_description: Keep a set of files, directories and links exactly as given, in one call
version_added: 0.1.0
description:
  - Makes every entry of O(files) hold exactly the given content, mode and owner (or be a link,
    a directory, or absent), in one module execution per host. A fleet run pays a round trip
    and a Python start per module execution; installing a program, its config and its unit
    with one C(copy) or C(template) task each costs several of both, every run.
  - Content is rendered on the controller (C(lookup('ansible.builtin.template', ...)) or
    C(lookup('ansible.builtin.file', ...))) and passed in; files are written atomically and
    durably (a temporary file in the same directory, synced, given its mode and owner, then
    renamed over the old one), so a file never exists with partial content or the wrong mode.
  - Every entry is validated before anything is written, and all problems are reported. What is
    on the board is read before anything is written too - an entry is refused, and nothing is
    changed, when it would replace a directory by a file or link (list the directory as
    V(absent) before it) or would make a directory where a symbolic link is (no mode or owner is
    ever set through a link).
  - Entries are applied in order. When one fails, the entries changed before it in this run are
    put back (content, mode and owner, a link's target, or absence; a removed directory tree
    cannot be) and the task fails saying so.
  - With O(service), the same call then runs C(systemctl daemon-reload) when a unit file or
    drop-in changed and enables/starts (or disables/stops) the unit - a program, its config, its
    unit and the unit's state in one module execution per host.
author:
  - rock5b.oom contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - rock5b.oom.state_module
options:
  files:
    description: The entries, applied in order.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - Absolute path of the entry. Empty and C(.) components and a trailing slash are dropped
            (C(/etc/app/) would resolve a link at C(/etc/app)); a C(..) component is refused.
        type: path
        required: true
      state:
        description: What the path must be.
        type: str
        choices: [file, directory, link, absent]
        default: file
      content:
        description:
          - The file's exact text (O(files[].state=file)).
          - Mutually exclusive with O(files[].json).
        type: str
      json:
        description:
          - Data written as the file's content, serialized on the host as indented JSON with
            sorted keys and a final newline (as C(to_nice_json(indent=2, sort_keys=true))).
            Saves the controller the rendering of large structures.
          - Mutually exclusive with O(files[].content).
        type: raw
      content_if:
        description:
          - Variants of O(files[].content) chosen on the host by a board fact, so the controller
            need not read the board first. The first variant whose O(files[].content_if[].fact)
            has the value O(files[].content_if[].value) (and each of whose
            O(files[].content_if[].also) facts has its value) is written instead of
            O(files[].content); without a match O(files[].content) is.
          - The facts are read once per module execution, before anything is written; when one
            cannot be read the task fails and nothing is changed. The result's RV(board_facts)
            holds the values read.
        type: list
        elements: dict
        suboptions:
          fact:
            description:
              - The board fact. V(pid1_cap_sys_admin) - whether PID 1 (systemd) holds
                C(CAP_SYS_ADMIN) (bit 21 of C(CapEff) in C(/proc/1/status)), which it needs to
                create namespaces (C(PrivateTmp=) and friends) for a unit; false in an
                unprivileged container.
              - V(psi_trigger_unprivileged) - whether the running kernel (C(/proc/sys/kernel/osrelease))
                is Linux 6.5 or later, which lets a process without C(CAP_SYS_RESOURCE) arm PSI
                triggers whose window is a multiple of 2 s; false too when the release cannot be
                read or parsed.
            type: str
            required: true
            choices: [pid1_cap_sys_admin, psi_trigger_unprivileged]
          value:
            description: The value of the fact for which this variant applies.
            type: bool
            default: true
          also:
            description: Further facts that must all have their value too for this variant to apply.
            type: list
            elements: dict
            suboptions:
              fact:
                description: The board fact, as O(files[].content_if[].fact).
                type: str
                required: true
                choices: [pid1_cap_sys_admin, psi_trigger_unprivileged]
              value:
                description: Its value for which this variant applies.
                type: bool
                default: true
          content:
            description: The file's exact text when the variant applies.
            type: str
            required: true
      src:
        description: Where the link points (O(files[].state=link)).
        type: str
      validate:
        description:
          - A command that checks the new content before it is written (O(files[].state=file)), as
            O(ansible.builtin.template#module:validate) does - for example
            C(/usr/bin/python3 /usr/lib/myapp/myapp.py --check-config %s). Every C(%s) is replaced
            by the path of a temporary copy of the new content (mode 0600, in the system's temp
            directory). The command is split as a shell would split it but runs without a shell.
          - It runs when the entry is applied, after the entries before it, so a program written
            earlier in the same O(files) checks its own new config. It runs when this entry or any
            entry before it changes (a new program may refuse the old config). When it exits
            non-zero, the entry is not written, the entries changed before it are put back, O(service)
            is not touched and the task fails with the command's output.
          - In check mode it runs only when no entry before it changes (then it checks exactly what the
            real run would); otherwise it is skipped (each entry of RV(files) says so). It must have no
            side effects.
        type: str
      mode:
        description:
          - Mode of files and directories. A string of octal digits (V("0644"), V("04755"); at most
            V("07777")), or a number taken as the mode bits, as M(ansible.builtin.file) does (YAML
            reads an unquoted C(0644) as 420, which is 0o644) - but only up to 0o777, because an
            unquoted C(644) is the number 644 (0o1204, with the sticky bit). Setuid, setgid and
            sticky bits must be given as a string. Negative values are refused.
        type: raw
        default: "0644"
      owner:
        description: Owner of files and directories.
        type: str
        default: root
      group:
        description: Group of files and directories.
        type: str
        default: root
  service:
    description:
      - A systemd unit brought to the wanted state after the files are written. When any
        changed entry lies under C(/etc/systemd/), C(/run/systemd/), C(/usr/lib/systemd/),
        C(/usr/local/lib/systemd/) or C(/lib/systemd/) (a unit file or drop-in),
        C(systemctl daemon-reload) runs first.
      - In check mode nothing runs; the result predicts the reload and the state changes (a unit
        that systemd does not know yet is predicted as enabled and started).
      - C(systemctl) is looked up before anything is written; a failing C(systemctl) call fails
        the task after the files were written (the next run retries it).
    type: dict
    suboptions:
      name:
        description: The unit, for example C(myapp.service).
        type: str
        required: true
      enabled:
        description: Whether the unit must be enabled (C(systemctl enable)) or disabled.
        type: bool
        default: true
      state:
        description: Whether the unit must be running (C(started)) or not (C(stopped)).
        type: str
        choices: [started, stopped]
        default: started
"""

EXAMPLES = r"""
- name: Install a program, its config and its unit in one module execution
  rock5b.oom.file_set:
    files:
      - path: /usr/lib/myapp
        state: directory
        mode: "0755"
      - path: /usr/lib/myapp/myapp.py
        content: "{{ lookup('ansible.builtin.file', 'myapp.py') }}"
        mode: "0755"
      - path: /etc/myapp.json
        content: "{{ myapp_config | to_nice_json }}\n"
        # checked by the program written above; refused -> nothing changed, the task fails
        validate: /usr/bin/python3 /usr/lib/myapp/myapp.py --check-config %s
      - path: /usr/local/bin/myapp
        state: link
        src: /usr/lib/myapp/myapp.py
  register: myapp_files
  notify: Restart myapp

- name: Program, JSON config and unit, then the unit enabled and running, in one execution
  rock5b.oom.file_set:
    files:
      - path: /usr/local/bin/myapp
        content: "{{ lookup('ansible.builtin.file', 'myapp') }}"
        mode: "0755"
      - path: /etc/myapp.json
        json: "{{ myapp_config }}"
      - path: /etc/systemd/system/myapp.service
        content: "{{ lookup('ansible.builtin.template', 'myapp.service.j2', template_vars={'sandbox': true}) }}"
        content_if:
          # no namespaces for the unit where systemd cannot create them (unprivileged container)
          - fact: pid1_cap_sys_admin
            value: false
            content: "{{ lookup('ansible.builtin.template', 'myapp.service.j2', template_vars={'sandbox': false}) }}"
    service:
      name: myapp.service
  register: myapp_files
  notify: Restart myapp
"""

RETURN = r"""
changed_paths:
  description: The paths that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
  sample: ["/etc/myapp.json"]
files:
  description:
    - Per entry, its path, state and whether it changed.
    - For an entry with O(files[].validate), C(validate) - V(passed); V(unchanged) (not run, as neither
      the entry nor one before it changes); V(skipped) (check mode, where an entry before it changes);
      or V(not run) (check mode did not reach it).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/myapp.json", "state": "file", "changed": true, "validate": "passed"}]
board_facts:
  description: The board facts read for O(files[].content_if), by name.
  returned: when an entry has O(files[].content_if)
  type: dict
  sample: {"pid1_cap_sys_admin": true}
service:
  description:
    - The unit's state before and after (predicted in check mode), and whether
      C(systemctl daemon-reload) ran (would run).
  returned: when O(service) is given
  type: dict
  sample: {"name": "myapp.service", "changed": true, "daemon_reload": true,
           "enabled": {"before": false, "after": true}, "active": {"before": false, "after": true}}
"""

import functools
import grp
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils import hostfs
from ansible_collections.rock5b.oom.plugins.module_utils.batch import apply_changes, validate_items
from ansible_collections.rock5b.oom.plugins.module_utils.board_facts import FACT_OPTIONS, choose, facts_needed, read_facts
from ansible_collections.rock5b.oom.plugins.module_utils.errors import failing_on
from ansible_collections.rock5b.oom.plugins.module_utils.file_entries import check_without_changes, entry_checker, mode_bits, plan_all, to_json
from ansible_collections.rock5b.oom.plugins.module_utils.systemd import SYSTEMCTL, Systemctl, under_config_dirs

FILE_OPTIONS = dict(
    path=dict(type="path", required=True),
    state=dict(type="str", default="file", choices=["file", "directory", "link", "absent"]),
    content=dict(type="str"),
    json=dict(type="raw"),
    content_if=dict(type="list", elements="dict", options=dict(
        content=dict(type="str", required=True),
        also=dict(type="list", elements="dict", options=FACT_OPTIONS),
        **FACT_OPTIONS
    )),
    src=dict(type="str"),
    validate=dict(type="str"),
    mode=dict(type="raw", default="0644"),
    owner=dict(type="str", default="root"),
    group=dict(type="str", default="root"),
)
SERVICE_OPTIONS = dict(
    name=dict(type="str", required=True),
    enabled=dict(type="bool", default=True),
    state=dict(type="str", default="started", choices=["started", "stopped"]),
)


def entry_label(entry, index):
    return "files[%d] (%s)" % (index, entry.get("path") if isinstance(entry, dict) else entry)


def resolve(fs, entries):
    """Give each entry the content to write (from json or content_if) and its owner ids; the
    board facts read (None when no entry asked for one)."""
    names = facts_needed(entries)
    facts = read_facts(fs, names) if names else None
    for entry in entries:
        if entry["json"] is not None:
            entry["content"] = to_json(entry["json"])
        chosen = choose(entry["content_if"], facts) if entry["content_if"] else None
        if chosen is not None:
            entry["content"] = chosen
        entry["mode_bits"] = mode_bits(entry["mode"])
        if entry["state"] in ("file", "directory"):
            entry["ids"] = (pwd.getpwnam(entry["owner"]).pw_uid, grp.getgrnam(entry["group"]).gr_gid)
    return facts


def converge_service(module, systemctl, service, changed_paths):
    name = service["name"]
    want_enabled, want_active = service["enabled"], service["state"] == "started"
    reload_needed = any(under_config_dirs(path) for path in changed_paths)
    if reload_needed and not module.check_mode:
        systemctl.daemon_reload()
    enabled, active = systemctl.state(name)
    result = {"name": name, "daemon_reload": reload_needed,
              "enabled": {"before": enabled, "after": want_enabled},
              "active": {"before": active, "after": want_active}}
    if not module.check_mode:
        if enabled != want_enabled:
            systemctl.enable(name, want_enabled)
        if active != want_active:
            systemctl.start(name, want_active)
    result["changed"] = reload_needed or enabled != want_enabled or active != want_active
    return result


def service_diff(state):
    text = "enabled: %s\nactive: %s\n"
    header = "systemd unit %s" % state["name"]
    return {"before_header": header, "after_header": header,
            "before": text % (state["enabled"]["before"], state["active"]["before"]),
            "after": text % (state["enabled"]["after"], state["active"]["after"])
            + ("daemon-reload: yes\n" if state["daemon_reload"] else "")}


def run(module, fs):
    service = module.params["service"]
    entries = validate_items(module.params["files"], FILE_OPTIONS, entry_checker(), what="invalid files",
                             label=entry_label)
    if service is not None:
        module.get_bin_path(SYSTEMCTL, required=True)  # fails here, before anything is written
    facts = resolve(fs, entries)
    # validate commands: no shell, no expansion of ~ or $VAR, a missing program is an OSError.
    runner = functools.partial(module.run_command, expand_user_and_vars=False, handle_exceptions=False)
    results, diff, changes = plan_all(fs, entries, run=runner, label=entry_label)
    if module.check_mode:
        check_without_changes(entries, results, runner, label=entry_label)
    else:
        apply_changes(changes)
    changed_paths = [item["path"] for item in results if item["changed"]]
    extra = {}
    if facts is not None:
        extra["board_facts"] = facts
    if service is not None:
        extra["service"] = converge_service(module, Systemctl(module), service, changed_paths)
        if extra["service"]["changed"]:
            diff.append(service_diff(extra["service"]))
    changed = bool(changed_paths) or extra.get("service", {}).get("changed", False)
    return dict(changed=changed, changed_paths=changed_paths, files=results, diff=diff, **extra)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True, options=FILE_OPTIONS),
            service=dict(type="dict", options=SERVICE_OPTIONS),
        ),
        supports_check_mode=True,
    )
    with failing_on(module):
        result = run(module, hostfs.host())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
