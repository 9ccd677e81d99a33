"""systemd layer: how systemctl is called and how its failures read."""

from __future__ import annotations

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.systemd import Systemctl


class FakeModule:
    def __init__(self, rc=0, out="", err=""):
        self.answer, self.calls = (rc, out, err), []

    def run_command(self, args, **_kwargs):
        self.calls.append(list(args))
        return self.answer


def test_unit_names_follow_a_double_dash():
    module = FakeModule()
    Systemctl(module).start("-app.service")
    assert module.calls == [["systemctl", "start", "--", "-app.service"]]


def test_a_failure_names_the_command_without_the_double_dash():
    module = FakeModule(rc=1, err="Failed to start app.service: boom\n")
    with pytest.raises(ModuleError) as caught:
        Systemctl(module).start("app.service")
    assert caught.value.msg == "systemctl start app.service failed: Failed to start app.service: boom"
