"""The bad-input corpus (tests/integration/bad_input_corpus.yml) against a converged lab board.

Each case is one typo an operator could make. It runs as its own inventory host (an alias of
lab-board-3 over SSH, so the cases of one ansible-playbook run share the board and its
connection): role cases through playbooks/site.yml with the lab's group_vars plus the case's
variables, self_heal cases through playbooks/self_heal.yml (the same group_vars plus a valid
https pull source, SELF_HEAL_SOURCE), module cases by running the module alone. Every case must fail its host, with a
message naming the variable or option, and the board must be exactly as before: every managed
file byte for byte (and its mode and owner), the units' states and properties, the processes'
oom_score_adj and the cgroups. Running all cases at once on one board is the stricter test: a
case that changed something would show in the one snapshot taken after all of them.

Needs the lab (`tools/lab.sh up`, which `make integration` runs first). Prints the tally.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import time

import pytest
import yaml
from corpus import load_corpus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOARD, PORT = "lab-board-3", 2223
# A boot file for kernel_cmdline's cases: Debian's u-boot-menu format, as on many boards.
U_BOOT_DEFAULT = 'U_BOOT_PARAMETERS="root=/dev/mmcblk0p2 rootwait quiet"\nU_BOOT_TIMEOUT="20"\n'
# A link to a 0700 directory, for the symlink cases (a pidfile, a file_set directory through it).
LINK_FIXTURE = "mkdir -p -m 0700 /tmp/corpus-real && ln -sfn /tmp/corpus-real /tmp/corpus-linkdir"
# The self_heal cases' pull source: valid, so each case's own typo is what fails.
SELF_HEAL_SOURCE = {"self_heal_repo_url": "https://git.example.org/infra/rock5b-oom.git"}

# What "the board as it was" means, read inside the board (podman exec, not SSH, so the
# snapshot's own processes never show in it).
SNAPSHOT = r"""
paths="/etc/sysctl.d /etc/systemd/system /etc/systemd/zram-generator.conf /etc/systemd/zram-generator.conf.d"
paths="$paths /etc/systemd/oomd.conf.d /etc/tmpfiles.d /etc/rock5b-oom /usr/local/lib/rock5b-oom /usr/local/sbin /etc/default/u-boot /boot /tmp"
find $paths \( -type f -o -type l -o -type d \) 2>/dev/null | sort | while read -r f; do
    if [ -L "$f" ]; then echo "link $f -> $(readlink "$f")";
    elif [ -f "$f" ]; then echo "file $f $(stat -c '%a %U:%G' "$f") $(sha256sum < "$f" | cut -c1-16)";
    else echo "dir $f $(stat -c '%a %U:%G' "$f")"; fi
done
props=ActiveState,SubState,MainPID,NRestarts,MemoryMax,MemoryHigh,MemorySwapMax,OOMScoreAdjust,ManagedOOMPreference
for u in rock5b-oom-monitor.service earlyoom.service systemd-oomd.service demo-app.service ssh.service rock5b-untrusted.slice; do
    echo "unit $u $(systemctl show -p "$props" --value -- "$u" | tr '\n' ' ')"
done
for p in /proc/[0-9]*; do
    cg=$(cat "$p/cgroup" 2>/dev/null | grep -E 'system.slice|rock5b|init.scope' | head -1)
    [ -n "$cg" ] || [ "${p#/proc/}" = 1 ] || continue
    # SSH sessions (ansible's connections, kept open by ControlPersist) come and go: only sshd itself counts.
    case "$(cat "$p/comm" 2>/dev/null)" in sshd*) [ "$(cut -d' ' -f4 "$p/stat")" = 1 ] || continue;; esac
    echo "proc ${p#/proc/} $(cat "$p/comm" 2>/dev/null) $(cat "$p/oom_score_adj" 2>/dev/null)"
done | sort -n -k2
find /sys/fs/cgroup -maxdepth 4 -type d -name 'corpus*' 2>/dev/null | sed 's/^/cgroup /'
sysctl -a 2>/dev/null | grep '^vm\.' | grep -v -E 'nr_|stat' | sed 's/^/sysctl /'
cat /proc/swaps | sed 's/^/swap /'
for f in /sys/kernel/mm/lru_gen/enabled /sys/kernel/mm/lru_gen/min_ttl_ms; do [ -r "$f" ] && echo "lru_gen $f $(cat "$f")"; done
dpkg-query -W -f='pkg ${Package} ${Status}\n' earlyoom systemd-oomd systemd-zram-generator 2>/dev/null; true
"""


def on_board(script):
    done = subprocess.run(["podman", "exec", BOARD, "sh", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, "%s: %s" % (BOARD, done.stderr)
    return done.stdout


def inventory(tmp_path, cases, group_vars):
    """An inventory of one host per case, each an alias of the board."""
    hosts = {}
    for case in cases:
        host = {"ansible_host": "127.0.0.1", "ansible_port": PORT}
        host.update(case.get("vars") or {})
        if "module" in case:
            host.update({"corpus_module": case["module"], "corpus_args": case["args"]})
        hosts[case["id"]] = host
    path = tmp_path / "inventory"
    (path / "group_vars").mkdir(parents=True)
    (path / "hosts.yml").write_text(yaml.safe_dump({"rock5b": {"hosts": hosts}}, allow_unicode=True))
    (path / "group_vars" / "rock5b.yml").write_text(yaml.safe_dump(group_vars, allow_unicode=True))
    return str(path)


def failures(output):
    """{host: result} of every `fatal: [host]: FAILED! => {...}` in ansible-playbook's output."""
    found, decoder = {}, json.JSONDecoder()
    for match in re.finditer(r"^fatal: \[([^\]]+)\]: FAILED! => ", output, re.M):
        result, _end = decoder.raw_decode(output, match.end())
        found.setdefault(match.group(1), result)
    return found


