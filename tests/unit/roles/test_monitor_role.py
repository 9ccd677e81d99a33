"""rock5b.oom.monitor: the file list its one file_set task applies (templates/files.yml.j2).

The list is rendered on the controller with ansible-playbook against localhost (the role's
defaults and vars, the real lookups and filters), into a temporary directory - nothing else on
this host is touched. The list is then applied by file_set on a fake root, so the real program
(roles/monitor/files, as manifest.json ships it) checks the config it is given.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
import yaml

from ansible_collections.rock5b.oom.plugins.modules import file_set
from unit_helpers import write

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(REPO, "roles", "monitor")
CONFIG = "/etc/rock5b-oom/monitor.json"


def _config_rules():
    with open(os.path.join(ROLE, "meta", "value_rules.yml"), encoding="utf-8") as handle:
        rules = yaml.safe_load(handle)["value_rules"]
    return dict((variable, rule["key"]) for variable, listed in rules.items()
                for rule in (listed if isinstance(listed, list) else [listed]) if rule["rule"] == "monitor_config")


def _sentinels():
    """A value of the default's type for every variable meta/value_rules.yml maps to a config key,
    each different from the default and from the others."""
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    values = {}
    for index, variable in enumerate(sorted(_config_rules())):
        default = defaults[variable]
        if isinstance(default, bool):
            values[variable] = not default
        elif isinstance(default, (int, float)):
            values[variable] = 7000 + index if isinstance(default, int) else 0.25 + index / 1000.0
        elif isinstance(default, list):
            values[variable] = ["/sentinel/%d" % index]
        else:
            values[variable] = "/sentinel/%d.prom" % index
    return values


TRIGGERS_2S = ["some 300000 2000000", "full 100000 4000000"]
# The variants rendered: name -> variables set on top of the role's defaults.
VARIANTS = {
    "sentinels": _sentinels(),
    "defaults": {},
    # refused by the program only (an argument spec cannot say it): the window is too short
    "bad_trigger": {"monitor_psi_triggers": ["some 150000 100"]},
    "spaced": {"monitor_install_dir": "/opt/rock 5b/lib", "monitor_python": "/opt/py 3/bin/python3"},
    # windows that are multiples of 2 s: Linux 6.5+ arms them without CAP_SYS_RESOURCE
    "psi_2s": {"monitor_psi_triggers": TRIGGERS_2S},
    "psi_2s_always": {"monitor_psi_triggers": TRIGGERS_2S, "monitor_sandbox_namespaces": "always"},
    "psi_2s_never": {"monitor_psi_triggers": TRIGGERS_2S, "monitor_sandbox_namespaces": "never"},
    "psi_mixed": {"monitor_psi_triggers": ["some 300000 2000000", "full 50000 1000000"]},
    "psi_off": {"monitor_psi": False, "monitor_psi_triggers": TRIGGERS_2S},
    "never": {"monitor_sandbox_namespaces": "never"},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """variant -> the file list files.yml.j2 renders, as file_set receives it."""
    base = tmp_path_factory.mktemp("monitor_role")
    os.symlink(os.path.join(ROLE, "templates"), str(base / "templates"))  # the lookups' search path
    # one task, one module execution: the variants differ by the lookup's template_vars
    content = "{{ %s | to_json }}" % ("{" + ", ".join(
        "%r: lookup('ansible.builtin.template', 'files.yml.j2', template_vars=%s) | from_yaml" % (name, json.dumps(variables))
        for name, variables in VARIANTS.items()) + "}")
    tasks = [{"ansible.builtin.copy": {"content": content, "dest": str(base / "rendered.json"), "mode": "0600"}}]
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "vars_files": [os.path.join(ROLE, "defaults", "main.yml"), os.path.join(ROLE, "vars", "main.yml")],
             "vars": {"role_path": ROLE}, "tasks": tasks}]
    (base / "play.yml").write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(base / "play.yml")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((base / "rendered.json").read_text())


def by_path(files, path):
    return next(entry for entry in files if entry["path"] == path)


def test_the_config_is_validated_by_the_program_installed_before_it(rendered):
    files = rendered["defaults"]
    config = by_path(files, CONFIG)
    assert config["validate"] == "/usr/bin/python3 -I -S -B /usr/lib/rock5b-oom/main.py --validate-config %s"
    assert [entry for entry in files if "validate" in entry] == [config]
    program = [entry["path"] for entry in files if entry["path"].startswith("/usr/lib/rock5b-oom/") and "content" in entry]
    assert "/usr/lib/rock5b-oom/main.py" in program
    # every program file is written before the config, so the NEW program checks the NEW config
    assert max(files.index(by_path(files, path)) for path in program) < files.index(config)


def test_paths_with_spaces_stay_one_argument(rendered):
    argv = shlex.split(by_path(rendered["spaced"], CONFIG)["validate"])
    assert argv == ["/opt/py 3/bin/python3", "-I", "-S", "-B", "/opt/rock 5b/lib/main.py", "--validate-config", "%s"]


def on_fake_root(files, root):
    """The rendered list with its validate command run by this Python on the program under ``root``."""
    files = json.loads(json.dumps(files))
    config = by_path(files, CONFIG)
    argv = shlex.split(config["validate"])
    argv[0], argv[4] = sys.executable, root.path(argv[4])
    config["validate"] = shlex.join(argv)
    return files


def test_a_config_the_program_refuses_leaves_the_old_program_config_and_service(host_fs, run_module, rendered, monkeypatch):
    os.makedirs(os.path.join(host_fs.proc, "1"))  # the unit's variant: PID 1 holds CAP_SYS_ADMIN
    with open(os.path.join(host_fs.proc, "1", "status"), "w") as handle:
        handle.write("Name:\tsystemd\nCapEff:\t000001ffffffffff\n")
    calls = []
    real_run_command = file_set.AnsibleModule.run_command
    monkeypatch.setattr(file_set.AnsibleModule, "run_command",
                        lambda self, args, **kw: (calls.append(list(args)), real_run_command(self, args, **kw))[1])
    first = run_module(file_set, {"files": on_fake_root(rendered["defaults"], host_fs)})
    assert not first.get("failed"), first["msg"]
    assert by_path(first["files"], CONFIG)["validate"] == "passed"
    before = host_fs.snapshot()
    calls.clear()
    result = run_module(file_set, {"files": on_fake_root(rendered["bad_trigger"], host_fs)})
    assert result["failed"] and result["msg"].startswith(CONFIG + ": validate ")
    assert "(exit 78): config error: " in result["msg"] and "the window must be 500000 to 10000000 us" in result["msg"]
    assert host_fs.snapshot() == before
    assert all(args[0] != "systemctl" for args in calls) and len(calls) == 1


def test_the_controller_checks_the_config_keys_the_template_fills(rendered):
    """meta/value_rules.yml maps each variable to the config key the template fills; the controller
    builds the monitor's config from that map, so the map and the template must agree."""
    config = by_path(rendered["sentinels"], CONFIG)["json"]
    sentinels = _sentinels()
    for variable, key in sorted(_config_rules().items()):
        node = config
        for part in key.split("."):
            node = node[part]
        assert node == sentinels[variable], "%s should fill %s" % (variable, key)


