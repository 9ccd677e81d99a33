"""The warning filter: a real Ansible warning (deduplicated per run by Ansible), the message returned."""

from __future__ import annotations

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.rock5b.oom.plugins.filter import warning as warning_module
from ansible_collections.rock5b.oom.plugins.filter.warning import FilterModule, warning


def test_emits_an_ansible_warning_and_returns_the_message(monkeypatch):
    seen = []
    monkeypatch.setattr(Display, "warning", lambda self, msg, *args, **kwargs: seen.append(msg))
    assert warning("commits are not verified") == "commits are not verified"
    assert seen == ["commits are not verified"]


@pytest.mark.parametrize("message", ["", None, 5])
def test_refuses_an_empty_message(message):
    with pytest.raises(AnsibleFilterError, match="non-empty message"):
        warning(message)


def test_registered_and_documented():
    assert FilterModule().filters()["warning"] is warning
    assert yaml.safe_load(warning_module.DOCUMENTATION)["name"] == "warning"
    assert "rock5b.oom.warning" in warning_module.EXAMPLES
