"""file_entries: what differs per entry, and the Change that applies it and puts the old state back."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import file_entries
from ansible_collections.rock5b.oom.plugins.module_utils.batch import apply_changes
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
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


# --- the mode rule, path rule, and what an entry may not replace ---------------------------

@pytest.mark.parametrize("value, bits", [
    ("0644", 0o644), ("644", 0o644), ("04755", 0o4755), ("0", 0), ("7777", 0o7777),
    # YAML reads an unquoted 0644 as the int 420: ansible.builtin.file takes an int as the bits.
    (420, 0o644), (0o755, 0o755), (0, 0),
])
def test_mode_bits_reads_modes_as_ansible_builtin_file_does(value, bits):
    assert file_entries.mode_bits(value) == bits and file_entries.mode_problems(value, "files[0].mode") == []


@pytest.mark.parametrize("value, words", [
    ("9", "is not octal"), ("rw-r--r--", "is not octal"), ("", "is not octal"), ("0x1ff", "is not octal"),
    ("-0644", "negative"), (-420, "negative"), ("17777", "above 07777"), ("0o644", "is not octal"),
    (644, "quote the mode"), (2541, "quote the mode"), (True, "neither"), (6.44, "neither"), (None, "neither"),
])
def test_mode_bits_refuses_what_would_set_unexpected_bits(value, words):
    with pytest.raises(ValueError) as caught:
        file_entries.mode_bits(value)
    assert words in str(caught.value) and str(caught.value).startswith("mode ")
    assert file_entries.mode_problems(value, "files[2].mode") == ["files[2].mode: " + str(caught.value)]


@pytest.mark.parametrize("path, normal", [
    ("/etc/app/", "/etc/app"), ("/etc//app", "/etc/app"), ("/etc/./app/.", "/etc/app"), ("/", "/"),
])
def test_normal_path_drops_what_would_resolve_a_link(path, normal):
    assert file_entries.normal_path(path) == normal


def test_normal_path_refuses_dot_dot():
    with pytest.raises(ValueError, match=r"'\.\.'"):
        file_entries.normal_path("/etc/../root")


def test_directory_over_a_link_is_refused_and_the_target_keeps_its_mode(tmp_path):
    fs = HostFS(root=str(tmp_path))
    fs.make_directory("/secret", 0o700)
    fs.symlink("/etc/app", "../secret")
    with pytest.raises(ModuleError) as caught:
        file_entries.plan_all(fs, [entry("/etc/ok", content="ok\n"), entry("/etc/app", "directory", mode=0o777)])
    assert "/etc/app: is a symbolic link (to ../secret)" in caught.value.msg and "nothing was changed" in caught.value.msg
    assert fs.readlink("/etc/app") == "../secret" and stat.S_IMODE(os.stat(fs.path("/secret")).st_mode) == 0o700
    assert not fs.lexists("/etc/ok")


@pytest.mark.parametrize("state, src", [("file", None), ("link", "/x")])
def test_file_or_link_over_a_directory_is_refused_while_planning(tmp_path, state, src):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/d/kept", "k\n")
    with pytest.raises(ModuleError) as caught:
        file_entries.plan_all(fs, [entry("/etc/d", state, content="x\n" if src is None else None, src=src)],
                              label=lambda item, index: "files[%d] (%s)" % (index, item["path"]))
    assert "files[0] (/etc/d): is a directory" in caught.value.msg
    assert fs.read_text("/etc/d/kept") == "k\n"


def test_a_directory_below_one_removed_earlier_in_the_list_may_be_replaced(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/d/sub/kept", "k\n")
    results = file_entries.plan_all(fs, [entry("/etc/d", "absent"), entry("/etc/d/sub", content="now a file\n")])[0]
    assert [item["changed"] for item in results] == [True, True]


# --- validate ------------------------------------------------------------------------------

def recording_runner(rc=0, out="", err=""):
    calls = []

    def run(argv):
        with open(argv[-1]) as handle:
            calls.append((list(argv), handle.read()))
        return rc, out, err
    return run, calls


def test_validate_runs_on_a_temp_copy_before_the_write(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/a.json", "old\n")
    run, calls = recording_runner()
    item = dict(entry("/etc/a.json", content="new\n"), validate="/usr/bin/check --strict %s")
    results, _diff, changes = file_entries.plan_all(fs, [item], run=run)
    assert calls == []  # planning runs nothing
    changes[0].apply()
    assert calls[0][0][:2] == ["/usr/bin/check", "--strict"] and calls[0][1] == "new\n"
    assert not os.path.exists(calls[0][0][2]) and fs.read_text("/etc/a.json") == "new\n"
    assert results[0]["validate"] == "passed"


def test_refused_content_is_not_written_and_the_message_has_the_programs_words(tmp_path):
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/a.json", "old\n")
    run, _calls = recording_runner(78, "", "config error: kill.grace_s: must be 1 to 60\n")
    item = dict(entry("/etc/a.json", content="new\n"), validate="/usr/bin/check %s")
    changes = file_entries.plan_all(fs, [item], run=run)[2]
    with pytest.raises(ModuleError) as caught:
        changes[0].apply()
    assert "exit 78" in caught.value.msg and "config error: kill.grace_s: must be 1 to 60" in caught.value.msg
    assert fs.read_text("/etc/a.json") == "old\n"


def test_an_unchanged_entry_is_validated_when_an_earlier_one_changes(tmp_path):
    # A new program may refuse the config it is given: the config is checked by it even when
    # the config's text stays the same.
    fs = HostFS(root=str(tmp_path))
    write(fs, "/etc/a.json", "same\n")
    run, calls = recording_runner(78, "refused\n", "")
    entries = [entry("/usr/lib/app.py", content="new program\n"),
               dict(entry("/etc/a.json", content="same\n"), validate="/usr/bin/check %s")]
    results, _diff, changes = file_entries.plan_all(fs, entries, run=run)
    assert [item["changed"] for item in results] == [True, False] and len(changes) == 2
    with pytest.raises(ModuleError, match="refused"):
        apply_changes(changes)
    assert not fs.lexists("/usr/lib/app.py") and calls[0][1] == "same\n"
    assert file_entries.plan_all(fs, entries[1:], run=run)[2] == []  # nothing changes: nothing to check