UNIT = "/etc/systemd/system/rock5b-oom-monitor.service"
CAP_WITH_SYS_ADMIN, CAP_WITHOUT_SYS_ADMIN = "000001ffffffffff", "00000000a80425fb"


def directive(unit_text, name):
    """The values of ``name=`` in a unit's text, in order."""
    return [line.split("=", 1)[1] for line in unit_text.splitlines() if line.startswith(name + "=")]


def unit_on_board(host_fs, run_module, files, cap_eff, release):
    """The unit file_set writes from the rendered list on a board whose PID 1 has ``cap_eff``
    and whose kernel is ``release`` (None: no osrelease to read); and the facts it read."""
    write(os.path.join(host_fs.proc, "1", "status"), "Name:\tsystemd\nCapEff:\t%s\n" % cap_eff)
    if release is not None:
        write(os.path.join(host_fs.proc, "sys", "kernel", "osrelease"), release)
    result = run_module(file_set, {"files": [by_path(files, UNIT)]})
    assert not result.get("failed"), result.get("msg")
    return host_fs.read(UNIT), result["board_facts"]


BOOKWORM, TRIXIE, BSP = "6.1.0-28-arm64\n", "6.12.12+deb13-arm64\n", "5.10.160-rockchip\n"


@pytest.mark.parametrize("cap_eff, release, namespaces, cap_sys_resource", [
    (CAP_WITH_SYS_ADMIN, TRIXIE, True, False),
    (CAP_WITHOUT_SYS_ADMIN, TRIXIE, False, False),
    (CAP_WITH_SYS_ADMIN, BOOKWORM, True, True),
    (CAP_WITHOUT_SYS_ADMIN, BOOKWORM, False, True),
    (CAP_WITH_SYS_ADMIN, BSP, True, True),
    (CAP_WITH_SYS_ADMIN, "6.5.0-rc1\n", True, False),
    (CAP_WITH_SYS_ADMIN, "6.4.16\n", True, True),
    # the kernel cannot be told: today's unit (the capability kept), not a failed task
    (CAP_WITH_SYS_ADMIN, "junk\n", True, True),
    (CAP_WITHOUT_SYS_ADMIN, None, False, True),
])
def test_cap_sys_resource_is_left_out_only_where_the_kernel_arms_2s_triggers_without_it(
        host_fs, run_module, rendered, cap_eff, release, namespaces, cap_sys_resource):
    unit, facts = unit_on_board(host_fs, run_module, rendered["psi_2s"], cap_eff, release)
    capabilities = directive(unit, "CapabilityBoundingSet")
    # the other capabilities are the actions' (the defaults: kill off, mlock on) on every kernel
    assert len(capabilities) == 1 and set(capabilities[0].split()) == (
        {"CAP_IPC_LOCK"} | ({"CAP_SYS_RESOURCE"} if cap_sys_resource else set()))
    assert directive(unit, "AmbientCapabilities") == [""]
    assert directive(unit, "PrivateTmp") == (["yes"] if namespaces else [])
    assert facts == {"pid1_cap_sys_admin": cap_eff == CAP_WITH_SYS_ADMIN, "psi_trigger_unprivileged": not cap_sys_resource}
    if cap_sys_resource:
        assert "CAP_SYS_RESOURCE (writing a trigger needs it before Linux 6.5" in unit
    else:
        assert "no CAP_SYS_RESOURCE (Linux 6.5+ arms triggers of 2 s windows without it)" in unit


