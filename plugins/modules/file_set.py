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
    C(lookup('ansible.builtin.file', ...))) and passed in; files are written atomically
    (a temporary file in the same directory renamed over the old one).
  - Every entry is validated before anything is written.
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
        description: Absolute path of the entry.
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
      content_without_namespaces:
        description:
          - Written instead of O(files[].content) when PID 1 lacks C(CAP_SYS_ADMIN) (bit 21 of
            C(CapEff) in C(/proc/1/status)), that is when systemd cannot create namespaces
            (C(PrivateTmp=) and friends) for a unit, as in an unprivileged container. Lets a
            unit file be decided on the host, without a separate read of C(/proc/1/status).
          - The result's RV(pid1_namespaces) says which variant applied.
        type: str
      src:
        description: Where the link points (O(files[].state=link)).
        type: str
      mode:
        description: Octal mode as a string, for files and directories.
        type: str
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
        changed entry lies under C(/etc/systemd/), C(/run/systemd/), C(/usr/lib/systemd/) or
        C(/lib/systemd/) (a unit file or drop-in), C(systemctl daemon-reload) runs first.
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
        content_without_namespaces: "{{ lookup('ansible.builtin.template', 'myapp.service.j2', template_vars={'sandbox': false}) }}"
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
  description: Per entry, its path, state and whether it changed.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/myapp.json", "state": "file", "changed": true}]
pid1_namespaces:
  description:
    - Whether PID 1 holds C(CAP_SYS_ADMIN), so O(files[].content) rather than
      O(files[].content_without_namespaces) was used.
  returned: when an entry has O(files[].content_without_namespaces)
  type: bool
  sample: true
service:
  description:
    - The unit's state before and after (predicted in check mode), and whether
      C(systemctl daemon-reload) ran (would run).
  returned: when O(service) is given
  type: dict
  sample: {"name": "myapp.service", "changed": true, "daemon_reload": true,
           "enabled": {"before": false, "after": true}, "active": {"before": false, "after": true}}
