"""rock5b.oom.monitor's monitor_node_exporter option: the drop-in it writes and the checks before it.

The drop-in template is rendered on the controller with ansible-playbook against localhost (the
role's defaults and vars, the real filters) and read back the way systemd reads ExecStart=
(systemd_exec_reader). The checks (the first tasks of tasks/node_exporter.yml, taken from the
file as they are) run against localhost with a temporary /etc/default file. Nothing is
installed: the apt install and the service are the molecule scenario's (board-1 host_vars).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins", "filter"))
from systemd_exec_reader import read_exec  # noqa: E402 (tests/unit/plugins/filter)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(REPO, "roles", "monitor")
ROLE_FILES = [os.path.join(ROLE, "defaults", "main.yml"), os.path.join(ROLE, "vars", "main.yml")]

DROPINS = {
    "defaults": {},
    "specials": {"monitor_metrics_path": "/srv/prom files/50%/$x/rock5b.prom", "monitor_node_exporter_listen_address": "[::1]:9101"},
}
# name -> (ARGS file content or None for no file, variables)
CHECKS = {
    "no_defaults_file": (None, {}),
    "other_flags": ('# comment --web.listen-address=:1\nARGS="--collector.systemd --no-collector.wifi"\n', {}),
    "listen_in_args": ('ARGS="--web.listen-address=:9200"\n', {}),
    "textfile_in_args": ('ARGS="--collector.textfile.directory=/srv/x"\n', {}),
    "no_metrics": (None, {"monitor_metrics_path": ""}),
}


def run_play(base, tasks):
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "vars_files": ROLE_FILES,
             "vars": {"role_path": ROLE}, "tasks": tasks}]
    (base / "play.yml").write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(base / "play.yml")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def dropins(tmp_path_factory):
    """variant -> the drop-in's text."""
    base = tmp_path_factory.mktemp("node_exporter_dropin")
    os.symlink(os.path.join(ROLE, "templates"), str(base / "templates"))
    content = "{{ %s | to_json }}" % ("{" + ", ".join(
        "%r: lookup('ansible.builtin.template', 'node-exporter.conf.j2', template_vars=%s)" % (name, json.dumps(variables))
        for name, variables in DROPINS.items()) + "}")
    run_play(base, [{"ansible.builtin.copy": {"content": content, "dest": str(base / "out.json"), "mode": "0600"}}])
    return json.loads((base / "out.json").read_text())


def exec_start(text):
    lines = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert lines[0] == "ExecStart=", "the package's ExecStart= must be reset first: %s" % text
    assert len(lines) == 2, text
    command, sep, args = lines[1][len("ExecStart="):].rpartition(" ")
    assert sep and args == "$ARGS", "the operator's ARGS must stay, unescaped and last: %s" % lines[1]
    return read_exec(command)


def test_the_default_drop_in_reads_the_monitors_directory_and_keeps_debians_address(dropins):
    assert "[Service]" in dropins["defaults"]
    assert exec_start(dropins["defaults"]) == ["/usr/bin/prometheus-node-exporter",
                                               "--collector.textfile.directory=/var/lib/prometheus/node-exporter",
                                               "--web.listen-address=:9100"]


def test_spaces_percent_and_dollar_in_the_path_reach_the_exporter_as_written(dropins):
    assert exec_start(dropins["specials"])[1:] == ["--collector.textfile.directory=/srv/prom files/50%/$x",
                                                   "--web.listen-address=[::1]:9101"]


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    """case -> the failure message of the role's checks, or None when they pass."""
    base = tmp_path_factory.mktemp("node_exporter_checks")
    with open(os.path.join(ROLE, "tasks", "node_exporter.yml"), encoding="utf-8") as handle:
        role_tasks = yaml.safe_load(handle)
    check_tasks = [task for task in role_tasks if "ansible.builtin.slurp" in task or "ansible.builtin.assert" in task]
    assert len(check_tasks) == 2 and role_tasks[:2] == check_tasks, "the checks must come before anything changes"
    tasks = []
    for case, (args, variables) in CHECKS.items():
        defaults = base / case / "prometheus-node-exporter"
        defaults.parent.mkdir()
        if args is not None:
            defaults.write_text(args)
        tasks.append({"name": case, "vars": dict(variables, monitor__node_exporter_defaults=str(defaults)), "block": check_tasks,
                      "rescue": [{"ansible.builtin.copy": {"content": "{{ ansible_failed_result.msg }}",
                                                           "dest": str(base / case / "failed"), "mode": "0600"}}]})
    run_play(base, tasks)
    return dict((case, (base / case / "failed").read_text() if (base / case / "failed").exists() else None) for case in CHECKS)


@pytest.mark.parametrize("case", ["no_defaults_file", "other_flags"])
def test_the_operators_other_flags_pass(checks, case):
    assert checks[case] is None


@pytest.mark.parametrize("case", ["listen_in_args", "textfile_in_args"])
def test_args_that_repeat_the_roles_flags_are_refused_before_anything_is_installed(checks, case):
    assert "remove them from ARGS" in checks[case] and "prometheus-node-exporter sets" in checks[case], checks[case]


def test_no_metrics_file_no_exporter(checks):
    assert "monitor_metrics_path is empty" in checks["no_metrics"]


def test_off_by_default_and_only_imported_when_on():
    with open(ROLE_FILES[0], encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    assert defaults["monitor_node_exporter"] is False and defaults["monitor_node_exporter_listen_address"] == ":9100"
    with open(os.path.join(ROLE, "tasks", "main.yml"), encoding="utf-8") as handle:
        main = yaml.safe_load(handle)
    imports = [task for task in main if task.get("ansible.builtin.import_tasks") == "node_exporter.yml"]
    assert len(imports) == 1 and imports[0]["when"] == "monitor_node_exporter | bool"
    with open(os.path.join(ROLE, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    assert options["monitor_node_exporter"]["default"] is False
    assert options["monitor_node_exporter_listen_address"]["default"] == ":9100"


def test_the_handler_restarts_only_an_exporter_that_ran_before_a_changed_drop_in():
    with open(os.path.join(ROLE, "handlers", "main.yml"), encoding="utf-8") as handle:
        handler = next(h for h in yaml.safe_load(handle) if h["name"] == "Restart the node exporter")
    assert handler["ansible.builtin.systemd_service"]["state"] == "restarted"
    assert any("changed_paths" in condition for condition in handler["when"])
    assert any("active.before" in condition for condition in handler["when"])
