# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entries of a file set (a file with its content, a directory, a link, or absence): what differs
on the board, and the batch.Change that makes it so and puts the old state back.

An entry is a dict with ``path``, ``state`` (file, directory, link, absent), ``content`` (file),
``src`` (link), ``mode_bits`` (an int), ``ids`` (a (uid, gid) pair; file and directory) and
optionally ``validate`` (file: a command with ``%s``, run on a temporary copy of the new content
before it is written). Everything is read and written through a hostfs.HostFS.

The rules of an entry's options that the controller can check too: ``mode_bits`` (and
``mode_problems``), ``normal_path`` and ``validate_argv``.
"""

from __future__ import annotations

import functools
import grp
import json
import os
import pwd
import re
import shlex
import stat
import tempfile

from ansible_collections.rock5b.oom.plugins.module_utils.batch import Change
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError, invalid

MODE_MAX = 0o7777
# An int mode is taken as its bits, as ansible.builtin.file does (YAML reads an unquoted 0644 as
# 420 == 0o644), but only up to 0o777: an unquoted 644 or 755 is the decimal 644 (0o1204) or 755
# (0o1363), sticky and unreadable; setuid, setgid and sticky bits must be asked for as strings.
MODE_INT_MAX = 0o777


def mode_bits(value):
    """The permission bits a ``mode`` option asks for: a string of octal digits ('0644', '644',
    '04755'; 0 to 07777) or an int taken as the bits (0 to 0o777). ValueError otherwise, its
    message starting with "mode"."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("mode %r is neither a string of octal digits nor a number" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("mode %d is negative" % value)
        if value > MODE_INT_MAX:
            raise ValueError("mode %d is a number above 0o777 (0o%o: setuid, setgid or sticky bits), as YAML reads an "
                             "unquoted 644; quote the mode, e.g. '0644'" % (value, value))
        return value
    if value.startswith("-"):
        raise ValueError("mode %r is negative" % value)
    if not re.fullmatch(r"[0-7]+", value):
        raise ValueError("mode %r is not octal" % value)
    if int(value, 8) > MODE_MAX:
        raise ValueError("mode %r is above 07777" % value)
    return int(value, 8)


def mode_problems(value, name):
    """``mode_bits``'s rule as a list of problems, each starting with ``name`` (for the controller)."""
    try:
        mode_bits(value)
    except ValueError as error:
        return ["%s: %s" % (name, error)]
    return []


