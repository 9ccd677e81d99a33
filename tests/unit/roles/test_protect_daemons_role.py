"""rock5b.oom.protect_daemons wiring: every role variable and entry key reaches the
oom_score_adj module under the name it takes, with the same defaults, and the controller's value
rules refuse what the module would. Reads the role's files only."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.rock5b.oom.plugins.module_utils import selection, value_rules
from ansible_collections.rock5b.oom.plugins.modules import oom_score_adj

ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                    "roles", "protect_daemons")


def load(*path):
    with open(os.path.join(ROLE, *path)) as handle:
        return yaml.safe_load(handle)


SPEC = load("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
DEFAULTS = load("defaults", "main.yml")
[TASK] = load("tasks", "main.yml")
MODULE_ARGS = TASK["rock5b.oom.oom_score_adj"]


def test_every_entry_key_is_a_target_option_of_the_module():
    target_options = oom_score_adj.TARGET_OPTIONS
    names = set(target_options) | set(alias for option in target_options.values() for alias in option.get("aliases", ()))
    for variable in ("protect_daemons_list", "protect_daemons_extra"):
        keys = set(SPEC[variable]["options"])
        assert keys <= names, "%s keys the module does not take: %s" % (variable, sorted(keys - names))
        assert SPEC[variable]["options"]["allow_broad"]["type"] == "bool"


@pytest.mark.parametrize("option, variable", [
    ("max_protected", "protect_daemons_max_matches"),
    ("allow_broad", "protect_daemons_allow_broad"),
    ("on_denied", "protect_daemons_on_denied"),
    ("dropin_name", "protect_daemons_dropin_name"),
    ("managed_oom_preference", "protect_daemons_managed_oom_preference"),
])
def test_role_variables_reach_the_module_with_the_same_defaults(option, variable):
    assert MODULE_ARGS[option] == "{{ %s }}" % variable
    assert DEFAULTS[variable] == SPEC[variable]["default"]
    assert SPEC[variable]["type"] == oom_score_adj.ARGUMENT_SPEC[option]["type"]


def test_the_limit_is_the_modules_default():
    assert DEFAULTS["protect_daemons_max_matches"] == selection.MAX_PROTECTED
    assert oom_score_adj.ARGUMENT_SPEC["max_protected"]["default"] == selection.MAX_PROTECTED
    assert DEFAULTS["protect_daemons_allow_broad"] is False


@pytest.mark.parametrize("value, problem", [
    (0, "protect_daemons_max_matches must be >= 1, got 0"),
    (True, "protect_daemons_max_matches must be a number, got True"),
])
def test_the_controller_refuses_a_limit_the_module_refuses(value, problem):
    rules = load("meta", "value_rules.yml")["value_rules"]
    assert value_rules.check(rules, {"protect_daemons_max_matches": value}) == [problem]
    assert value_rules.check(rules, {"protect_daemons_max_matches": 40}) == []
    assert selection.max_protected_problem(value) is not None


def test_the_preference_choices_are_the_modules_and_oomd_is_assumed_only_for_its_backend():
    spec = SPEC["protect_daemons_managed_oom_preference"]
    assert sorted(spec["choices"]) == sorted(oom_score_adj.ARGUMENT_SPEC["managed_oom_preference"]["choices"])
    assert DEFAULTS["protect_daemons_managed_oom_preference"] == "auto"
    assert MODULE_ARGS["assume_systemd_oomd"] == "{{ (monitor_backend | default('rock5b')) == 'systemd-oomd' }}"
