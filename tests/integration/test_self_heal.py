"""rock5b.oom.self_heal end to end, on a board of its own (self-contained: starts it, removes it).

Installs the pull timer with playbooks/self_heal.yml (pull source: a bundle of a clone of this
repo's current branch with one SSH-signed commit on top, unpacked into a bare repo on the board -
no server; the board trusts the signing key, self_heal_signing_keys), then drifts the sysctl
drop-in, starts rock5b-oom-pull.service and checks the journal and the file show the drift
corrected, that a second install reports changed=0, and that an unsigned commit is not run.

    source tools/env.sh && python -m pytest tests/integration/test_self_heal.py -v -s

Board: arm64 lab image (qemu-user, ~12 min on a loaded 2-core host: apt and pip under
emulation) or SELF_HEAL_TEST_ARCH=amd64 (bench/build_amd64_image.sh, ~2-3 min).
Only committed content is pulled (the bundle is of the branch, not the working tree).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARCH = os.environ.get("SELF_HEAL_TEST_ARCH", "arm64")
IMAGE = {"arm64": "localhost/rock5b-board:latest", "amd64": "localhost/rock5b-board-amd64:latest"}[ARCH]
NAME, PORT = "bench-heal-test", 2391
LABEL = "rock5b-oom-bench-heal=1"
KEY = Path(os.environ.get("ROCK5B_CACHE", "/var/cache/rock5b-oom")) / "ssh" / "id_ed25519"
DROPIN = "/etc/sysctl.d/99-oom-rock5b.conf"

pytestmark = pytest.mark.skipif(
    subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0,
    reason="no board image %s (make image / bench/build_amd64_image.sh)" % IMAGE)


def ssh(cmd, check=True):
    p = subprocess.run(["ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-i", str(KEY), "-p", str(PORT),
                        "root@127.0.0.1", cmd], capture_output=True, text=True, check=False)
    if check:
        assert p.returncode == 0, "%s\n%s%s" % (cmd, p.stdout, p.stderr)
    return p


def git(repo, *args, sign_with=None):
    config = ["-c", "user.name=rock5b.oom self-heal test", "-c", "user.email=self-heal-test@rock5b.invalid",
              "-c", "commit.gpgSign=false"]
    if sign_with:
        config += ["-c", "gpg.format=ssh", "-c", "user.signingKey=%s" % sign_with]
    subprocess.run(["git", "-C", str(repo)] + config + list(args), check=True, capture_output=True)


@pytest.fixture(scope="module")
def signed_source(tmp_path_factory):
    """(clone of this repo's branch with a signed commit on top, the signing public key, the branch)."""
    keys = tmp_path_factory.mktemp("signing")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "self-heal-test", "-f", str(keys / "id")],
                   check=True, capture_output=True)
    branch = subprocess.run(["git", "-C", str(ROOT), "branch", "--show-current"],
                            capture_output=True, text=True, check=True).stdout.strip()
    repo = tmp_path_factory.mktemp("source") / "rock5b-oom"
    subprocess.run(["git", "clone", "--quiet", "--branch", branch, str(ROOT), str(repo)], check=True, capture_output=True)
    git(repo, "commit", "--quiet", "--allow-empty", "-S", "-m", "Signed by the self-heal test", sign_with=keys / "id")
    return repo, (keys / "id.pub").read_text().strip(), branch


@pytest.fixture(scope="module")
def board(tmp_path_factory, signed_source):
    subprocess.run(["podman", "rm", "-f", NAME], capture_output=True, check=False)
    subprocess.run(["podman", "run", "-d", "--name", NAME, "--hostname", NAME, "--label", LABEL,
                    "--systemd=always", "--stop-signal=39", "--stop-timeout=20",
                    "-p", "127.0.0.1:%d:22" % PORT, IMAGE, "/sbin/init"],
                   check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 180
        while ssh("true", check=False).returncode:
            assert time.monotonic() < deadline, "no SSH on the test board after 180 s"
            time.sleep(2)
        inv = tmp_path_factory.mktemp("inventory")
        gv = inv / "group_vars" / "rock5b"
        gv.mkdir(parents=True)
        (gv / "lab.yml").symlink_to(ROOT / "inventory/lab/group_vars/rock5b.yml")
        repo, public_key, branch = signed_source
        (gv / "self_heal.yml").write_text(
            "---\n"
            "sysctl_profile_overcommit_check: false\n"
            "self_heal_bundle_source: %s\n"
            "self_heal_branch: %s\n"
            "self_heal_signing_keys:\n"
            "  - %s\n"
            "self_heal_inventory_vars:\n"
            "  protect_daemons_on_denied: warn\n"
            "  sysctl_profile_overcommit_check: false\n" % (repo, branch, public_key))
        (inv / "hosts.yml").write_text(
            "---\nrock5b:\n  hosts:\n    %s:\n      ansible_port: %d\n" % (NAME, PORT))
        yield inv
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "5", NAME], capture_output=True, check=False)


