"""Pytest plugin of the real-kernel VM scenario: what each test proved on which VM, as JSON.

tests/conftest.py registers it (``register(config)``) and tells it the VMs (``set_platforms``),
what each VM reports about itself (``describe_platform``, from the VM's own files), which VMs
a ``vm_modes`` test is not run on (``not_applicable``) and why an optional test is deselected
(``deselect_reason``). Each test declares the feature it proves with the marker
``feature("OOM drill")`` (on the test, or the module's ``pytestmark``).

The JSON (schema 1) goes to $VM_RESULTS_JSON, else ${ROCK5B_CACHE}/vm/logs/results-<UTC
timestamp>.json, and is copied to ``results-latest.json`` beside it. tools/vm/feature_table.py
turns it into the feature x platform table of tools/vm/README.md. One record per test and VM:

    {"test": "tests/test_kernel.py::test_real_arm64_kernel", "host": "rock5b-vm-v2",
     "feature": "...", "outcome": "passed|skipped|failed|not_applicable|deselected",
     "reason": "...", "seconds": 1.2, "source": "verify"}

Standard library and pytest only: the unit tests load it without testinfra.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import subprocess

import pytest

PLUGIN_NAME = "rock5b_vm_results"
SCHEMA = 1
REPO = pathlib.Path(__file__).resolve().parents[4]
_REASON = pytest.StashKey[str]()
# which outcome wins when the phases of one test (setup, call, teardown) disagree
_RANK = {"setup": 0, "passed": 1, "deselected": 1, "not_applicable": 1, "skipped": 2, "failed": 3}

# One shell command, run once per VM: the facts its platform column is named from.
FACTS_COMMAND = (
    ". /etc/os-release 2>/dev/null; "
    "printf 'codename=%s\\n' \"${VERSION_CODENAME:-}\"; "
    "printf 'kernel=%s\\n' \"$(uname -r)\"; "
    "printf 'cgroup_fs=%s\\n' \"$(stat -fc %T /sys/fs/cgroup)\"; "
    "printf 'unified_fs=%s\\n' \"$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)\"; "
    "printf 'psi=%s\\n' \"$(test -r /proc/pressure/memory && echo yes || echo no)\"; "
    "printf 'cmdline=%s\\n' \"$(cat /proc/cmdline)\""
)


def parse_facts(text: str) -> dict[str, str]:
    """key=value lines of FACTS_COMMAND's output."""
    facts = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            facts[key.strip()] = value.strip()
    return facts


def cgroup_mode(facts: dict[str, str]) -> str:
    """v2 / v1 / hybrid from the file system types the VM reports, '?' when it said nothing."""
    if facts.get("cgroup_fs") == "cgroup2fs":
        return "v2"
    if facts.get("cgroup_fs") == "tmpfs":
        return "hybrid" if facts.get("unified_fs") == "cgroup2fs" else "v1"
    return "?"


def platform_label(facts: dict[str, str], name: str) -> str:
    """'bookworm 6.1 v2', 'bookworm 6.1 v2 psi=0', 'trixie 6.12 v2': from the VM's facts only;
    the instance name when the VM could not be asked."""
    if not facts.get("kernel"):
        return name
    kernel = ".".join(re.split(r"[.-]", facts["kernel"])[:2])
    parts = [facts.get("codename") or "unknown", kernel, cgroup_mode(facts)]
    if facts.get("psi") == "no":
        parts.append("psi=0" if "psi=0" in facts.get("cmdline", "").split() else "no PSI")
    return " ".join(parts)


