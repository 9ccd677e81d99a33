"""oom_score_apply: live writes in order with rollback, drop-ins in the same batch, check-mode predictions."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import oom_score_apply
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import ProcessGone


class Kernel:
    """oom_score_adj values by pid; ``refuse`` maps pid -> errno for writes, ``restore_refuse`` for restores."""

    def __init__(self, scores, refuse=None, gone=()):
        self.scores, self.refuse, self.gone, self.log = dict(scores), refuse or {}, set(gone), []

    def write(self, proc, pid, value, starttime=None):
        if pid in self.gone:
            raise ProcessGone(pid)
        code = self.refuse.get((pid, "write" if starttime is not None else "restore"))
        if code:
            raise OSError(code, "Permission denied")
        self.log.append((pid, value))
        self.scores[pid] = value
        return value


def entry(pid, comm, before, value):
    return {"pid": pid, "comm": comm, "unit": None, "target": "t", "value": value, "before": before,
            "after": before, "changed": False, "skipped": None}


@pytest.fixture
def fs(tmp_path):
    return HostFS(root=str(tmp_path), proc=str(tmp_path / "proc"))


def writer(fs, kernel, monkeypatch, on_denied="fail", cap=True):
    monkeypatch.setattr(oom_score_apply, "write_oom_score_adj", kernel.write)
    table = dict((pid, {"starttime": pid * 10}) for pid in kernel.scores)
    return oom_score_apply.Writer(fs, table, on_denied, cap)


def test_lowerings_first_then_raisings_by_pid():
    entries = {9: entry(9, "a", 0, 500), 5: entry(5, "b", 0, -5), 7: entry(7, "c", 100, 0), 3: entry(3, "d", 1, 1)}
    assert [item["pid"] for item in oom_score_apply.writes(entries)] == [5, 7, 9]


def test_a_refusal_restores_what_was_written_newest_first(fs, monkeypatch):
    kernel = Kernel({1: 0, 2: 0, 3: 0}, refuse={(3, "write"): errno.EACCES})
    todo = [entry(1, "a", 0, -10), entry(2, "b", 0, -20), entry(3, "c", 0, -30)]
    with pytest.raises(ModuleError) as caught:
        writer(fs, kernel, monkeypatch, cap=False).apply(todo, [])
    assert kernel.log == [(1, -10), (2, -20), (2, 0), (1, 0)] and kernel.scores == {1: 0, 2: 0, 3: 0}
    assert caught.value.msg.startswith("the kernel refused oom_score_adj -30 for pid 3 (c): Permission denied; ")
    assert "this process lacks it (CapEff of %s/self/status)" % fs.proc in caught.value.msg
    assert caught.value.msg.endswith(". The values written in this run were restored and no drop-in was changed.")
    assert caught.value.result == {"pid": 3}


def test_a_restore_the_kernel_refuses_is_named(fs, monkeypatch):
    kernel = Kernel({1: 5, 2: 0}, refuse={(2, "write"): errno.EPERM, (1, "restore"): errno.EPERM})
    with pytest.raises(ModuleError) as caught:
        writer(fs, kernel, monkeypatch).apply([entry(1, "a", 5, 0), entry(2, "b", 0, -1)], [])
    assert caught.value.msg.endswith("no drop-in was changed. Could not restore: pid 1 to 5 (Permission denied).")


def test_vanished_and_denied_with_warn_are_skipped(fs, monkeypatch):
    kernel = Kernel({1: 0, 2: 0, 3: 0}, refuse={(2, "write"): errno.EACCES}, gone=[1])
    todo = [entry(1, "a", 0, -1), entry(2, "b", 0, -2), entry(3, "c", 0, 3)]
    run = writer(fs, kernel, monkeypatch, on_denied="warn")
    run.apply(todo, [])
    assert run.vanished == [1] and run.denied == [2] and kernel.scores == {1: 0, 2: 0, 3: 3}
    assert [item["skipped"] for item in todo] == ["vanished", "denied", None]
    assert run.warnings[0].startswith("the kernel refused oom_score_adj -2 for pid 2 (b): Permission denied; lowering")


def test_a_drop_in_that_cannot_be_written_undoes_the_live_values_and_earlier_drop_ins(fs, monkeypatch):
    kernel = Kernel({1: 0})
    fs.write_atomic("/etc/systemd/system/a.service.d/x.conf", "old\n")
    fs.write_atomic("/etc/systemd/system/b.service.d", "a file where the directory should be\n")
    dropins = [{"path": "/etc/systemd/system/a.service.d/x.conf", "state": "present", "changed": True,
                "before": "old\n", "after": "new\n"},
               {"path": "/etc/systemd/system/b.service.d/x.conf", "state": "present", "changed": True,
                "before": None, "after": "new\n"}]
    with pytest.raises(ModuleError) as caught:
        writer(fs, kernel, monkeypatch).apply([entry(1, "a", 0, -1)], dropins)
    assert caught.value.msg.startswith("/etc/systemd/system/b.service.d/x.conf: cannot write ")
    assert "Changes made before it in this run were undone." in caught.value.msg
    assert kernel.scores == {1: 0} and fs.read_text("/etc/systemd/system/a.service.d/x.conf") == "old\n"


def test_check_mode_predicts_refusals_without_cap_sys_resource(fs):
    todo = [entry(1, "a", 0, -5), entry(2, "b", 800, 500), entry(3, "c", 0, 10)]
    with pytest.raises(ModuleError) as caught:
        oom_score_apply.predict_denials(fs, list(todo), False, "fail")
    assert caught.value.result == {"denied": [1]} and "pid 1 (a) 0 -> -5" in caught.value.msg
    denied, warnings = oom_score_apply.predict_denials(fs, todo, False, "warn")
    assert denied == [1] and [item["pid"] for item in todo] == [2, 3] and len(warnings) == 1
    assert oom_score_apply.predict_denied(0, -1, None) is False and oom_score_apply.predict_denied(0, -1, False) is True
