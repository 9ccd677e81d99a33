"""file_entries: what differs per entry, and the Change that applies it and puts the old state back."""

from __future__ import annotations

import os
import stat

from ansible_collections.rock5b.oom.plugins.module_utils import file_entries
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS

IDS = (os.getuid(), os.getgid())


def entry(path, state="file", content=None, src=None, mode=0o644):
    return {"path": path, "state": state, "content": content, "src": src, "mode_bits": mode, "ids": IDS}


def write(fs, path, text, mode=0o644):
    fs.write_atomic(path, text, mode)


def test_unchanged_file_plans_no_change(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/a", "a\n")
    assert file_entries.plan(fs, entry("/etc/a", content="a\n")) == (False, "a\n", "a\n", None)


def test_mode_drift_is_a_change_and_undo_restores_content_and_mode(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/a", "old\n", 0o600)
    changed, before, after, change = file_entries.plan(fs, entry("/etc/a", content="new\n", mode=0o640))
    assert changed and (before, after) == ("old\n", "new\n")
    change.apply()
    assert fs.read_text("/etc/a") == "new\n" and stat.S_IMODE(fs.lstat("/etc/a").st_mode) == 0o640
    change.undo()
    assert fs.read_text("/etc/a") == "old\n" and stat.S_IMODE(fs.lstat("/etc/a").st_mode) == 0o600


def test_undo_of_a_new_entry_removes_it(tmp_path):
    fs = HostFS(root=str(tmp_path))
    for item in (entry("/etc/new", content="x\n"), entry("/etc/link", "link", src="/x"),
                 entry("/etc/dir", "directory", mode=0o755)):
        change = file_entries.plan(fs, item)[3]
        change.apply()
        assert fs.lexists(item["path"])
        change.undo()
        assert not fs.lexists(item["path"])


def test_link_replacing_a_file_and_back(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/bin/app", "#!/bin/sh\n", 0o755)
    changed, before, after, change = file_entries.plan(fs, entry("/bin/app", "link", src="/opt/app"))
    assert changed and (before, after) == (None, "/opt/app")
    change.apply()
    assert fs.readlink("/bin/app") == "/opt/app"
    change.undo()
    assert not fs.islink("/bin/app") and fs.read_text("/bin/app") == "#!/bin/sh\n"


def test_directory_replacing_a_file_is_undone(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/d", "was a file\n")
    change = file_entries.plan(fs, entry("/etc/d", "directory", mode=0o755))[3]
    change.apply()
    assert fs.isdir("/etc/d")
    change.undo()
    assert fs.read_text("/etc/d") == "was a file\n"


def test_removed_directory_tree_cannot_be_undone(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/app/a", "a\n")
    changed, before, after, change = file_entries.plan(fs, entry("/etc/app", "absent"))
    assert changed and (before, after) == ("present", "absent") and change.undo is None


def test_entries_below_a_removed_directory_are_planned_as_missing(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/app/a", "a\n")
    write(fs, "/etc/application", "b\n")
    results, diff, changes = file_entries.plan_all(fs, [entry("/etc/app", "absent"), entry("/etc/app/a", content="a\n"),
                                                        entry("/etc/application", content="b\n")])
    assert [item["changed"] for item in results] == [True, True, False]
    assert [item["before"] for item in diff] == ["present", ""]
    assert [change.label for change in changes] == ["/etc/app", "/etc/app/a"]
