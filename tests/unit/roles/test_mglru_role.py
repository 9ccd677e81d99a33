"""rock5b.oom.mglru: every role variable reaches the lru_gen module with the module's default, the
controller's checks (argument spec, then meta/value_rules.yml) refuse what the module would, and
the role's defaults (both values null) reach the module as null. The last test runs the role in
check mode against localhost: it only reads (/sys/kernel/mm/lru_gen, the tmpfiles.d file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.rock5b.oom.plugins.module_utils import lru_gen_settings, value_rules

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(REPO, "roles", "mglru")


def load(*path):
    with open(os.path.join(ROLE, *path)) as handle:
        return yaml.safe_load(handle)


SPEC = load("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
RULES = load("meta", "value_rules.yml")["value_rules"]
DEFAULTS = load("defaults", "main.yml")
[TASK] = load("tasks", "main.yml")
MODULE_ARGS = TASK["rock5b.oom.lru_gen"]


def controller_problems(values):
    """What validate_role_arguments says about ``values`` over the role's defaults."""
    provided = dict(DEFAULTS, **values)
    validated = ArgumentSpecValidator(SPEC).validate(provided, validate_role_argument_spec=True)
    if validated.error_messages:
        return list(validated.error_messages)
    return value_rules.check(RULES, provided)


def test_every_variable_is_specified_defaulted_and_handed_to_the_module():
    assert set(SPEC) == set(DEFAULTS) == set(lru_gen_settings.ROLE_VARIABLES.values())
    for option, variable in lru_gen_settings.ROLE_VARIABLES.items():
        assert MODULE_ARGS[option] == "{{ %s }}" % variable
        assert SPEC[variable].get("default") == DEFAULTS[variable], variable
    assert TASK["register"] == "mglru_result"


def test_the_role_is_opt_in_and_its_path_is_the_modules_default():
    assert DEFAULTS["mglru_enabled"] is None and DEFAULTS["mglru_min_ttl_ms"] is None
    assert DEFAULTS["mglru_path"] == lru_gen_settings.DEFAULT_PATH
    assert RULES["mglru_min_ttl_ms"]["maximum"] == lru_gen_settings.MIN_TTL_MAX_MS


@pytest.mark.parametrize("values", [{}, {"mglru_enabled": True, "mglru_min_ttl_ms": 1000}, {"mglru_enabled": False},
                                    {"mglru_min_ttl_ms": 0}, {"mglru_min_ttl_ms": "1000"},
                                    {"mglru_path": "/usr/lib/tmpfiles.d/x.conf"}])
def test_the_controller_accepts_valid_settings(values):
    assert controller_problems(values) == []


@pytest.mark.parametrize("values, words", [
    ({"mglru_enabled": "maybe"}, "mglru_enabled"),
    ({"mglru_min_ttl_ms": -1}, "mglru_min_ttl_ms must be between 0 and 60000"),
    ({"mglru_min_ttl_ms": 60001}, "mglru_min_ttl_ms must be between 0 and 60000"),
    ({"mglru_min_ttl_ms": True}, "mglru_min_ttl_ms must be a number"),
    ({"mglru_min_ttl_ms": "١٠٠٠"}, "mglru_min_ttl_ms must be a number"),
    ({"mglru_min_ttl_ms": "soon"}, "mglru_min_ttl_ms"),
    ({"mglru_path": "tmpfiles.d/x.conf"}, "mglru_path must be an absolute path"),
    ({"mglru_path": "/etc/tmpfiles.d/../x.conf"}, "mglru_path must be an absolute path"),
    ({"mglru_strict_live": "strict"}, "mglru_strict_live"),
])
def test_the_controller_refuses_a_typo_naming_the_variable(values, words):
    problems = controller_problems(values)
    assert any(words in problem for problem in problems), problems


def test_the_defaults_reach_the_module_as_null(tmp_path):
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [
        {"ansible.builtin.include_role": {"name": "rock5b.oom.mglru"}},
        {"ansible.builtin.copy": {"content": "{{ mglru_result | to_json }}", "dest": str(tmp_path / "result.json")},
         "check_mode": False}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "--check", "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable, str(path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert not result.get("failed") and result["changed"] is False, result
    assert result["desired"] == {"enabled": None, "min_ttl_ms": None}
    assert result["present"] is os.path.isdir("/sys/kernel/mm/lru_gen")


def corpus_role_cases():
    with open(os.path.join(REPO, "tests", "integration", "bad_input_corpus.d", "mglru.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["role_cases"]


@pytest.mark.parametrize("case", corpus_role_cases(), ids=lambda case: case["id"])
def test_every_corpus_case_is_refused_naming_its_variable(case):
    """By the controller, or (a path that is absolute but in no tmpfiles.d directory) by the module's
    own check, which runs before the board is read."""
    problems = controller_problems(case["vars"])
    if not problems:
        params = {"enabled": None, "min_ttl_ms": None, "path": DEFAULTS["mglru_path"]}
        params.update((option, case["vars"][variable]) for option, variable in lru_gen_settings.ROLE_VARIABLES.items()
                      if variable in case["vars"] and option in params)
        with pytest.raises(lru_gen_settings.ModuleError) as caught:
            lru_gen_settings.validate(params)
        problems = [caught.value.msg]
    assert any(name in problem for problem in problems for name in case["names"]), problems
