"""playbooks/rollout.yml refuses a batch size that would not batch, before any board.

`serial: 0` (and "0%") means "every board at once" to Ansible: a typo in the batch size would
roll a change out to the whole fleet past the pressure gates. The playbook runs as it is, with
an inventory whose rock5b group is empty, so nothing but the check on localhost runs.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLLOUT = os.path.join(REPO, "playbooks", "rollout.yml")


def rollout(batch):
    extra = [] if batch is None else ["-e", json.dumps({"rock5b_oom_rollout_batch": batch})]
    return subprocess.run(["ansible-playbook", "-i", "no-board,", ROLLOUT, *extra], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=300)


@pytest.mark.parametrize("batch", [0, "0", "0%", "-1", "abc", "150%", "10 %", "", [], [1, 0], ["10%", "x"], 1.5])
def test_a_batch_that_would_not_batch_is_refused_naming_the_variable(batch):
    run = rollout(batch)
    assert run.returncode != 0
    assert "rock5b_oom_rollout_batch must be a number of boards" in run.stdout, run.stdout[-2000:]
    assert "no board was changed" in run.stdout


@pytest.mark.parametrize("batch", [None, 1, "1", 10, "25%", "100%", [1, "10%", "100%"]])
def test_a_real_batch_size_passes_the_check(batch):
    run = rollout(batch)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Check rock5b_oom_rollout_batch before any board is touched" in run.stdout
