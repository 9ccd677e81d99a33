"""batch: validate every item before anything, apply in order, undo newest first."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import batch
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import WriteError

SPEC = dict(name=dict(type="str", required=True), size=dict(type="int", default=1),
            kind=dict(type="str", choices=["a", "b"], default="a"))


def small(params):
    return ["size %d is over 10" % params["size"]] if params["size"] > 10 else []


def test_valid_items_come_back_with_defaults():
    assert batch.validate_items([{"name": "x"}, {"name": "y", "size": "3"}], SPEC, small) == [
        {"name": "x", "size": 1, "kind": "a"}, {"name": "y", "size": 3, "kind": "a"}]


def test_every_problem_of_every_item_is_listed_in_one_error():
    checked = []

    def check(params):
        checked.append(params["name"])
        return small(params)

    with pytest.raises(ModuleError) as caught:
        batch.validate_items([{"name": "x", "size": 11}, {"size": 2}, "text", {"name": "z", "kind": "c"},
                              {"name": "w", "size": 12}], SPEC, check, what="invalid targets")
    error = caught.value
    assert error.msg.startswith("invalid targets, nothing was changed: ")
    assert [problem.split(":")[0] for problem in error.result["errors"]] == [
        "item 1 (x)", "item 2", "item 3", "item 4 (z)", "item 5 (w)"]
    assert "size 11 is over 10" in error.result["errors"][0] and "size 12 is over 10" in error.result["errors"][4]
    assert "name" in error.result["errors"][1] and "must be a dict" in error.result["errors"][2]
    assert "kind" in error.result["errors"][3]
    assert checked == ["x", "w"]  # the module's checks run on items that passed their spec


def test_spec_rules_and_labels_apply():
    with pytest.raises(ModuleError) as caught:
        batch.validate_items([{"name": "x", "size": 2, "kind": "b"}], SPEC, mutually_exclusive=[["size", "kind"]],
                             label=lambda item, index: "targets[%d]" % index)
    assert caught.value.result["errors"][0].startswith("targets[0]: ") and "mutually exclusive" in caught.value.msg


class Log:
    def __init__(self):
        self.events = []

    def change(self, label, fail=None, undo=True, undo_fails=False):
        def apply():
            if fail is not None:
                raise fail
            self.events.append("apply " + label)

        def undo_it():
            if undo_fails:
                raise OSError(errno.EIO, "Input/output error")
            self.events.append("undo " + label)
        return batch.Change(label, apply, undo_it if undo else None)


def test_all_applied_in_order():
    log = Log()
    assert batch.apply_changes([log.change("a"), log.change("b")]) == ["a", "b"]
    assert log.events == ["apply a", "apply b"]


def test_a_failure_undoes_the_applied_ones_newest_first_and_says_so():
    log = Log()
    with pytest.raises(ModuleError) as caught:
        batch.apply_changes([log.change("a"), log.change("b"), log.change("c", fail=WriteError("/c", OSError(errno.EROFS, "Read-only file system"))),
                             log.change("d")])
    assert log.events == ["apply a", "apply b", "undo b", "undo a"]
    assert caught.value.msg == ("c: read-only /: cannot persist /c (the file system mounted at / is read-only). "
                                "Changes made before it in this run were undone.")
    assert caught.value.result == {"applied": [], "failed": "c", "persisted": False, "kept_live": []}


def test_a_read_only_file_system_keeps_the_live_changes_before_it_and_undoes_the_files():
    log = Log()
    changes = [log.change("live a"), log.change("file b"), log.change("live c"),
               log.change("file d", fail=WriteError("/etc/d", OSError(errno.EROFS, "Read-only file system")))]
    changes[0].live = changes[2].live = True
    with pytest.raises(ModuleError) as caught:
        batch.apply_changes(changes)
    assert log.events == ["apply live a", "apply file b", "apply live c", "undo file b"]
    assert caught.value.msg == ("file d: read-only /etc: cannot persist /etc/d (the file system mounted at / is read-only). "
                                "Kept live until the next boot (nothing of it persisted): live a, live c. "
                                "Changes made before it in this run were undone.")
    assert caught.value.result == {"applied": [], "failed": "file d", "persisted": False, "kept_live": ["live a", "live c"]}


def test_no_space_undoes_the_live_changes_too():
    log = Log()
    changes = [log.change("live a"), log.change("file b", fail=WriteError("/etc/b", OSError(errno.ENOSPC, "No space left on device"), 7))]
    changes[0].live = True
    with pytest.raises(ModuleError) as caught:
        batch.apply_changes(changes)
    assert log.events == ["apply live a", "undo live a"]
    assert caught.value.msg.startswith("file b: no space left on device writing /etc/b: 7 bytes needed, ")
    assert caught.value.msg.endswith("; nothing of the new version was kept. Changes made before it in this run were undone.")


def test_a_first_failure_changed_nothing():
    log = Log()
    with pytest.raises(ModuleError) as caught:
        batch.apply_changes([log.change("a", fail=ModuleError("refused")), log.change("b")])
    assert caught.value.msg == "a: refused. Nothing was changed." and log.events == []


def test_changes_that_cannot_be_undone_are_reported():
    log = Log()
    with pytest.raises(ModuleError) as caught:
        batch.apply_changes([log.change("a", undo=False), log.change("b", undo_fails=True), log.change("c"),
                             log.change("d", fail=OSError(errno.EACCES, "Permission denied"))])
    assert log.events == ["apply a", "apply b", "apply c", "undo c"]
    assert caught.value.msg.startswith("d: [Errno 13] Permission denied. Changes made before it in this run were undone, except: ")
    assert caught.value.msg.endswith("b (" + str(OSError(errno.EIO, "Input/output error")) + "); a (cannot be undone).")


def test_a_reason_ending_in_a_period_gets_no_second_one():
    log = Log()
    with pytest.raises(ModuleError) as caught:
        batch.apply_changes([log.change("a"), log.change("b", fail=ModuleError("refused. The limits were restored."))])
    assert caught.value.msg == "b: refused. The limits were restored. Changes made before it in this run were undone."
