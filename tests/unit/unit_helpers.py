"""Helpers the unit tests share: reading fixture files and writing into fake trees.

tests/unit is on sys.path (its conftest.py puts it there), so a test imports these as
``from unit_helpers import fixture_reader, write``.
"""

from __future__ import annotations

import builtins
import functools
import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def read_fixture(kind, name, comment="# "):
    """tests/unit/fixtures/<kind>/<name> without its comment lines (those starting with ``comment``;
    /proc/cgroups' own header starts with "#subsys_name", so "# " keeps it)."""
    with open(os.path.join(FIXTURES, kind, name)) as handle:
        return "".join(line for line in handle if not line.startswith(comment))


def fixture_reader(kind, comment="# "):
    """``fixture(name)`` for one fixture folder."""
    return functools.partial(read_fixture, kind, comment=comment)


def write(path, text):
    """Write ``text`` to ``path``, creating its directories; the path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def refuse_open(monkeypatch, module, path, error):
    """Make ``open(path)`` inside ``module`` raise ``error`` (an errno), as the kernel would;
    every other file opens as usual."""
    real_open = builtins.open

    def fake_open(name, *args, **kwargs):
        if name == path:
            raise OSError(error, os.strerror(error), name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(module, "open", fake_open, raising=False)


class FakeProcess:
    """A process as ``subprocess.Popen`` returns it, for code that streams a command's output
    (kernel_log_source.POPEN): ``stdout`` is a binary file-like object; ``kill`` makes it exit -9."""

    def __init__(self, rc, stdout):
        self.rc, self.stdout, self.killed = rc, stdout, False

    def poll(self):
        return None if self.killed else self.rc

    def kill(self):
        self.killed = True

    def wait(self):
        return -9 if self.killed else self.rc


class FakeModule:
    """An AnsibleModule stand-in whose run_command records each command and gives one answer."""

    def __init__(self, rc=0, out="", err=""):
        self.answer, self.calls = (rc, out, err), []

    def run_command(self, args, **_kwargs):
        self.calls.append(list(args))
        return self.answer
