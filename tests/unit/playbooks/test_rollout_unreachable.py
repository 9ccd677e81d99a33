"""playbooks/rollout.yml and boards it cannot reach (issue #20).

Every board of these inventories is unreachable (nothing listens on ports 1 and 2 of
127.0.0.1), so nothing but the controller's own checks and the reach test runs.
- stop (default): the first unreachable board stops the rollout; no later batch starts.
- continue: unreachable boards are skipped, named at the end, and the run exits non-zero.
"""

from __future__ import annotations

import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLLOUT = os.path.join(REPO, "playbooks", "rollout.yml")
INVENTORY = """rock5b:
  hosts:
    board-a: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_connection: ssh}
    board-b: {ansible_host: 127.0.0.1, ansible_port: 2, ansible_connection: ssh}
"""


def rollout(tmp_path, *extra):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORY)
    return subprocess.run(["ansible-playbook", "-i", str(inventory), ROLLOUT, "-e", "rock5b_oom_rollout_batch=1", *extra],
                          cwd=REPO, capture_output=True, text=True, check=False, timeout=300)


def test_an_unreachable_board_stops_the_rollout_before_the_next_batch(tmp_path):
    run = rollout(tmp_path)
    assert run.returncode == 4, run.stdout[-3000:]
    assert "fatal: [board-a]: UNREACHABLE!" in run.stdout
    assert "board-b" not in run.stdout, "a batch started after an unreachable board:\n" + run.stdout[-3000:]


def test_continue_skips_unreachable_boards_names_them_and_fails_the_run(tmp_path):
    run = rollout(tmp_path, "-e", "rock5b_oom_rollout_unreachable=continue")
    assert run.returncode == 2, run.stdout[-3000:]
    assert "the rollout skipped 2 unreachable board(s): board-a, board-b" in run.stdout, run.stdout[-3000:]
    assert "Gate the batch on memory pressure before the change" not in run.stdout


@pytest.mark.parametrize("value", ["yes", "Continue", "", "skip"])
def test_an_unknown_unreachable_policy_is_refused_before_any_board(tmp_path, value):
    run = rollout(tmp_path, "-e", "rock5b_oom_rollout_unreachable=%s" % value)
    assert run.returncode == 2, run.stdout[-3000:]
    assert "rock5b_oom_rollout_unreachable must be stop" in run.stdout
    assert "Reach the board" not in run.stdout
