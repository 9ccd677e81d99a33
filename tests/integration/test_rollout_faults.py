"""Faults a rollout meets on a fleet (issue #20), on the lab's boards:

- a board that loses power and boots again in the middle of its batch (`podman kill`, then
  `podman start`): the rollout stops there, no later batch starts, and running it again
  finishes the job: the board done before reports changed=0, the others are converged;
- the SSH connection dropped in the middle of a run (the board's sshd sessions killed): the
  run fails on that board, and the next run converges it, then reports changed=0.

Needs the lab (`tools/lab.sh up`, which `make integration` runs first); every board is left
converged and reachable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402  pylint: disable=wrong-import-position

FIRST, CUT, LATER = lab.BOARDS
# Marks that a board's batch has started changing it (the first role's task of harden.yml).
CONVERGE_TASK = "TASK [rock5b.oom.sysctl_profile"


def run_until(command, marker, occurrence, action):
    """Run ``command``; when ``marker`` starts a line for the ``occurrence``-th time, call ``action``
    (in a thread, so the output keeps flowing). Returns (returncode, output, whether it acted)."""
    process = subprocess.Popen(command, cwd=lab.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, ANSIBLE_FORCE_COLOR="0"))
    lines, seen, acted, worker = [], 0, [], None
    for line in process.stdout:
        lines.append(line)
        if line.startswith(marker):
            seen += 1
            if seen == occurrence:
                worker = threading.Thread(target=lambda: acted.append(action()))
                worker.start()
    returncode = process.wait(timeout=1800)
    if worker is not None:
        worker.join(timeout=600)  # the board is back (or the action failed) before the test goes on
    return returncode, "".join(lines), bool(acted)


@pytest.fixture()
def restored_lab():
    """Whatever the test did, every board is up and converged after it (a test that ends by
    showing that the lab is converged sets state["converged"])."""
    state = {"converged": False}
    yield state
    for board in lab.BOARDS:
        if lab.podman("container", "inspect", "-f", "{{.State.Running}}", board, check=False).strip() != "true":
            lab.podman("start", board)
        lab.wait_for_ssh(board)
    if state["converged"]:
        return
    restore = lab.playbook("site.yml")
    assert restore.returncode == 0, "re-converging the lab failed:\n" + restore.stdout[-3000:]


def power_cut_and_boot(board):
    lab.podman("kill", board)
    lab.podman("start", board)
    lab.wait_for_ssh(board)
    return True


def test_a_board_rebooting_mid_batch_stops_the_rollout_and_a_rerun_finishes_it(restored_lab):  # pylint: disable=redefined-outer-name
    for board in lab.BOARDS:
        lab.on_board(board, lab.SYSCTL_DRIFT)
    command = lab.playbook_command("rollout.yml", "-e", "rock5b_oom_rollout_batch=1", "-e", "rock5b_oom_rollout_sample_seconds=1")
    # The second board's batch: the second time the converge starts.
    returncode, output, acted = run_until(command, CONVERGE_TASK, 2, lambda: power_cut_and_boot(CUT))
    assert acted, "the rollout never reached %s's batch:\n%s" % (CUT, output[-3000:])
    counts = lab.recap(output)
    assert returncode != 0, "the rollout went on past a board that dropped off:\n" + output[-3000:]
    assert counts[CUT]["unreachable"] + counts[CUT]["failed"] >= 1, counts
    assert counts[FIRST]["failed"] == counts[FIRST]["unreachable"] == 0, counts
    assert LATER not in counts, "a batch started after a board dropped off: %s" % counts
    assert lab.on_board(LATER, lab.SYSCTL_DRIFTED, check=False), "%s was changed: its batch must not start" % LATER
    assert not lab.on_board(FIRST, lab.SYSCTL_DRIFTED, check=False), "%s's batch did not correct it" % FIRST

    # The rerun in one batch: what is checked is that it finishes and skips nothing done.
    rerun = lab.playbook("rollout.yml", "-e", "rock5b_oom_rollout_batch=3", "-e", "rock5b_oom_rollout_sample_seconds=1")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    counts = lab.recap(rerun.stdout)
    assert counts[FIRST]["changed"] == 0, "the batch that was done is only checked again: %s" % counts
    assert counts[LATER]["changed"] > 0, counts
    for board in lab.BOARDS:
        assert not lab.on_board(board, lab.SYSCTL_DRIFTED, check=False), "%s is still drifted after the rerun" % board
    again = lab.playbook("site.yml")
    assert again.returncode == 0 and all(c["changed"] == 0 for c in lab.recap(again.stdout).values()), again.stdout[-3000:]
    restored_lab["converged"] = True


def drop_ssh(board, seconds=20):
    """A flaky link: for ``seconds``, every SSH session to the board (the ControlPersist master's
    included, not the listener) is cut within a fraction of a second, so the task in flight and
    the reconnects fail. A session is "sshd: root@notty" where sshd can set its title, and the
    re-executed "sshd -D -R" under qemu-user (the lab), where it cannot ([s]: the pattern must not
    match the shell that carries it)."""
    return lab.on_board(board, "end=$(( $(date +%%s) + %d )); while [ $(date +%%s) -lt $end ]; do "
                               "pkill -KILL -f '[s]shd: root|[s]shd -D -R' || true; sleep 0.2; done" % seconds)


def test_ssh_dropped_mid_run_fails_that_board_and_the_next_run_converges_it(restored_lab):  # pylint: disable=redefined-outer-name
    # A role before the cut and one after it have work: the drop-in drifted, the monitor stopped.
    lab.on_board(FIRST, lab.SYSCTL_DRIFT + " && systemctl stop rock5b-oom-monitor.service")
    command = lab.playbook_command("site.yml", "--limit", FIRST)
    returncode, output, acted = run_until(command, "TASK [rock5b.oom.cgroup_limits", 1, lambda: drop_ssh(FIRST))
    assert acted, output[-3000:]
    assert returncode != 0, "the run did not notice the dropped connection:\n" + output[-3000:]
    rerun = lab.playbook("site.yml", "--limit", FIRST)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert not lab.on_board(FIRST, lab.SYSCTL_DRIFTED, check=False)
    assert lab.on_board(FIRST, "systemctl is-active --quiet rock5b-oom-monitor.service", check=False)
    again = lab.playbook("site.yml", "--limit", FIRST)
    assert again.returncode == 0 and lab.recap(again.stdout)[FIRST]["changed"] == 0, again.stdout[-3000:]
    restored_lab["converged"] = True
