# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entries of a file set (a file with its content, a directory, a link, or absence): what differs
on the board, and the batch.Change that makes it so and puts the old state back.

An entry is a dict with ``path``, ``state`` (file, directory, link, absent), ``content`` (file),
``src`` (link), ``mode_bits`` (an int) and ``ids`` (a (uid, gid) pair; file and directory).
Everything is read and written through a hostfs.HostFS.
"""

from __future__ import annotations

import functools
import stat

from ansible_collections.rock5b.oom.plugins.module_utils.batch import Change


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


def plan(fs, entry, gone=False):
    """(changed, before, after, Change or None) of one entry, reading only. ``before``/``after``
    are what the diff shows. ``gone``: an earlier entry removes a directory above this one, so
    it is planned as missing."""
    path, state = entry["path"], entry["state"]
    info = None if gone else fs.lstat(path)
    kind = stat.S_IFMT(info.st_mode) if info is not None else None
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


def plan_all(fs, entries):
    """Per entry {path, state, changed}; the diff of the changed files, links and removals; and
    the Changes to apply, in order."""
    results, diff, changes, removed = [], [], [], []
    for entry in entries:
        gone = any(entry["path"].startswith(path.rstrip("/") + "/") for path in removed)
        changed, before, after, change = plan(fs, entry, gone)
        results.append({"path": entry["path"], "state": entry["state"], "changed": changed})
        if entry["state"] == "absent":
            removed.append(entry["path"])
        if changed:
            if entry["state"] in ("file", "link", "absent"):
                diff.append({"before_header": entry["path"], "after_header": entry["path"],
                             "before": before or "", "after": after or ""})
            changes.append(change)
    return results, diff, changes
