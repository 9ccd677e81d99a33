"""rock5b.oom.monitor's monitor_backend: the drop-ins it renders, the checks before any change, the wiring.

The templates are rendered on the controller with ansible-playbook against localhost (the
role's defaults and vars, the real filters) and earlyoom's ExecStart= is read back the way
systemd reads it (systemd_exec_reader). The checks (the tasks of tasks/earlyoom_check.yml and
tasks/systemd_oomd_check.yml's assert, taken from the files as they are) run against localhost
with a temporary /etc/default file and the facts oom_facts would return. Nothing is installed:
the packages and services are the molecule scenario's (board-2) and the VM tests'.
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


def load(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


PROTECT_DAEMONS = load("roles", "protect_daemons", "defaults", "main.yml")["protect_daemons_list"]
BASE = {"protect_daemons_list": PROTECT_DAEMONS}
EXTRA = [{"name": "db", "comm": "postgres", "score": -500},
         {"name": "cache", "comm": "redis-server", "score": 300},          # expendable: not avoided
         {"name": "old", "comm": "olddaemon", "score": -900, "state": "absent"}]
DROPINS = {
    "defaults": BASE,
    "extra": dict(BASE, protect_daemons_extra=EXTRA),
    "not_from_protect_daemons": dict(BASE, protect_daemons_extra=EXTRA, monitor_protect_from_protect_daemons=False),
    "percent_no_swap_prefer": dict(BASE, monitor_critical="4%", monitor_warn="8%", monitor_count_swap=False,
                                   monitor_prefer_comms=["chromium", "Web Content", "a$b%c"]),
    "no_namespaces": dict(BASE, monitor__namespaces=False),
    "nothing_protected": {"monitor_protect_comms": [], "monitor_protect_from_protect_daemons": False},
}
OOMD = {
    "defaults": {},
    "set": {"monitor_oomd_swap_used_limit": "80%", "monitor_oomd_memory_pressure_limit": "40.5%",
            "monitor_oomd_memory_pressure_duration": 12},
}
# monitor__runs and monitor__other_killers per backend (vars/main.yml).
BACKENDS = ["rock5b", "earlyoom", "systemd-oomd", "none"]


def run_play(base, tasks, extra_vars=None):
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "vars_files": ROLE_FILES,
             "vars": dict({"role_path": ROLE}, **(extra_vars or {})), "tasks": tasks}]
    (base / "play.yml").write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(base / "play.yml")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{"earlyoom": variant -> drop-in text, "oomd": variant -> conf text, "backends": backend -> wiring}."""
    base = tmp_path_factory.mktemp("monitor_backend")
    os.symlink(os.path.join(ROLE, "templates"), str(base / "templates"))

    def lookups(template, variants):
        return "{" + ", ".join("%r: lookup('ansible.builtin.template', %r, template_vars=%s)" % (name, template, json.dumps(variables))
                               for name, variables in variants.items()) + "}"
    # role vars (vars/main.yml) outrank template_vars: the wiring is read per backend with vars: on the task
    tasks = [{"ansible.builtin.copy": {"content": "{{ {'earlyoom': %s, 'oomd': %s} | to_json }}" % (
        lookups("earlyoom.conf.j2", DROPINS), lookups("oomd.conf.j2", OOMD)), "dest": str(base / "out.json"), "mode": "0600"}}]
    for backend in BACKENDS:
        tasks.append({"ansible.builtin.copy": {
            "content": "{{ {'runs': monitor__runs, 'other': monitor__other_killers | map(attribute='unit') | list} | to_json }}",
            "dest": str(base / ("%s.json" % backend)), "mode": "0600"}, "vars": {"monitor_backend": backend}})
    tasks.append({"ansible.builtin.copy": {"content": "{{ monitor__runs | to_json }}", "dest": str(base / "disabled.json"),
                                           "mode": "0600"}, "vars": {"monitor_enabled": False}})
    run_play(base, tasks)
    result = json.loads((base / "out.json").read_text())
    result["backends"] = dict((backend, json.loads((base / ("%s.json" % backend)).read_text())) for backend in BACKENDS)
    result["disabled_runs"] = json.loads((base / "disabled.json").read_text())
    return result