def first_line(text: str, limit: int = 200) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _report_reason(report) -> str:
    """The skip reason or the failure's first line of a test report."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, lineno, "Skipped: why")
        return first_line(re.sub(r"^Skipped: ", "", str(longrepr[2])))
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return first_line(crash.message)
    return first_line(str(longrepr or ""))


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=str(REPO),
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def feature_of(node) -> str:
    marker = node.get_closest_marker("feature")
    if marker is not None and marker.args:
        return str(marker.args[0])
    # visible in the table as its own row, so a test without a feature is noticed
    return f"unlabelled: {node.nodeid.split('::')[0].rsplit('/', 1)[-1]}"


def _base_nodeid(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def _host_of(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("vm") if callspec is not None else None


class VmResults:
    """Collects one record per (test, VM) and writes them at the end of the session."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.platforms: dict[str, dict] = {}
        self.records: dict[tuple[str, str], dict] = {}
        self.items: dict[str, tuple[str, str, str]] = {}  # nodeid -> (test, host, feature)
        self.features: dict[str, tuple[str, int]] = {}  # feature -> where its first test is: the table's rows

    def feature(self, node) -> str:
        name = feature_of(node)
        path, line = node.location[0], node.location[1] or 0
        self.features[name] = min(self.features.get(name, (path, line)), (path, line))
        return name

    # -- what conftest.py tells it --------------------------------------------------------
    def set_platform(self, name: str, vm_mode: str | None) -> None:
        self.platforms.setdefault(name, {"name": name, "vm_mode": vm_mode, "facts": {}, "label": name})

    def describe(self, name: str, vm_mode: str | None, facts: dict[str, str]) -> None:
        self.set_platform(name, vm_mode)
        entry = self.platforms[name]
        entry.update(vm_mode=vm_mode, facts=dict(facts), label=platform_label(facts, name))

    def record(self, test: str, host: str, feature: str, outcome: str | None, reason: str = "", seconds: float = 0.0) -> None:
        """Merge one phase's report: the worst outcome wins (failed > skipped > passed); None
        only adds time (a setup or teardown that passed)."""
        rec = self.records.setdefault((test, host), {"test": test, "host": host, "feature": feature, "outcome": "setup",
                                                     "reason": "", "seconds": 0.0, "source": "verify"})
        if outcome is not None and _RANK[outcome] > _RANK[rec["outcome"]]:
            rec.update(outcome=outcome, reason=reason)
        rec["seconds"] = round(rec["seconds"] + seconds, 3)

    # -- hooks ----------------------------------------------------------------------------
    def pytest_itemcollected(self, item):
        host = _host_of(item)
        if host is not None:
            self.set_platform(host, None)
            self.items[item.nodeid] = (item.nodeid, host, self.feature(item))

    def pytest_deselected(self, items):
        for item in items:
            if item.nodeid in self.items:
                test, host, feature = self.items[item.nodeid]
                reason = item.stash.get(_REASON, "deselected (-k/-m)")
                self.record(test, host, feature, "deselected", reason)

    def pytest_runtest_logreport(self, report):
        meta = self.items.get(report.nodeid)
        if meta is None:
            return
        if report.failed:
            outcome, reason = "failed", _report_reason(report)
            if report.when != "call":
                reason = f"error in {report.when}: {reason}"
        elif report.skipped:
            outcome, reason = "skipped", _report_reason(report)
        else:
            outcome, reason = ("passed" if report.when == "call" else None), ""
        self.record(*meta, outcome, reason, report.duration)

    def document(self) -> dict:
        records = []
        for rec in self.records.values():
            if rec["outcome"] == "setup":  # set up, then never reported a call: interrupted
                rec = dict(rec, outcome="failed", reason="interrupted after setup")
            records.append(rec)
        platforms = []
        for entry in self.platforms.values():
            secs = sum(r["seconds"] for r in records if r["host"] == entry["name"])
            platforms.append(dict(entry, seconds=round(secs, 1)))
        return {"schema": SCHEMA, "date": self.started.isoformat(timespec="seconds"), "commit": _commit(),
                "features": sorted(self.features, key=self.features.get), "platforms": platforms, "results": records}

    def write(self) -> None:
        text = json.dumps(self.document(), indent=1, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        targets = {self.path, self.path.parent / "results-latest.json"}
        for target in sorted(targets):
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        if session.config.option.collectonly:
            return
        self.write()

    def pytest_terminal_summary(self, terminalreporter):
        if not terminalreporter.config.option.collectonly:
            terminalreporter.write_line(f"rock5b: VM results per feature and platform in {self.path}")


# -- the API conftest.py calls ---------------------------------------------------------------
def default_path(now: datetime.datetime | None = None) -> pathlib.Path:
    env = os.environ.get("VM_RESULTS_JSON")
    if env:
        return pathlib.Path(env)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    cache = pathlib.Path(os.environ.get("ROCK5B_CACHE", "/var/cache/rock5b-oom")) / "vm" / "logs"
    return cache / f"results-{now.strftime('%Y%m%d-%H%M%S')}.json"


def register(config) -> VmResults:
    config.addinivalue_line("markers", "feature(name): the feature of the VM feature table this test proves")
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is None:
        plugin = VmResults(default_path())
        config.pluginmanager.register(plugin, PLUGIN_NAME)
    return plugin


def _plugin(config) -> VmResults | None:
    return config.pluginmanager.get_plugin(PLUGIN_NAME)


def set_platforms(config, names_modes: list[tuple[str, str | None]]) -> None:
    plugin = _plugin(config)
    for name, mode in names_modes if plugin else ():
        plugin.set_platform(name, mode)


def describe_platform(config, name: str, vm_mode: str | None, facts: dict[str, str]) -> None:
    plugin = _plugin(config)
    if plugin is not None:
        plugin.describe(name, vm_mode, facts)


def not_applicable(config, definition, host: str, reason: str) -> None:
    """A test that is not parametrized for this VM (vm_modes): recorded, not run."""
    plugin = _plugin(config)
    if plugin is not None:
        plugin.set_platform(host, None)
        plugin.record(f"{_base_nodeid(definition.nodeid)}[{host}]", host, plugin.feature(definition), "not_applicable", reason)


def deselect_reason(item, reason: str) -> None:
    item.stash[_REASON] = reason
