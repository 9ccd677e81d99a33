"""Fixtures of the real-kernel VM scenario.

Every test that takes the ``vm`` fixture runs once per booted VM. The VMs are found from
their boot state (``${ROCK5B_CACHE}/vm/run/<instance>/state.json``, written by
tools/vm/boot.sh); which instances: $VM_INSTANCES (comma separated), else the ones in
molecule's instance config, else every running one. Commands go through testinfra's
ssh backend (``ssh://root@127.0.0.1:<port>`` with the generated key).

Marker ``vm_modes("v2", "v1")`` limits a test (or a module, through ``pytestmark``) to the VMs
booted in those modes: the nopsi VM runs the PSI-off tests and the cheap checks, not the
drills, the reboot and the cgroup limit tests, which it would only repeat at v2's cost.

Markers ``needs_monitor`` and ``needs_protect_daemons`` mark tests that need roles which
site.yml may not apply yet. They are deselected (neither run nor counted as skipped)
unless named in $VM_TEST_ENABLE, e.g. ``VM_TEST_ENABLE=needs_protect_daemons``.

Marker ``feature("OOM drill")`` names what a test proves in the feature x platform table of
tools/vm/README.md: vm_results.py (registered here) records each test's outcome on each VM,
with the VM's own facts (os-release, uname -r, cgroup file system, PSI), into
$VM_RESULTS_JSON (default ${ROCK5B_CACHE}/vm/logs/results-<timestamp>.json) and
tools/vm/feature_table.py writes the table from it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import tempfile
import time

import pytest
import testinfra
import yaml
import vm_results

CACHE = pathlib.Path(os.environ.get("ROCK5B_CACHE", "/var/cache/rock5b-oom")) / "vm"
REPO = pathlib.Path(__file__).resolve().parents[4]
OPTIONAL_MARKERS = {
    "needs_monitor": "needs the rock5b-oom-monitor role (rock5b-oom-monitor.service) in site.yml",
    "needs_protect_daemons": "needs the protect_daemons role (sshd at oom_score_adj -1000) in site.yml",
}
_CONTROL_DIR = tempfile.mkdtemp(prefix="rock5b-vm-ssh-")


def pytest_configure(config):
    for name, text in OPTIONAL_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}; enable with VM_TEST_ENABLE={name}")
    config.addinivalue_line("markers", "reboots: the test reboots the VM")
    config.addinivalue_line(
        "markers", "vm_modes(*modes): run only on the VMs booted in these modes (v2, v1, nopsi)"
    )
    config.addinivalue_line(
        "markers", "vm_suites(*suites): run only on the VMs of these Debian releases (bookworm, trixie)"
    )
    vm_results.register(config)
    vm_results.set_platforms(config, [(n, _instance_mode(n)) for n in _instance_names()])


def _enabled_markers() -> set[str]:
    return {m.strip() for m in os.environ.get("VM_TEST_ENABLE", "").split(",") if m.strip()}


def pytest_collection_modifyitems(config, items):
    enabled = _enabled_markers()
    keep, drop, off = [], [], set()
    for item in items:
        missing = [m for m in OPTIONAL_MARKERS if item.get_closest_marker(m) and m not in enabled]
        (drop if missing else keep).append(item)
        if missing:
            vm_results.deselect_reason(item, f"{', '.join(missing)} not in VM_TEST_ENABLE")
        off.update(missing)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        config._rock5b_deselected = (len(drop), sorted(off))


def pytest_terminal_summary(terminalreporter, config):
    info = getattr(config, "_rock5b_deselected", None)
    if info:
        terminalreporter.write_line(
            f"rock5b: {info[0]} test(s) deselected, not run: markers {', '.join(info[1])} "
            "(set VM_TEST_ENABLE to run them once their roles are in site.yml)"
        )


def _instance_names() -> list[str]:
    names = os.environ.get("VM_INSTANCES")
    if names:
        return [n for n in names.split(",") if n]
    cfg = os.environ.get("MOLECULE_INSTANCE_CONFIG")
    if cfg and pathlib.Path(cfg).is_file():
        data = yaml.safe_load(pathlib.Path(cfg).read_text()) or []
        found = [d["instance"] for d in data if "instance" in d]
        if found:
            return found
    run = CACHE / "run"
    return sorted(p.parent.name for p in run.glob("*/state.json")) if run.is_dir() else []


class VM:
    """One booted VM: its boot state plus a testinfra host over the ssh backend."""

    def __init__(self, name: str):
        state_file = CACHE / "run" / name / "state.json"
        if not state_file.is_file():
            pytest.fail(f"VM {name} is not running (no {state_file}); run molecule create -s vm")
        self.state = json.loads(state_file.read_text())
        self.name = name
        self.mode = self.state["mode"]
        self.port = int(self.state["port"])
        self.key = self.state["key"]
        self.controlpath = os.path.join(_CONTROL_DIR, f"{self.port}")
        self.ssh_opts = [
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6",
        ]  # fmt: skip
        self.host = testinfra.get_host(
            f"ssh://root@127.0.0.1:{self.port}",
            ssh_identity_file=self.key,
            ssh_extra_args=" ".join(self.ssh_opts),
            controlpath=self.controlpath,
            controlpersist=120,
            timeout=20,
        )

    def __repr__(self):
        return f"<VM {self.name} mode={self.mode} port={self.port}>"

    # -- commands --------------------------------------------------------------------------
    def run(self, cmd: str, check: bool = True, timeout: float | None = 300) -> str:
        """Run a shell command in the VM; return stdout (fail on rc != 0 when check)."""
        res = self.host.run(cmd) if timeout is None else self._run_timeout(cmd, timeout)
        if check and res.rc != 0:
            pytest.fail(f"{self.name}: `{cmd}` exited {res.rc}: {res.stderr.strip()}")
        return res.stdout

    def _run_timeout(self, cmd: str, timeout: float):
        return self.host.run(f"timeout {int(timeout)} sh -c {shlex.quote(cmd)}")

    def read(self, path: str) -> str:
        return self.run(f"cat {shlex.quote(path)}").strip()

    def ssh_argv(self, *remote: str, control: bool = False) -> list[str]:
        argv = ["ssh", *self.ssh_opts, "-i", self.key, "-p", str(self.port), "-o", "ConnectTimeout=10"]
        if not control:
            argv += ["-o", "ControlPath=none"]
        return [*argv, "root@127.0.0.1", *remote]

    def reachable(self) -> bool:
        """A brand-new SSH connection (no multiplexing) succeeds."""
        try:
            r = subprocess.run(self.ssh_argv("true"), capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def close_master(self):
        subprocess.run(
            ["ssh", "-o", f"ControlPath={self.controlpath}", "-O", "exit", "x"],
            capture_output=True, timeout=10,
        )  # fmt: skip

    # -- ansible against this VM (json callback, parsed) -----------------------------------
    def _ansible(self, argv: list[str], timeout: float) -> tuple[int, dict, str]:
        env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                   ANSIBLE_NOCOLOR="1")  # fmt: skip
        connection = {
            "ansible_host": "127.0.0.1", "ansible_port": self.port, "ansible_user": "root",
            "ansible_ssh_private_key_file": self.key, "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        }  # fmt: skip
        argv = [*argv, "-i", f"{self.name},", "-e", json.dumps(connection)]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=timeout)
        try:
            data = json.loads(done.stdout)
        except ValueError:
            pytest.fail(f"{self.name}: {' '.join(argv[:4])} gave no JSON (rc {done.returncode}):\n"
                        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")  # fmt: skip
        return done.returncode, data, done.stderr

    def module(self, name: str, args: dict, check: bool = False, timeout: float = 300) -> dict:
        """Run one module on the VM (ansible ad-hoc, as root); its result dict, failed or not."""
        # ansible reads `-a '{}'` as raw parameters, which modules refuse: no -a without arguments
        argv = ["ansible", "all", "-m", name, *(["-a", json.dumps(args)] if args else [])] + (["--check"] if check else [])
        _rc, data, _err = self._ansible(argv, timeout)
        return data["plays"][0]["tasks"][0]["hosts"][self.name]

    def playbook(self, path: str, *extra: str, timeout: float = 600) -> tuple[int, dict]:
        """Run a playbook on the VM alone: (exit status, the json callback's document)."""
        rc, data, _err = self._ansible(["ansible-playbook", str(path), *extra], timeout)
        return rc, data

    def task_result(self, data: dict, name: str) -> dict:
        """This VM's result of the task called ``name`` (its role prefix ignored) in a json
        callback document (what playbook() returns)."""
        for play in data["plays"]:
            for task in play["tasks"]:
                if task["task"]["name"].split(" : ")[-1] == name and self.name in task["hosts"]:
                    return task["hosts"][self.name]
        raise AssertionError(f"no task {name!r} for {self.name} in the playbook output")

    def suite(self) -> str:
        """The VM's Debian release codename (bookworm, trixie), from its os-release."""
        return self.run(". /etc/os-release && echo $VERSION_CODENAME").strip()

    def install_debs(self, *packages: str) -> None:
        """Install Debian packages from the archive of the VM's release, as a board's apt would,
        without apt lists in the VM: tools/vm/fetch-deb.sh downloads and checks each .deb on
        this host, scp copies them, dpkg installs them (their maintainer scripts run, so a
        package's units are enabled and started as Debian ships them). Already installed
        packages are left alone. Dependencies must be in the image or in ``packages``."""
        missing = [p for p in packages
                   if self.host.run(f"dpkg-query -W -f='${{Status}}' {shlex.quote(p)} | grep -q 'ok installed'").rc != 0]
        if not missing:
            return
        suite = self.suite()
        debs = [subprocess.run(["bash", str(REPO / "tools" / "vm" / "fetch-deb.sh"), p, suite], check=True,
                               capture_output=True, text=True).stdout.strip() for p in missing]
        scp = ["scp", *self.ssh_opts, "-i", self.key, "-P", str(self.port), "-o", "ControlPath=none", *debs,
               "root@127.0.0.1:/root/"]
        subprocess.run(scp, check=True, capture_output=True, timeout=300)
        names = " ".join(shlex.quote("/root/" + os.path.basename(d)) for d in debs)
        self.run(f"DEBIAN_FRONTEND=noninteractive dpkg -i {names} && rm -f {names}", timeout=900)

    def boot_id(self) -> str:
        return self.read("/proc/sys/kernel/random/boot_id")

    def reboot(self, timeout: float = 400) -> float:
        """Reboot through systemd and wait for SSH; returns seconds to SSH."""
        old = self.boot_id()
        subprocess.run(self.ssh_argv("systemctl reboot --no-block"), capture_output=True, timeout=60)
        self.close_master()
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            time.sleep(3)
            if self.reachable():
                try:
                    if self.boot_id() != old:
                        return time.monotonic() - t0
                except RuntimeError:
                    pass
        pytest.fail(f"{self.name} did not come back over SSH within {timeout}s after reboot")


@pytest.fixture(scope="session")
def vm_names() -> list[str]:
    return _instance_names()


def _instance_mode(name: str) -> str | None:
    """The boot mode in an instance's state file, None when it is not running."""
    state_file = CACHE / "run" / name / "state.json"
    try:
        return json.loads(state_file.read_text())["mode"]
    except (OSError, ValueError, KeyError):
        return None


def _instance_suite(name: str) -> str | None:
    """The Debian release in an instance's state file (bookworm, trixie), None when not running."""
    state_file = CACHE / "run" / name / "state.json"
    try:
        return json.loads(state_file.read_text()).get("suite", "bookworm")
    except (OSError, ValueError):
        return None


def _keep_matching(metafunc, names, marker_name, fact, what):
    """``names`` whose ``fact`` (mode or suite) is among the marker's arguments, or unknown (not
    running: its fixture fails); the others are recorded as not applicable, neither run nor
    counted. Without the marker, ``names`` as they are."""
    marker = metafunc.definition.get_closest_marker(marker_name)
    if marker is None:
        return names
    kept = []
    for name in names:
        value = fact(name)
        if value in (None, *marker.args):
            kept.append(name)
        else:
            vm_results.not_applicable(metafunc.config, metafunc.definition, name,
                                      f"runs on {', '.join(marker.args)} VMs only, this one {what} {value}")
    # none of them running: one case that fails, never an empty (skipped) set
    return kept or [f"no-{'-or-'.join(marker.args)}-vm-running"]


def pytest_generate_tests(metafunc):
    if "vm" in metafunc.fixturenames:
        names = _instance_names()
        # vm_suites("bookworm"): a test whose Debian release makes no difference to what it
        # proves runs on the VMs of these releases only (CI's time budget).
        names = _keep_matching(metafunc, names, "vm_suites", _instance_suite, "is")
        # vm_modes("v2", "v1"): the test is about those boot modes only.
        names = _keep_matching(metafunc, names, "vm_modes", _instance_mode, "boots")
        # no VM found: one case that fails in the fixture, never an empty (skipped) set
        names = names or ["no-vm-running"]
        metafunc.parametrize("vm", names, indirect=True, scope="module", ids=names)


_VMS: dict[str, VM] = {}


@pytest.fixture(scope="module")
def vm(request) -> VM:
    name = request.param
    if name not in _VMS:
        _VMS[name] = VM(name)
        vm_results.describe_platform(request.config, name, _VMS[name].mode, _platform_facts(_VMS[name]))
    return _VMS[name]


def _platform_facts(v: VM) -> dict[str, str]:
    """What the VM says it runs (the feature table's column names); {} when it cannot say."""
    try:
        res = v.host.run(vm_results.FACTS_COMMAND)
    except Exception:  # pylint: disable=broad-except  # the tests themselves report an unreachable VM
        return {}
    return vm_results.parse_facts(res.stdout) if res.rc == 0 else {}


def pytest_sessionfinish(session, exitstatus):
    for v in _VMS.values():
        v.close_master()