def earlyoom_argv(text):
    lines = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert lines[0] == "ExecStart=", "the package's ExecStart= must be reset first: %s" % text
    assert len(lines) == 2, text
    command, sep, args = lines[1][len("ExecStart="):].rpartition(" ")
    assert sep and args == "$EARLYOOM_ARGS", "the operator's EARLYOOM_ARGS must stay, unescaped and last: %s" % lines[1]
    argv = read_exec(command)
    assert argv[0] == "/usr/bin/earlyoom"
    return argv[1:]


def flag(argv, name):
    assert argv.count(name) <= 1, argv
    return argv[argv.index(name) + 1] if name in argv else None


def test_the_default_drop_in_maps_the_monitors_thresholds_and_protect_lists(rendered):
    argv = earlyoom_argv(rendered["earlyoom"]["defaults"])
    # monitor_critical 100M: SIGTERM below 102400 KiB (SIGKILL at earlyoom's half); swap counted
    assert argv == ["-r", "3600", "-M", "102400", "--avoid", "^(systemd|systemd-journal|sshd)$"]
    assert "[Service]" in rendered["earlyoom"]["defaults"]
    assert "DynamicUser" not in rendered["earlyoom"]["defaults"]


def test_protect_daemons_entries_with_a_negative_score_are_avoided(rendered):
    assert flag(earlyoom_argv(rendered["earlyoom"]["extra"]), "--avoid") == "^(systemd|systemd-journal|sshd|postgres)$"
    assert flag(earlyoom_argv(rendered["earlyoom"]["not_from_protect_daemons"]), "--avoid") == "^(systemd|systemd-journal|sshd)$"


def test_a_percentage_without_swap_and_preferred_names_reach_earlyoom_as_written(rendered):
    argv = earlyoom_argv(rendered["earlyoom"]["percent_no_swap_prefer"])
    assert flag(argv, "-m") == "4" and flag(argv, "-M") is None
    assert flag(argv, "-s") == "100"
    # systemd_exec escapes % and $ for systemd; read back, earlyoom gets the regex as built
    assert flag(argv, "--prefer") == "^(chromium|Web Content|a\\$b%c)$"


def test_nothing_protected_no_avoid_flag(rendered):
    assert "--avoid" not in earlyoom_argv(rendered["earlyoom"]["nothing_protected"])


def test_the_container_variant_runs_earlyoom_without_namespaces(rendered):
    text = rendered["earlyoom"]["no_namespaces"]
    assert earlyoom_argv(text) == earlyoom_argv(rendered["earlyoom"]["defaults"])
    for setting in ("DynamicUser=no", "PrivateTmp=no", "PrivateDevices=no", "PrivateNetwork=no"):
        assert setting in text.splitlines(), text


def test_the_monitor_config_protects_what_earlyoom_avoids(tmp_path):
    """files.yml.j2 and earlyoom.conf.j2 read one list (templates/protect.j2)."""
    os.symlink(os.path.join(ROLE, "templates"), str(tmp_path / "templates"))
    content = ("{{ (lookup('ansible.builtin.template', 'files.yml.j2', template_vars=%s) | from_yaml"
               " | selectattr('json', 'defined') | first).json.protect | to_json }}" % json.dumps(DROPINS["extra"]))
    run_play(tmp_path, [{"ansible.builtin.copy": {"content": content, "dest": str(tmp_path / "p.json"), "mode": "0600"}}])
    protect = json.loads((tmp_path / "p.json").read_text())
    assert protect["comms"] == ["systemd", "systemd-journal", "sshd", "postgres"]
    assert "ssh.service" in protect["units"] and "rock5b-oom-monitor.service" in protect["units"]


def ini(text):
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _sep, value = line.partition("=")
            values[key] = value
    return values


def test_oomd_conf_holds_the_three_settings(rendered):
    assert "[OOM]" in rendered["oomd"]["defaults"].splitlines()
    assert ini(rendered["oomd"]["defaults"]) == {"SwapUsedLimit": "90%", "DefaultMemoryPressureLimit": "60%",
                                                 "DefaultMemoryPressureDurationSec": "30s"}
    assert ini(rendered["oomd"]["set"]) == {"SwapUsedLimit": "80%", "DefaultMemoryPressureLimit": "40.5%",
                                            "DefaultMemoryPressureDurationSec": "12s"}


