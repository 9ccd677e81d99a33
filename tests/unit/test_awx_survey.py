"""The AWX survey for the rollout job (docs/awx/rollout-survey.json) asks for exactly the
variables playbooks/rollout.yml reads, with the playbook's own defaults, and offers only
values the collection accepts: a survey that drifts from the playbook would pass a typo-free
form straight into a fleet-wide run."""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

from ansible_collections.rock5b.oom.plugins.modules import memory_pressure

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SURVEY = os.path.join(REPO, "docs", "awx", "rollout-survey.json")
ROLLOUT = os.path.join(REPO, "playbooks", "rollout.yml")
PROJECT = os.path.join(REPO, "tools", "ee", "project")
AWX_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def playbook_defaults():
    """{variable: default} of every rock5b_oom_rollout_* the playbook reads."""
    text = open(ROLLOUT, encoding="utf-8").read()
    found = re.findall(r"(rock5b_oom_rollout_\w+)\s*\|\s*default\(([^)]*)\)", text)
    assert found, "no rock5b_oom_rollout_* variable found in %s" % ROLLOUT
    defaults = {}
    for name, default in found:
        value = yaml.safe_load(default)
        assert defaults.setdefault(name, value) == value, "%s has two defaults in rollout.yml" % name
    return defaults


@pytest.fixture(scope="module")
def questions():
    with open(SURVEY, encoding="utf-8") as handle:
        survey = json.load(handle)
    return dict((question["variable"], question) for question in survey["spec"])


def test_the_survey_asks_for_every_variable_the_rollout_reads_and_no_other(questions):
    assert sorted(questions) == sorted(playbook_defaults())


def test_each_question_defaults_to_the_playbooks_default(questions):
    for name, default in playbook_defaults().items():
        assert questions[name]["default"] == default, name


def test_question_types_are_awx_types_and_numbers_are_bounded(questions):
    for name, question in questions.items():
        assert question["type"] in AWX_TYPES, name
        assert question["required"] is True, name
        if question["type"] in ("integer", "float"):
            assert question["min"] <= question["default"] <= question["max"], name


def test_the_psi_choice_offers_what_memory_pressure_accepts(questions):
    choices = questions["rock5b_oom_rollout_psi_unavailable"]["choices"]
    # DOCUMENTATION matches the argument_spec (ansible-test sanity's validate-modules checks it).
    accepted = yaml.safe_load(memory_pressure.DOCUMENTATION)["options"]["unavailable"]["choices"]
    assert sorted(choices) == sorted(accepted)


def test_the_awx_project_runs_the_collections_playbooks_from_the_ee():
    for name in ("site", "rollout", "audit"):
        with open(os.path.join(PROJECT, name + ".yml"), encoding="utf-8") as handle:
            plays = yaml.safe_load(handle)
        assert plays == [{"name": plays[0]["name"], "ansible.builtin.import_playbook": "rock5b.oom.%s" % name}]
        assert os.path.exists(os.path.join(REPO, "playbooks", name + ".yml"))


def test_the_unreachable_choice_offers_what_the_rollout_accepts(questions):
    text = open(ROLLOUT, encoding="utf-8").read()
    accepted = re.search(r"rock5b_oom_rollout_unreachable \| default\('stop'\) in (\[[^\]]*\])", text).group(1)
    assert sorted(questions["rock5b_oom_rollout_unreachable"]["choices"]) == sorted(yaml.safe_load(accepted))