@pytest.mark.parametrize("variant, release, namespaces, cap_sys_resource", [
    ("psi_2s_always", TRIXIE, True, False),
    ("psi_2s_always", BOOKWORM, True, True),
    ("psi_2s_never", TRIXIE, False, False),
    ("psi_2s_never", BOOKWORM, False, True),
])
def test_a_fixed_sandbox_choice_still_follows_the_kernel(host_fs, run_module, rendered, variant, release, namespaces, cap_sys_resource):
    # PID 1 without CAP_SYS_ADMIN: always/never do not ask, so the fact is not read
    unit, facts = unit_on_board(host_fs, run_module, rendered[variant], CAP_WITHOUT_SYS_ADMIN, release)
    assert ("CAP_SYS_RESOURCE" in directive(unit, "CapabilityBoundingSet")[0].split()) is cap_sys_resource
    assert directive(unit, "PrivateTmp") == (["yes"] if namespaces else [])
    assert facts == {"psi_trigger_unprivileged": not cap_sys_resource}


@pytest.mark.parametrize("variant", ["defaults", "psi_mixed"])
def test_a_window_that_is_not_a_multiple_of_2s_keeps_cap_sys_resource_on_every_kernel(host_fs, run_module, rendered, variant):
    # Linux 6.5+ refuses such a trigger without the capability (EINVAL); the defaults are 1 s.
    entry = by_path(rendered[variant], UNIT)
    assert all(item["fact"] == "pid1_cap_sys_admin" and not item.get("also") for item in entry["content_if"])
    unit, facts = unit_on_board(host_fs, run_module, rendered[variant], CAP_WITH_SYS_ADMIN, TRIXIE)
    assert "CAP_SYS_RESOURCE" in directive(unit, "CapabilityBoundingSet")[0].split()
    assert facts == {"pid1_cap_sys_admin": True}


def test_the_defaults_the_capability_test_relies_on():
    with open(os.path.join(ROLE, "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    assert (defaults["monitor_psi"], defaults["monitor_kill"], defaults["monitor_mlock"]) == (True, False, True)


def test_no_psi_no_cap_sys_resource_and_no_kernel_variant(rendered):
    entry = by_path(rendered["psi_off"], UNIT)
    assert "CAP_SYS_RESOURCE" not in directive(entry["content"], "CapabilityBoundingSet")[0].split()
    assert [item["fact"] for item in entry["content_if"]] == ["pid1_cap_sys_admin"]


def test_never_with_the_default_triggers_is_one_unit_for_every_board(rendered):
    entry = by_path(rendered["never"], UNIT)
    assert "content_if" not in entry and directive(entry["content"], "PrivateTmp") == []
    assert "CAP_SYS_RESOURCE" in directive(entry["content"], "CapabilityBoundingSet")[0].split()