def test_only_rock5b_runs_the_monitor_and_stop_spares_the_chosen_killer(rendered):
    backends = rendered["backends"]
    assert [backend for backend in BACKENDS if backends[backend]["runs"]] == ["rock5b"]
    assert rendered["disabled_runs"] is False
    every = ["earlyoom.service", "systemd-oomd.socket", "systemd-oomd.service", "nohang.service", "nohang-desktop.service"]
    assert backends["rock5b"]["other"] == every and backends["none"]["other"] == every
    assert backends["earlyoom"]["other"] == [unit for unit in every if not unit.startswith("earlyoom")]
    assert backends["systemd-oomd"]["other"] == [unit for unit in every if not unit.startswith("systemd-oomd")]
    # the socket goes first: a stopped service with a listening socket starts again
    assert every.index("systemd-oomd.socket") < every.index("systemd-oomd.service")


# --- the checks before any change ------------------------------------------------------------

EARLYOOM_CHECKS = {
    "no_defaults_file": None,
    "debians": '# Options to pass to earlyoom\nEARLYOOM_ARGS="-r 3600"\n# EARLYOOM_ARGS="-m 5"\n',
    "other_flags": 'EARLYOOM_ARGS="-r 60 -n -g --sort-by-rss --dryrun -N /usr/local/bin/notify-s"\n',
    "m_in_args": 'EARLYOOM_ARGS="-r 3600 -m 5"\n',
    "M_glued": "EARLYOOM_ARGS=-M204800\n",
    "combined": 'EARLYOOM_ARGS="-nm 5"\n',
    "swap": "export EARLYOOM_ARGS='-s 20'\n",
    "avoid": "EARLYOOM_ARGS=\"--avoid '(^|/)(init|sshd)$'\"\n",
    "prefer": 'EARLYOOM_ARGS="-r 3600 --prefer=firefox"\n',
}


@pytest.fixture(scope="module")
def earlyoom_checks(tmp_path_factory):
    """case -> the failure message of earlyoom_check.yml, or None when it passes."""
    base = tmp_path_factory.mktemp("earlyoom_checks")
    check_tasks = load("roles", "monitor", "tasks", "earlyoom_check.yml")
    assert [next(key for key in task if key.startswith("ansible.builtin.")) for task in check_tasks] == [
        "ansible.builtin.slurp", "ansible.builtin.assert"]
    tasks = []
    for case, args in EARLYOOM_CHECKS.items():
        defaults = base / case / "earlyoom"
        defaults.parent.mkdir()
        if args is not None:
            defaults.write_text(args)
        tasks.append({"name": case, "vars": {"monitor__earlyoom_defaults": str(defaults)}, "block": check_tasks,
                      "rescue": [{"ansible.builtin.copy": {"content": "{{ ansible_failed_result.msg }}",
                                                           "dest": str(base / case / "failed"), "mode": "0600"}}]})
    run_play(base, tasks)
    return dict((case, (base / case / "failed").read_text() if (base / case / "failed").exists() else None)
                for case in EARLYOOM_CHECKS)


@pytest.mark.parametrize("case", ["no_defaults_file", "debians", "other_flags"])
def test_the_operators_other_earlyoom_flags_pass(earlyoom_checks, case):
    assert earlyoom_checks[case] is None


@pytest.mark.parametrize("case", ["m_in_args", "M_glued", "combined", "swap", "avoid", "prefer"])
def test_earlyoom_args_that_set_the_roles_flags_are_refused(earlyoom_checks, case):
    assert "remove them from EARLYOOM_ARGS" in earlyoom_checks[case] and "Nothing was changed" in earlyoom_checks[case]


def psi(available, reason="", hint=""):
    return {"available": available, "state": "enabled" if available else "disabled", "reason": reason, "hint": hint}


PSI_DISABLED = "reading /proc/pressure/memory fails with EOPNOTSUPP (errno 95): PSI is built into the kernel but disabled at boot"
OOMD_CHECKS = {
    "v2_psi": ({"version": "v2"}, psi(True)),
    "v1": ({"version": "v1"}, psi(True)),
    "hybrid": ({"version": "hybrid"}, psi(True)),
    "psi_off": ({"version": "v2"}, psi(False, PSI_DISABLED, "add psi=1 to the kernel command line and reboot")),
}


