"""Behaviour of rock5b.oom.file_set on a fake root."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.rock5b.oom.plugins.modules import file_set

FILES = [
    {"path": "/usr/lib/app", "state": "directory", "mode": "0755"},
    {"path": "/usr/lib/app/app.py", "content": "print('hi')\n", "mode": "0755"},
    {"path": "/etc/app/app.json", "content": "{}\n"},
    {"path": "/usr/local/bin/app", "state": "link", "src": "/usr/lib/app/app.py"},
]


@pytest.fixture
def root(fake_host, monkeypatch):
    monkeypatch.setattr(file_set, "FS_ROOT", fake_host.root)
    return fake_host


def run(run_module, files=None, **kwargs):
    return run_module(file_set, {"files": FILES if files is None else files}, **kwargs)


def mode(root, path):
    return stat.S_IMODE(os.lstat(root.path(path)).st_mode)


def test_creates_everything_then_changes_nothing(root, run_module):
    result = run(run_module)
    assert result["changed_paths"] == [entry["path"] for entry in FILES]
    assert root.read("/usr/lib/app/app.py") == "print('hi')\n" and mode(root, "/usr/lib/app/app.py") == 0o755
    assert root.read("/etc/app/app.json") == "{}\n" and mode(root, "/etc/app/app.json") == 0o644
    assert os.readlink(root.path("/usr/local/bin/app")) == "/usr/lib/app/app.py"
    assert run(run_module)["changed"] is False


def test_check_mode_predicts_and_writes_nothing(root, run_module):
    before = root.snapshot()
    predicted = run(run_module, check_mode=True)
    assert root.snapshot() == before and not root.exists("/etc/app")
    assert predicted["changed_paths"] == run(run_module)["changed_paths"]


def test_content_mode_and_link_drift_are_corrected(root, run_module):
    run(run_module)
    root.write("/etc/app/app.json", '{"edited": true}\n')
    os.chmod(root.path("/usr/lib/app/app.py"), 0o600)
    os.unlink(root.path("/usr/local/bin/app"))
    os.symlink("/elsewhere", root.path("/usr/local/bin/app"))
    result = run(run_module, diff=True)
    assert result["changed_paths"] == ["/usr/lib/app/app.py", "/etc/app/app.json", "/usr/local/bin/app"]
    assert {"before": '{"edited": true}\n', "after": "{}\n"}.items() <= result["diff"][1].items()
    assert run(run_module)["changed"] is False
    assert mode(root, "/usr/lib/app/app.py") == 0o755


def test_existing_mode_is_not_kept_over_the_wanted_one(root, run_module):
    root.write("/etc/app/app.json", "old\n")
    os.chmod(root.path("/etc/app/app.json"), 0o600)
    run(run_module, files=[{"path": "/etc/app/app.json", "content": "{}\n", "mode": "0640"}])
    assert mode(root, "/etc/app/app.json") == 0o640


def test_absent_removes_files_and_directories(root, run_module):
    run(run_module)
    result = run(run_module, files=[{"path": "/etc/app", "state": "absent"},
                                    {"path": "/usr/local/bin/app", "state": "absent"}])
    assert result["changed_paths"] == ["/etc/app", "/usr/local/bin/app"]
    assert not root.exists("/etc/app") and not os.path.lexists(root.path("/usr/local/bin/app"))


@pytest.mark.parametrize("files, message", [
    ([{"path": "relative/x", "content": ""}], "path must be absolute"),
    ([{"path": "/x"}], "a file needs content"),
    ([{"path": "/x", "state": "link"}], "a link needs src"),
    ([{"path": "/x", "content": "", "mode": "rw-r--r--"}], "is not octal"),
    ([{"path": "/x", "content": "", "owner": "nobody-here"}], "no such owner/group"),
    ([{"path": "/x", "content": ""}, {"path": "/x", "content": "2"}], "listed twice"),
])
def test_invalid_entries_change_nothing(root, run_module, files, message):
    before = root.snapshot()
    result = run(run_module, files=[{"path": "/ok", "content": "fine\n"}] + files)
    assert result["failed"] and message in result["msg"]
    assert root.snapshot() == before and not root.exists("/ok")