"""

import grp
import json
import os
import pwd
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import CAP_SYS_ADMIN, has_capability

FS_ROOT = "/"
SYSTEMCTL = "systemctl"
# Where a changed entry means systemd must re-read its units.
UNIT_DIRS = ("/etc/systemd/", "/run/systemd/", "/usr/lib/systemd/", "/lib/systemd/")
ACTIVE_STATES = ("active", "activating", "reloading")
ENABLED_STATES = ("enabled", "enabled-runtime")


def real(path):
    return os.path.join(FS_ROOT, path.lstrip("/"))


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None


def validate(module, entries):
    errors, seen = [], set()
    for index, entry in enumerate(entries):
        where = "files[%d] (%s)" % (index, entry["path"])
        if not os.path.isabs(entry["path"]):
            errors.append("%s: path must be absolute" % where)
        if entry["path"] in seen:
            errors.append("%s: listed twice" % where)
        seen.add(entry["path"])
        state = entry["state"]
        if entry["content"] is not None and entry["json"] is not None:
            errors.append("%s: content and json are mutually exclusive" % where)
        if state == "file" and entry["content"] is None and entry["json"] is None:
            errors.append("%s: a file needs content or json" % where)
        if entry["content_without_namespaces"] is not None and (state != "file" or entry["content"] is None):
            errors.append("%s: content_without_namespaces goes with content (state=file)" % where)
        if entry["json"] is not None:
            try:
                to_json(entry["json"])
            except (TypeError, ValueError) as exc:
                errors.append("%s: json cannot be serialized: %s" % (where, exc))
        if state == "link" and not entry["src"]:
            errors.append("%s: a link needs src" % where)
        if state != "file" and (entry["content"] is not None or entry["json"] is not None):
            errors.append("%s: content and json are only for state=file" % where)
        try:
            int(entry["mode"], 8)
        except ValueError:
            errors.append("%s: mode %r is not octal" % (where, entry["mode"]))
        if state in ("file", "directory"):
            try:
                pwd.getpwnam(entry["owner"])
                grp.getgrnam(entry["group"])
            except KeyError:
                errors.append("%s: no such owner/group %s:%s" % (where, entry["owner"], entry["group"]))
    if errors:
        module.fail_json(msg="invalid files, nothing was changed: " + "; ".join(errors), errors=errors)


def to_json(data):
    """The text of ansible.builtin.to_nice_json(indent=2, sort_keys=true), plus a newline."""
    return json.dumps(data, indent=2, sort_keys=True, separators=(",", ": ")) + "\n"


def pid1_has_namespaces(module):
    """Whether PID 1 (systemd) holds CAP_SYS_ADMIN, which it needs to create namespaces."""
    namespaces = has_capability(real("/proc"), CAP_SYS_ADMIN, pid=1)
    if namespaces is None:
        module.fail_json(msg="cannot read CapEff of PID 1 (/proc/1/status), nothing was changed")
    return namespaces


def resolve_content(module, entries):
    """Turn json and content_without_namespaces into the content to write; PID 1's namespaces
    capability (None when no entry asked for it)."""
    namespaces = None
    if any(entry["content_without_namespaces"] is not None for entry in entries):
        namespaces = pid1_has_namespaces(module)
    for entry in entries:
        if entry["json"] is not None:
            entry["content"] = to_json(entry["json"])
        elif entry["content_without_namespaces"] is not None and not namespaces:
            entry["content"] = entry["content_without_namespaces"]
    return namespaces


def systemctl(module, *args):
    rc, out, err = module.run_command([SYSTEMCTL] + list(args))
    if rc != 0:
        module.fail_json(msg="systemctl %s failed: %s" % (" ".join(args), (err or out).strip()))
    return out


def unit_state(module, name):
    """(enabled, active) as systemd reports them; a unit it does not know is neither."""
    out = systemctl(module, "show", "--no-pager", "-pLoadState", "-pActiveState", "-pUnitFileState", name)
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return props.get("UnitFileState", "") in ENABLED_STATES, props.get("ActiveState", "") in ACTIVE_STATES


def converge_service(module, service, changed_paths):
    name = service["name"]
    want_enabled, want_active = service["enabled"], service["state"] == "started"
    reload_needed = any(path.startswith(UNIT_DIRS) for path in changed_paths)
    if reload_needed and not module.check_mode:
        systemctl(module, "daemon-reload")
    enabled, active = unit_state(module, name)
    result = {"name": name, "daemon_reload": reload_needed,
              "enabled": {"before": enabled, "after": want_enabled},
              "active": {"before": active, "after": want_active}}
    if not module.check_mode:
        if enabled != want_enabled:
            systemctl(module, "enable" if want_enabled else "disable", name)
        if active != want_active:
            systemctl(module, "start" if want_active else "stop", name)
    result["changed"] = reload_needed or enabled != want_enabled or active != want_active
    return result


def attributes_differ(path, entry):
    info = os.lstat(path)
    return (stat.S_IMODE(info.st_mode) != int(entry["mode"], 8)
            or info.st_uid != pwd.getpwnam(entry["owner"]).pw_uid
            or info.st_gid != grp.getgrnam(entry["group"]).gr_gid)


def set_attributes(path, entry):
    os.chown(path, pwd.getpwnam(entry["owner"]).pw_uid, grp.getgrnam(entry["group"]).gr_gid)
    os.chmod(path, int(entry["mode"], 8))


def plan(entry):
    """(changed, before, after) of one entry, reading only."""
    path, state = real(entry["path"]), entry["state"]
    exists = os.path.lexists(path)
    if state == "absent":
        return exists, "present" if exists else "absent", "absent"
    if state == "link":
        current = os.readlink(path) if os.path.islink(path) else None
        return current != entry["src"], current, entry["src"]
    if state == "directory":
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        return (not is_dir or attributes_differ(path, entry)), None, None
    before = read_text(path) if os.path.isfile(path) and not os.path.islink(path) else None
    changed = before != entry["content"] or attributes_differ(path, entry)
    return changed, before, entry["content"]


def apply(module, entry):
    path, state = real(entry["path"]), entry["state"]
    if state == "absent":
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    if state == "directory":
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
        if not os.path.isdir(path):
            os.mkdir(path)
        set_attributes(path, entry)
    elif state == "link":
        temp = "%s.%d.tmp" % (path, os.getpid())
        os.symlink(entry["src"], temp)
        os.rename(temp, path)
    else:
        handle, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=parent)
        with os.fdopen(handle, "w") as stream:
            stream.write(entry["content"])
        module.atomic_move(temp, path, keep_dest_attrs=False)
        # atomic_move gives a new file the default mode less the umask: set ours afterwards.
        set_attributes(path, entry)


def main():
    module = AnsibleModule(
        argument_spec=dict(files=dict(type="list", elements="dict", required=True, options=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", default="file", choices=["file", "directory", "link", "absent"]),
            content=dict(type="str"),
            json=dict(type="raw"),
            content_without_namespaces=dict(type="str"),
            src=dict(type="str"),
            mode=dict(type="str", default="0644"),
            owner=dict(type="str", default="root"),
            group=dict(type="str", default="root"),
        )),
            service=dict(type="dict", options=dict(
                name=dict(type="str", required=True),
                enabled=dict(type="bool", default=True),
                state=dict(type="str", default="started", choices=["started", "stopped"]),
            ))),
        supports_check_mode=True,
    )
    entries, service = module.params["files"], module.params["service"]
    validate(module, entries)
    if service is not None:
        module.get_bin_path(SYSTEMCTL, required=True)  # fails here, before anything is written
    namespaces = resolve_content(module, entries)
    results, diff = [], []
    for entry in entries:
        changed, before, after = plan(entry)
        results.append({"path": entry["path"], "state": entry["state"], "changed": changed})
        if changed:
            if entry["state"] in ("file", "link", "absent"):
                diff.append({"before_header": entry["path"], "after_header": entry["path"],
                             "before": before or "", "after": after or ""})
            if not module.check_mode:
                apply(module, entry)
    changed_paths = [item["path"] for item in results if item["changed"]]
    extra = {}
    if namespaces is not None:
        extra["pid1_namespaces"] = namespaces
    if service is not None:
        extra["service"] = converge_service(module, service, changed_paths)
        if extra["service"]["changed"]:
            state = extra["service"]
            text = "enabled: %s\nactive: %s\n"
            diff.append({"before_header": "systemd unit %s" % service["name"],
                         "after_header": "systemd unit %s" % service["name"],
                         "before": text % (state["enabled"]["before"], state["active"]["before"]),
                         "after": text % (state["enabled"]["after"], state["active"]["after"])
                         + ("daemon-reload: yes\n" if state["daemon_reload"] else "")})
    changed = bool(changed_paths) or extra.get("service", {}).get("changed", False)
    module.exit_json(changed=changed, changed_paths=changed_paths, files=results, diff=diff, **extra)


if __name__ == "__main__":
    main()
