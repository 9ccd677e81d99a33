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
        description: The file's exact text (O(files[].state=file)).
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
"""

import grp
import os
import pwd
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

FS_ROOT = "/"


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
        if state == "file" and entry["content"] is None:
            errors.append("%s: a file needs content" % where)
        if state == "link" and not entry["src"]:
            errors.append("%s: a link needs src" % where)
        if state != "file" and entry["content"] is not None:
            errors.append("%s: content is only for state=file" % where)
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
            src=dict(type="str"),
            mode=dict(type="str", default="0644"),
            owner=dict(type="str", default="root"),
            group=dict(type="str", default="root"),
        ))),
        supports_check_mode=True,
    )
    entries = module.params["files"]
    validate(module, entries)
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
    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths, files=results, diff=diff)


if __name__ == "__main__":
    main()