@pytest.fixture(scope="module")
def oomd_checks(tmp_path_factory):
    """case -> the failure message of systemd_oomd_check.yml's assert on oom_facts' facts, or None."""
    base = tmp_path_factory.mktemp("oomd_checks")
    role_tasks = load("roles", "monitor", "tasks", "systemd_oomd_check.yml")
    assert "rock5b.oom.oom_facts" in role_tasks[0] and role_tasks[0]["register"] == "monitor_oomd_board"
    assert role_tasks[0]["rock5b.oom.oom_facts"]["log_source"] == "none"
    tasks = []
    for case, (cgroup, psi_facts) in OOMD_CHECKS.items():
        (base / case).mkdir()
        board = {"ansible_facts": {"rock5b_oom": {"cgroup": cgroup, "psi": psi_facts}}}
        tasks.append({"name": case, "vars": {"monitor_oomd_board": board}, "block": role_tasks[1:],
                      "rescue": [{"ansible.builtin.copy": {"content": "{{ ansible_failed_result.msg }}",
                                                           "dest": str(base / case / "failed"), "mode": "0600"}}]})
    run_play(base, tasks)
    return dict((case, (base / case / "failed").read_text() if (base / case / "failed").exists() else None)
                for case in OOMD_CHECKS)


def test_oomd_passes_on_cgroup_v2_with_psi(oomd_checks):
    assert oomd_checks["v2_psi"] is None


@pytest.mark.parametrize("case", ["v1", "hybrid"])
def test_oomd_is_refused_without_the_unified_hierarchy(oomd_checks, case):
    assert "cgroup %s hierarchy" % case in oomd_checks[case] and "unified cgroup v2" in oomd_checks[case]
    assert "nothing was changed" in oomd_checks[case]


def test_oomd_is_refused_with_psi_off_and_says_how_to_turn_it_on(oomd_checks):
    message = oomd_checks["psi_off"]
    assert "PSI is not available" in message and "disabled at boot" in message and "psi=1" in message
    assert "nothing was changed" in message


# --- the wiring ------------------------------------------------------------------------------

def task_modules(tasks):
    return [next(key for key in task if key.startswith(("ansible.builtin.", "rock5b.oom."))) for task in tasks]


def test_the_checks_come_before_anything_changes():
    main = load("roles", "monitor", "tasks", "main.yml")
    imports = [task.get("ansible.builtin.import_tasks") for task in main]
    assert imports[:2] == ["systemd_oomd_check.yml", "earlyoom_check.yml"]
    assert main[0]["when"] == "monitor_backend == 'systemd-oomd'" and main[1]["when"] == "monitor_backend == 'earlyoom'"
    # the checks read only
    assert set(task_modules(load("roles", "monitor", "tasks", "earlyoom_check.yml"))) == {"ansible.builtin.slurp",
                                                                                          "ansible.builtin.assert"}
    assert set(task_modules(load("roles", "monitor", "tasks", "systemd_oomd_check.yml"))) == {"rock5b.oom.oom_facts",
                                                                                              "ansible.builtin.assert"}
    # then the backends, then the monitor's file_set (stopping it for them), then the other killers
    assert imports.index("earlyoom.yml") < imports.index(None) and imports.index("systemd_oomd.yml") < imports.index(None)
    monitor = next(task for task in main if "rock5b.oom.file_set" in task)
    assert monitor["rock5b.oom.file_set"]["service"]["enabled"] == "{{ monitor__runs }}"
    assert main[-1] == {"name": main[-1]["name"], "ansible.builtin.import_tasks": "other_killers.yml",
                        "when": "monitor_other_killers == 'stop'"}


@pytest.mark.parametrize("tasks_file, dropin", [("earlyoom.yml", "monitor__earlyoom_dropin"), ("systemd_oomd.yml", "monitor__oomd_conf")])
def test_the_config_is_written_before_the_package_and_the_service_is_file_sets(tasks_file, dropin):
    tasks = load("roles", "monitor", "tasks", tasks_file)
    write, install, service = tasks
    assert any(entry["path"] == "{{ %s }}" % dropin for entry in write["rock5b.oom.file_set"]["files"])
    assert "service" not in write["rock5b.oom.file_set"]
    apt = install["block"][0]["ansible.builtin.apt"]
    assert apt["state"] == "present" and "update_cache" not in apt
    assert install["rescue"][0]["ansible.builtin.apt"]["update_cache"] is True
    # check mode: a unit the check run has not installed is predicted by file_set, not refused
    assert service["rock5b.oom.file_set"]["files"] == [] and service["rock5b.oom.file_set"]["service"]["state"] == "started"


