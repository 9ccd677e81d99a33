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

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(REPO, "roles", "monitor")
CONFIG = "/etc/rock5b-oom/monitor.json"


def _config_rules():
    with open(os.path.join(ROLE, "meta", "value_rules.yml"), encoding="utf-8") as handle:
        rules = yaml.safe_load(handle)["value_rules"]
    return dict((variable, rule["key"]) for variable, rule in rules.items() if rule["rule"] == "monitor_config")


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


# The variants rendered: name -> variables set on top of the role's defaults.
VARIANTS = {
    "sentinels": _sentinels(),
    "defaults": {},
    # refused by the program only (an argument spec cannot say it): the window is too short
    "bad_trigger": {"monitor_psi_triggers": ["some 150000 100"]},
    "spaced": {"monitor_install_dir": "/opt/rock 5b/lib", "monitor_python": "/opt/py 3/bin/python3"},
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
