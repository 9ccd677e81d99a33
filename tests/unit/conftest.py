"""Shared fixtures: the collection on sys.path, fake /proc and / trees, and a module runner."""

from __future__ import annotations

import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".cache", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "rock5b", "oom")
if not os.path.exists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(REPO, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests (Hypothesis) run the same examples on every machine: CI must not turn red on a
# random draw nobody can reproduce. HYPOTHESIS_PROFILE=explore widens the search by hand.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=20000, deadline=None, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A 4 GiB Rock 5B+ as the kernel reports it (MemTotal is below 4 GiB: firmware and CMA).
MEMINFO_4G = {
    "MemTotal": 3995120, "MemFree": 2500000, "MemAvailable": 3100000, "SwapTotal": 0,
    "SwapFree": 0, "CommitLimit": 1997560, "Committed_AS": 900000, "Hugetlb": 0,
}
DEFAULT_LIVE = {
    "vm.min_free_kbytes": "8192", "vm.overcommit_memory": "0", "vm.overcommit_ratio": "50",
    "vm.overcommit_kbytes": "0", "vm.oom_dump_tasks": "1", "vm.oom_kill_allocating_task": "0",
    "vm.panic_on_oom": "0", "vm.watermark_scale_factor": "10", "vm.swappiness": "60",
}


class FakeHost:
    """A board's /proc and file system under a temporary directory."""

    def __init__(self, base):
        self.proc = str(base / "proc")
        self.root = str(base / "root")
        os.makedirs(os.path.join(self.proc, "sys", "vm"))
        os.makedirs(self.root)
        self.set_meminfo(MEMINFO_4G)
        for key, value in DEFAULT_LIVE.items():
            self.set_live(key, value)

    def set_meminfo(self, fields):
        text = "".join("%s:%s kB\n" % (name.ljust(15), str(value).rjust(9)) for name, value in fields.items())
        with open(os.path.join(self.proc, "meminfo"), "w") as handle:
            handle.write(text)

    def live_path(self, key):
        return os.path.join(self.proc, "sys", *key.split("."))

    def set_live(self, key, value):
        with open(self.live_path(key), "w") as handle:
            handle.write("%s\n" % value)

    def live(self, key):
        with open(self.live_path(key)) as handle:
            return handle.read().strip()

    def path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def write(self, path, text):
        full = self.path(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
        return full

    def read(self, path):
        with open(self.path(path)) as handle:
            return handle.read()

    def exists(self, path):
        return os.path.exists(self.path(path))

    def snapshot(self):
        """Every file under the fake host with its content and mode, to prove nothing changed."""
        state = {}
        for top in (self.proc, self.root):
            for directory, _dirs, files in os.walk(top):
                for name in files:
                    full = os.path.join(directory, name)
                    with open(full) as handle:
                        state[full] = (handle.read(), os.stat(full).st_mode)
        return state


@pytest.fixture
def fake_host(tmp_path):
    return FakeHost(tmp_path)


@pytest.fixture
def host_fs(fake_host):
    """fake_host, with hostfs.host() (what a module's main() works on) pointed at its trees:
    root for files, proc for /proc. The real roots are restored afterwards."""
    from ansible_collections.rock5b.oom.plugins.module_utils import hostfs

    hostfs.configure(root=fake_host.root, proc=fake_host.proc)
    yield fake_host
    hostfs.configure()


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


def _exit(self, **kwargs):
    kwargs.setdefault("changed", False)
    kwargs["warnings"] = list(getattr(self, "_test_warnings", []))
    raise ModuleExit(kwargs)


def _fail(self, msg, **kwargs):
    kwargs.update(failed=True, msg=msg)
    raise ModuleExit(kwargs)


def _warn(self, warning):
    self._test_warnings = getattr(self, "_test_warnings", []) + [warning]


@pytest.fixture
def run_module(monkeypatch):
    """Run a module's main() with args; return its result dict (``failed`` set on fail_json)."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail)
    monkeypatch.setattr(basic.AnsibleModule, "warn", _warn)

    def run(module, args, check_mode=False, diff=False):
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(json.loads(json.dumps(args))):
            with pytest.raises(ModuleExit) as caught:
                module.main()
        return caught.value.result

    return run
