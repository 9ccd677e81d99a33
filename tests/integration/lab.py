"""The lab boards as the integration tests use them: playbooks over SSH, commands inside a
board with podman, waiting for a board's SSH after it (re)starts, and the recap's counts.

Boards lab-board-1..3 on 127.0.0.1:2221-2223 (inventory/lab/hosts.yml), started by
`tools/lab.sh up`.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOARDS = ("lab-board-1", "lab-board-2", "lab-board-3")
SSH_PORTS = {"lab-board-1": 2221, "lab-board-2": 2222, "lab-board-3": 2223}  # inventory/lab/hosts.yml
SYSCTL_FILE = "/etc/sysctl.d/99-oom-rock5b.conf"
# Hand-made drift every converge corrects: a managed key of the sysctl drop-in changed.
SYSCTL_DRIFT = "sed -i 's/^vm.panic_on_oom = 0$/vm.panic_on_oom = 1/' {0} && grep -q '^vm.panic_on_oom = 1$' {0}".format(SYSCTL_FILE)
SYSCTL_DRIFTED = "grep -q '^vm.panic_on_oom = 1$' %s" % SYSCTL_FILE


def playbook_command(name, *extra):
    return ["ansible-playbook", "-i", "inventory/lab", "playbooks/%s" % name, *extra]


def playbook(name, *extra, timeout=1800):
    return subprocess.run(playbook_command(name, *extra), check=False, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def podman(*args, check=True):
    """podman's output; a failure fails the test unless ``check`` is false."""
    done = subprocess.run(["podman", *args], check=False, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, "podman %s failed: %s" % (" ".join(args), done.stderr)
    return done.stdout


def on_board(board, script, check=True):
    """Run ``script`` inside ``board`` (podman exec, not SSH); True when it exited 0."""
    done = subprocess.run(["podman", "exec", board, "sh", "-ec", script], check=False, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert done.returncode == 0, "%s: %s failed: %s" % (board, script, done.stderr)
    return done.returncode == 0


def wait_for_ssh(board, timeout_s=180):
    """As tools/lab.sh's wait_for_ssh: until `ssh root@127.0.0.1 -p <port> true` succeeds."""
    key = os.path.join(os.environ.get("ROCK5B_CACHE", os.path.join(REPO, ".cache")), "ssh", "id_ed25519")
    deadline = time.monotonic() + timeout_s
    while True:
        done = subprocess.run(check=False, capture_output=True, args=[
            "ssh", "-q", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-i", key, "-p", str(SSH_PORTS[board]), "root@127.0.0.1", "true"])
        if done.returncode == 0:
            return
        assert time.monotonic() < deadline, "%s: no SSH %d s after it started" % (board, timeout_s)
        time.sleep(2)


def recap(output):
    """{board: {"ok": n, "changed": n, "unreachable": n, "failed": n, ...}} from the PLAY RECAP."""
    counts = {}
    for match in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", output, re.M):
        counts[match.group(1)] = dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2)))
    return counts
