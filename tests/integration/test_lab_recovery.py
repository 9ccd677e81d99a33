"""tools/lab.sh up brings back a board whose processes died while podman's record still says
"running" (what a machine finds after the session that started the lab ended: CI on
2026-12-05 failed with "lab-board-1: no SSH after 180 s" because lab.sh trusted that record).

Needs the lab (`tools/lab.sh up`). Kills lab-board-3's conmon and init with SIGKILL, so podman
never learns they exited, then runs `tools/lab.sh up` and expects the board restarted,
reachable over SSH and converged (lab.sh itself fails on a second pass that changes anything
or on audit drift).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import REPO, podman, wait_for_ssh  # noqa: E402  pylint: disable=wrong-import-position

BOARD = "lab-board-3"


def kill_behind_podmans_back(board):
    pids = podman("container", "inspect", "-f", "{{.State.Pid}} {{.State.ConmonPid}}", board).split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone: the state this test wants
    # The state the CI machine was in: the record says running, nothing runs.
    assert podman("container", "inspect", "-f", "{{.State.Running}}", board).strip() == "true"
    dead = subprocess.run(["podman", "exec", board, "true"], capture_output=True, check=False, timeout=60)
    assert dead.returncode != 0


def test_lab_up_restarts_a_board_podman_wrongly_thinks_is_running():
    kill_behind_podmans_back(BOARD)
    up = subprocess.run(["bash", "tools/lab.sh", "up"], cwd=REPO, capture_output=True, text=True,
                        check=False, timeout=1800)
    assert up.returncode == 0, up.stderr[-3000:] + up.stdout[-3000:]
    assert "started %s" % BOARD in up.stderr
    # The boards that were really up are kept as they are, not restarted.
    assert "started lab-board-1" not in up.stderr and "started lab-board-2" not in up.stderr
    wait_for_ssh(BOARD, timeout_s=10)