def test_the_earlyoom_drop_in_has_its_container_variant():
    write = load("roles", "monitor", "tasks", "earlyoom.yml")[0]["rock5b.oom.file_set"]["files"][1]
    assert write["content_if"][0]["fact"] == "pid1_cap_sys_admin" and write["content_if"][0]["value"] is False
    assert "'monitor__namespaces': false" in write["content_if"][0]["content"]


def test_the_handlers_restart_a_killer_only_when_its_file_changed():
    handlers = dict((handler["name"], handler) for handler in load("roles", "monitor", "handlers", "main.yml"))
    assert "monitor__runs" in handlers["Restart the low-memory monitor"]["when"]
    for name, result in (("Restart earlyoom", "monitor_earlyoom_dropin_result"), ("Restart systemd-oomd", "monitor_oomd_conf_result")):
        handler = handlers[name]
        assert handler["ansible.builtin.systemd_service"]["state"] == "restarted"
        assert any(result + ".changed_paths" in condition for condition in handler["when"])
        # in check mode only a unit known before: one the check run did not install cannot be restarted
        assert any("not ansible_check_mode" in condition for condition in handler["when"])


def test_other_killers_are_stopped_only_where_they_run_or_are_enabled():
    read, stop = load("roles", "monitor", "tasks", "other_killers.yml")
    assert "ansible.builtin.service_facts" in read
    assert stop["ansible.builtin.systemd_service"] == {"name": "{{ item.unit }}", "state": "stopped", "enabled": False}
    assert "running" in stop["when"] and "enabled" in stop["when"]
    assert stop["register"].startswith("monitor_") and stop["register"].endswith("result")


def test_every_new_variable_is_specified_defaulted_and_ruled():
    options = load("roles", "monitor", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load("roles", "monitor", "defaults", "main.yml")
    rules = load("roles", "monitor", "meta", "value_rules.yml")["value_rules"]
    assert options["monitor_backend"]["choices"] == BACKENDS and defaults["monitor_backend"] == "rock5b"
    assert options["monitor_other_killers"]["choices"] == ["report", "stop"] and defaults["monitor_other_killers"] == "report"
    for name in ("monitor_prefer_comms", "monitor_oomd_swap_used_limit", "monitor_oomd_memory_pressure_limit",
                 "monitor_oomd_memory_pressure_duration"):
        assert options[name]["default"] == defaults[name], name
        assert name in rules, name
    assert rules["monitor_prefer_comms"] == {"rule": "comm", "list": True}


def test_registered_results_are_named_for_the_audit():
    """audit.yml counts every registered <role>_*result that changed (or would) as drift."""
    for name in ("earlyoom.yml", "systemd_oomd.yml", "other_killers.yml"):
        for task in load("roles", "monitor", "tasks", name):
            for registered in [task.get("register")] + [sub.get("register") for sub in task.get("block", []) + task.get("rescue", [])]:
                if registered:
                    assert registered.startswith("monitor_") and registered.endswith("result"), (name, registered)


def test_the_value_rules_refuse_bad_backend_settings():
    sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))
    from ansible_collections.rock5b.oom.plugins.module_utils import value_rules  # pylint: disable=import-outside-toplevel
    rules = load("roles", "monitor", "meta", "value_rules.yml")["value_rules"]
    bad = {"monitor_prefer_comms": ["chromium-browser"], "monitor_oomd_swap_used_limit": "90",
           "monitor_oomd_memory_pressure_limit": "160%", "monitor_oomd_memory_pressure_duration": 0}
    problems = value_rules.check(rules, bad)
    for name in bad:
        assert any(problem.startswith(name) for problem in problems), (name, problems)
    good = dict((name, load("roles", "monitor", "defaults", "main.yml")[name]) for name in bad)
    assert value_rules.check(rules, dict(good, monitor_prefer_comms=["chromium", "Web Content"])) == []