def install(inv, *extra):
    p = subprocess.run(["ansible-playbook", "-i", str(inv), "playbooks/self_heal.yml", *extra],
                       cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    return p.stdout


def test_install_runs_the_first_pull(board):
    t0 = time.monotonic()
    install(board, "-e", "self_heal_run_now=true")
    print("install + first pull: %.0f s" % (time.monotonic() - t0))
    assert ssh("systemctl is-enabled rock5b-oom-pull.timer").stdout.strip() == "enabled"
    assert ssh("systemctl is-active rock5b-oom-pull.timer").stdout.strip() == "active"
    timer = ssh("systemctl cat rock5b-oom-pull.timer").stdout
    assert re.search(r"^RandomizedDelaySec=\S+", timer, re.M)
    assert re.search(r"^OnUnitActiveSec=\S+", timer, re.M)
    version = ssh("/opt/rock5b-oom-pull/venv/bin/ansible --version").stdout
    assert "core 2.19.14" in version
    service = ssh("systemctl cat rock5b-oom-pull.service").stdout
    assert '"verify_commit": true' in service
    assert "self-heal-test" not in ssh("cat /var/lib/rock5b-oom-pull/allowed_signers").stdout  # comment dropped
    assert "ssh-ed25519 " in ssh("cat /var/lib/rock5b-oom-pull/allowed_signers").stdout
    # The first pull converged the board.
    assert "vm.overcommit_ratio = 80" in ssh("cat %s" % DROPIN).stdout


def test_pull_corrects_drift(board):
    ssh("sed -i 's/^vm.overcommit_ratio = 80$/vm.overcommit_ratio = 50/' %s" % DROPIN)
    assert "vm.overcommit_ratio = 50" in ssh("cat %s" % DROPIN).stdout
    since = ssh("date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    t0 = time.monotonic()
    ssh("systemctl start rock5b-oom-pull.service")
    print("pull run: %.0f s" % (time.monotonic() - t0))
    journal = ssh("journalctl -u rock5b-oom-pull.service --no-pager --since '%s'" % since).stdout
    print(journal[-3000:])
    # The playbook's own lines, in order; each message a line of its own. The container's
    # read-only /proc/sys always makes sysctl_profile warn beside its "changed" line: relayed
    # through ansible-pull, the two came out interleaved, 10 bytes of each at a time.
    playbook = re.findall(r"^.* ansible-playbook\[\d+\]: (.*)$", journal, re.M)
    task = next(i for i, line in enumerate(playbook)
                if line.startswith("TASK [rock5b.oom.sysctl_profile : Persist and apply"))
    results = [line for line in playbook[task + 1:] if not line.startswith("[WARNING]: ")]
    assert results[0] == "changed: [localhost]", playbook[task:task + 4]
    assert any(line.startswith("[WARNING]: /proc/sys is read-only here") for line in playbook[task:])
    for line in playbook:
        assert re.match(r"(\[WARNING\]: |changed: |ok: |skipping: |TASK |PLAY |localhost |$)", line), line
    assert re.search(r"localhost\s+: ok=\d+\s+changed=1\s+unreachable=0\s+failed=0", journal)
    assert "vm.overcommit_ratio = 80" in ssh("cat %s" % DROPIN).stdout


def test_second_install_changes_nothing(board):
    out = install(board)
    assert re.search(r"%s\s+: ok=\d+\s+changed=0\s" % NAME, out), out[-3000:]


def test_an_unsigned_commit_is_not_run(board, signed_source):
    """A commit not signed by a trusted key fails the git step: the playbook does not run."""
    git(signed_source[0], "commit", "--quiet", "--allow-empty", "-m", "Not signed")
    install(board)  # the bundle of the new commit reaches the board's bare repo
    ssh("sed -i 's/^vm.overcommit_ratio = 80$/vm.overcommit_ratio = 50/' %s" % DROPIN)
    since = ssh("date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    assert ssh("systemctl start rock5b-oom-pull.service", check=False).returncode != 0
    journal = ssh("journalctl -u rock5b-oom-pull.service --no-pager --since '%s'" % since).stdout
    print(journal[-3000:])
    assert "Failed to verify GPG signature" in journal
    assert not re.search(r"ansible-playbook\[\d+\]", journal)
    assert "vm.overcommit_ratio = 50" in ssh("cat %s" % DROPIN).stdout