def normal_path(path):
    """An absolute ``path`` without empty or '.' components and without a trailing slash ("/etc/app/"
    resolves a link at /etc/app, so its mode would be changed through it). ValueError for '..'."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError("path %r has a '..' component (it would be resolved through links); give the path itself" % path)
    return "/" + "/".join(parts)


def validate_argv(command, temp):
    """The argv of a ``validate`` command (split as a shell would, no shell run) with every ``%s``
    replaced by ``temp``. ValueError when it cannot be split or has no ``%s``."""
    argv = shlex.split(command)
    if not any("%s" in arg for arg in argv):
        raise ValueError("validate %r has no %%s (the path of the file to check)" % command)
    return [arg.replace("%s", temp) for arg in argv]


def entry_checker():
    """check(entry) -> problems of a file_set entry (its options as the module's argument spec
    validated them), for batch.validate_items. Remembers the paths seen; makes ``path`` normal
    (``normal_path``)."""
    seen = set()

    def check(entry):
        problems, state = [], entry["state"]
        if not os.path.isabs(entry["path"]):
            problems.append("path must be absolute")
        else:
            try:
                entry["path"] = normal_path(entry["path"])
            except ValueError as error:
                problems.append(str(error))
        if entry["path"] in seen:
            problems.append("listed twice")
        seen.add(entry["path"])
        if entry["content"] is not None and entry["json"] is not None:
            problems.append("content and json are mutually exclusive")
        if state == "file" and entry["content"] is None and entry["json"] is None:
            problems.append("a file needs content or json")
        if entry["content_if"] and (state != "file" or entry["content"] is None):
            problems.append("content_if goes with content (state=file)")
        if entry["json"] is not None:
            try:
                to_json(entry["json"])
            except (TypeError, ValueError) as exc:
                problems.append("json cannot be serialized: %s" % exc)
        if state == "link" and not entry["src"]:
            problems.append("a link needs src")
        if state != "file" and (entry["content"] is not None or entry["json"] is not None):
            problems.append("content and json are only for state=file")
        try:
            mode_bits(entry["mode"])
        except ValueError as error:
            problems.append(str(error))
        if entry["validate"] is not None:
            problems.extend(validate_problems(entry))
        if state in ("file", "directory"):
            try:
                pwd.getpwnam(entry["owner"])
                grp.getgrnam(entry["group"])
            except KeyError:
                problems.append("no such owner/group %s:%s" % (entry["owner"], entry["group"]))
        return problems

    return check


def validate_problems(entry):
    """Problems of an entry's ``validate`` command (``validate_argv``'s rule; only for files)."""
    if entry["state"] != "file":
        return ["validate is only for state=file"]
    try:
        validate_argv(entry["validate"], "")
    except ValueError as error:
        return [str(error)]
    return []


def to_json(data):
    """The text of ansible.builtin.to_nice_json(indent=2, sort_keys=true), plus a newline."""
    return json.dumps(data, indent=2, sort_keys=True, separators=(",", ": ")) + "\n"


def attributes_differ(info, entry):
    """Whether the lstat ``info`` has another mode or owner than ``entry`` wants."""
    return stat.S_IMODE(info.st_mode) != entry["mode_bits"] or (info.st_uid, info.st_gid) != entry["ids"]


def undo_for(fs, path, info, text, state):
    """How to put ``path`` back as the plan read it (``info``: its lstat or None, ``text``: the
    content of a regular file), after it was made ``state``. None when it cannot be: a
    directory tree removed or replaced, a file that is not text, a device or socket."""
    if info is None:
        return functools.partial(fs.remove, path)
    mode, owner = stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)
    if stat.S_ISDIR(info.st_mode):
        return functools.partial(fs.make_directory, path, mode, owner) if state == "directory" else None
    if stat.S_ISLNK(info.st_mode):
        target = fs.readlink(path)
        put_back = functools.partial(fs.symlink, path, target)
    elif stat.S_ISREG(info.st_mode) and text is not None:
        put_back = functools.partial(fs.write_atomic, path, text, mode, owner)
    else:
        return None

    def undo():
        if state == "directory":  # a rename cannot replace the directory made in its place
            fs.remove(path)
        put_back()
    return undo


def conflict(fs, entry, kind):
    """Why ``entry`` must not replace what is there (its file type ``kind``), or None."""
    state = entry["state"]
    if kind == stat.S_IFDIR and state in ("file", "link"):
        return ("is a directory; state=%s does not replace a directory (remove it with a state=absent entry "
                "before this one, or give another path)" % state)
    if kind == stat.S_IFLNK and state == "directory":
        return ("is a symbolic link (to %s); state=directory neither follows it (its target's mode and owner "
                "would change) nor replaces it: make it a directory, or list it with state=link"
                % fs.readlink(entry["path"]))
    return None


def check_content(entry, run):
    """Run ``entry``'s validate command through ``run(argv) -> (rc, out, err)`` on a temporary copy
    (mode 0600, in the system's temp directory) of the content to write; ModuleError naming the
    command and with the program's own words when it exits non-zero or cannot run."""
    handle, temp = tempfile.mkstemp(prefix="file_set.", suffix="." + os.path.basename(entry["path"])[-64:])
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(entry["content"])
        argv = validate_argv(entry["validate"], temp)
        try:
            rc, out, err = run(argv)
        except OSError as error:
            raise ModuleError("validate %r cannot run: %s" % (entry["validate"], error.strerror or error))
    finally:
        os.unlink(temp)
    if rc != 0:
        words = ((err or "").strip() or (out or "").strip() or "no output").replace(temp, entry["path"])
        raise ModuleError("validate %r refused the new content (exit %d): %s, so it was not written"
                          % (entry["validate"], rc, words))


def plan(fs, entry, gone=False):
    """(changed, before, after, Change or None) of one entry, reading only. ``before``/``after``
    are what the diff shows. ``gone``: an earlier entry removes a directory above this one, so
    it is planned as missing. ModuleError when the entry would replace what it must not
    (``conflict``)."""
    path, state = entry["path"], entry["state"]
    info = None if gone else fs.lstat(path)
    kind = stat.S_IFMT(info.st_mode) if info is not None else None
    problem = conflict(fs, entry, kind)
    if problem is not None:
        raise ModuleError(problem)
    text = fs.read_text(path) if kind == stat.S_IFREG else None
    if state == "absent":
        changed, before, after = info is not None, "present" if info is not None else "absent", "absent"
        apply = functools.partial(fs.remove, path)
    elif state == "link":
        before = fs.readlink(path) if kind == stat.S_IFLNK else None
        changed, after = before != entry["src"], entry["src"]
        apply = functools.partial(fs.symlink, path, entry["src"])
    elif state == "directory":
        changed, before, after = kind != stat.S_IFDIR or attributes_differ(info, entry), None, None
        apply = functools.partial(fs.make_directory, path, entry["mode_bits"], entry["ids"])
    else:
        before, after = text, entry["content"]
        changed = info is None or before != after or attributes_differ(info, entry)
        apply = functools.partial(fs.write_atomic, path, after, entry["mode_bits"], entry["ids"])
    change = Change(path, apply, undo_for(fs, path, info, text, state)) if changed else None
    return changed, before, after, change


def plan_all(fs, entries, run=None, label=None):
    """Per entry {path, state, changed} (and ``validate``: "passed", "unchanged" or "not run" for an
    entry with a validate command); the diff of the changed files, links and removals; and the
    Changes to apply, in order. An entry with ``validate`` has its content checked (``run``,
    see ``check_content``) as its Change is applied, after the entries before it: when it or
    any entry before it changes. ModuleError listing every entry that would replace what it
    must not (``label(entry, index)`` names it; its path by default), before anything is
    written."""
    results, diff, changes, removed, problems = [], [], [], [], []
    for index, entry in enumerate(entries):
        gone = any(entry["path"].startswith(path.rstrip("/") + "/") for path in removed)
        try:
            changed, before, after, change = plan(fs, entry, gone)
        except ModuleError as error:
            problems.append("%s: %s" % (label(entry, index) if label else entry["path"], error.msg))
            continue
        result = {"path": entry["path"], "state": entry["state"], "changed": changed}
        results.append(result)
        if entry["state"] == "absent":
            removed.append(entry["path"])
        if entry.get("validate") and entry["state"] == "file":
            result["validate"] = "not run" if changed or changes else "unchanged"
            if changed or changes:
                change = Change(entry["path"], functools.partial(_checked, entry, run, result, change),
                                change.undo if change is not None else _nothing)
        if changed:
            if entry["state"] in ("file", "link", "absent"):
                diff.append({"before_header": entry["path"], "after_header": entry["path"],
                             "before": before or "", "after": after or ""})
        if change is not None:
            changes.append(change)
    if problems:
        raise invalid(problems, what="files that cannot be applied")
    return results, diff, changes


def check_without_changes(entries, results, run, label=None):
    """Check mode: run the validate commands the plan (``plan_all``'s ``results``) would run, where
    that has no side effect and checks what the real run would check: only when no entry before
    it changes (else the command would run another program or read other files than after
    the real run; ``validate`` is then "skipped"). ModuleError listing every refusal."""
    problems, earlier_changed = [], False
    for index, (entry, result) in enumerate(zip(entries, results)):
        if result.get("validate") == "not run":
            if earlier_changed:
                result["validate"] = "skipped"
            else:
                try:
                    check_content(entry, run)
                    result["validate"] = "passed"
                except ModuleError as error:
                    problems.append("%s: %s" % (label(entry, index) if label else entry["path"], error.msg))
        earlier_changed = earlier_changed or result["changed"]
    if problems:
        raise invalid(problems, what="validation failed")


def _checked(entry, run, result, change):
    check_content(entry, run)
    result["validate"] = "passed"
    if change is not None:
        change.apply()


def _nothing():
    """The undo of a check that changed nothing."""
