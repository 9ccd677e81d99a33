"""psi_boot's kernel check variables: refused on the controller by the role's value rules and
argument spec, and handed to rock5b.oom.kernel_cmdline by its task."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.rock5b.oom.plugins.module_utils import value_rules

ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                    "roles", "psi_boot")


def load(*parts):
    with open(os.path.join(ROLE, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("value, ok", [("/boot", True), ("/root/fake-boot", True), ("boot", False),
                                       ("/boot/../etc", False), ("/boot//x", False), ("/bo\not", False)])
def test_the_config_dir_must_be_a_plain_absolute_path(value, ok):
    problems = value_rules.check(load("meta", "value_rules.yml")["value_rules"], {"psi_boot_kernel_config_dir": value})
    assert (problems == []) is ok, problems
    assert ok or "psi_boot_kernel_config_dir must be an absolute path" in problems[0]


def test_defaults_spec_and_task_agree():
    defaults = load("defaults", "main.yml")
    spec = load("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name in ("psi_boot_kernel_check", "psi_boot_kernel_config_dir"):
        assert spec[name]["default"] == defaults[name]
    assert "dietpi_env" in spec["psi_boot_targets"]["choices"]
    task = next(t for t in load("tasks", "enable.yml") if "rock5b.oom.kernel_cmdline" in t)["rock5b.oom.kernel_cmdline"]
    assert task["psi_check"] == "{{ psi_boot_kernel_check }}"
    assert task["kernel_config_dir"] == "{{ psi_boot_kernel_config_dir }}"