def run(playbook, inventory_path):
    started = time.monotonic()
    try:
        return _run(playbook, inventory_path)
    finally:
        print("\ncorpus run %s: %.0f s" % (os.path.basename(playbook), time.monotonic() - started))


def _run(playbook, inventory_path):
    env = dict(os.environ, ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_FORKS="8", ANSIBLE_DISPLAY_OK_HOSTS="false",
               ANSIBLE_DISPLAY_SKIPPED_HOSTS="false")
    return subprocess.run(["ansible-playbook", "-i", inventory_path, playbook], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3000, check=False)


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    corpus = load_corpus()
    with open(os.path.join(REPO, "inventory", "lab", "group_vars", "rock5b.yml"), encoding="utf-8") as handle:
        group_vars = yaml.safe_load(handle)
    on_board("[ -e /etc/default/u-boot ] || printf '%s' '" + U_BOOT_DEFAULT + "' > /etc/default/u-boot")
    on_board(LINK_FIXTURE)
    before = on_board(SNAPSHOT)
    tmp = tmp_path_factory.mktemp("corpus")
    roles = run(os.path.join(REPO, "playbooks", "site.yml"), inventory(tmp / "roles", corpus["role_cases"], group_vars))
    modules = run(os.path.join(REPO, "tests", "integration", "bad_input_modules.yml"),
                  inventory(tmp / "modules", corpus["module_cases"], group_vars))
    self_heal = run(os.path.join(REPO, "playbooks", "self_heal.yml"),
                    inventory(tmp / "self_heal", corpus["self_heal_cases"], dict(group_vars, **SELF_HEAL_SOURCE)))
    after = on_board(SNAPSHOT)
    failed = failures(roles.stdout)
    failed.update(failures(modules.stdout))
    failed.update(failures(self_heal.stdout))
    yield {"corpus": corpus, "before": before, "after": after, "failed": failed,
           "output": roles.stdout[-4000:] + modules.stdout[-4000:] + self_heal.stdout[-4000:]}
    on_board("rm -f /etc/default/u-boot /etc/default/u-boot.* /tmp/corpus-linkdir; rmdir /tmp/corpus-real")


def message(result):
    parts = [str(result.get("msg", ""))]
    for key in ("argument_errors", "errors", "results"):
        if key in result:
            parts.append(json.dumps(result[key], ensure_ascii=False))
    return "\n".join(parts)


def test_every_case_fails_naming_the_variable_and_the_tally_is_printed(corpus_run):
    corpus = corpus_run["corpus"]
    cases = corpus["role_cases"] + corpus["module_cases"] + corpus["self_heal_cases"]
    assert len(cases) >= 60
    tally, wrong = collections.Counter(), []
    for case in cases:
        result = corpus_run["failed"].get(case["id"])
        if result is None:
            wrong.append("%s: the run did not fail" % case["id"])
            tally["passed through"] += 1
        elif not any(name in message(result) for name in case["names"]):
            wrong.append("%s: the message names none of %s: %s" % (case["id"], case["names"], message(result)[:400]))
            tally["unnamed"] += 1
        else:
            tally["refused, named"] += 1
    by_class = collections.Counter(case["class"] for case in cases)
    print("\nbad-input corpus: %d cases (role %d, module %d, self_heal %d; %s): %s" % (
        len(cases), len(corpus["role_cases"]), len(corpus["module_cases"]), len(corpus["self_heal_cases"]),
        ", ".join("%s %d" % item for item in sorted(by_class.items())),
        ", ".join("%s %d" % item for item in sorted(tally.items()))))
    assert not wrong, "\n".join(wrong) + "\n" + corpus_run["output"]


def test_the_board_is_unchanged(corpus_run):
    before, after = corpus_run["before"].splitlines(), corpus_run["after"].splitlines()
    removed = sorted(set(before) - set(after))
    added = sorted(set(after) - set(before))
    print("\nboard snapshot: %d lines compared, %d differ" % (len(before), len(removed) + len(added)))
    assert not removed and not added, "before:\n%s\nafter:\n%s" % ("\n".join(removed), "\n".join(added))
