"""The PSI and facts modules and the audit playbook on the converged boards, run
through ansible against molecule's own inventory, as a fleet runs them.

The containers share the host's kernel: /proc/pressure is the host's. What the module must
say is decided by reading the file in the container first (the ground truth), so the test
asserts the structured numbers where the host has PSI and the exact unavailability state
where it does not; neither case is skipped.
"""

import json
import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
GROUP = "rock5b"


def inventory():
    path = os.environ.get("MOLECULE_INVENTORY_FILE", "")
    if not os.path.isfile(path):
        pytest.fail("no molecule inventory (MOLECULE_INVENTORY_FILE): run through `molecule verify`")
    # the directory: molecule writes the scenario's group_vars beside the inventory file
    return os.path.dirname(path)


def ansible(*argv, timeout=900):
    """Run ansible or ansible-playbook with the json callback: (exit status, parsed output)."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_NOCOLOR="1")
    done = subprocess.run(check=False, args=[*argv, "-i", inventory()], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    # The JSON document starts at the first line that is "{". molecule's ansible.cfg enables
    # the ansible.posix.timer callback, which prints "Playbook run took ..." beside it.
    start = re.search(r"^\{$", done.stdout, re.M)
    try:
        return done.returncode, json.JSONDecoder().raw_decode(done.stdout[start.start():])[0]
    except (AttributeError, ValueError):
        pytest.fail("%s gave no JSON (rc %d):\n%s\n%s" % (argv[:2], done.returncode, done.stdout[-2000:], done.stderr[-2000:]))


_MODULE_RUNS = {}


def module(host, name, args):
    """One module on one board, as root (become, as the playbooks run it); its result dict."""
    board = host.backend.get_hostname()
    key = (board, name, json.dumps(args, sort_keys=True))
    if key not in _MODULE_RUNS:
        _rc, data = ansible("ansible", board, "--become", "-m", name, "-a", json.dumps(args))
        _MODULE_RUNS[key] = data["plays"][0]["tasks"][0]["hosts"][board]
    return _MODULE_RUNS[key]


def psi_file(host):
    """The container's /proc/pressure/memory as the kernel gives it: (rc, stdout, stderr)."""
    run = host.run("cat /proc/pressure/memory")
    return run.rc, run.stdout, run.stderr


def check_kind(values, total_at_least):
    assert set(values) == {"avg10", "avg60", "avg300", "total"}, values
    for window in ("avg10", "avg60", "avg300"):
        assert isinstance(values[window], float) and 0.0 <= values[window] <= 100.0, values
    assert isinstance(values["total"], int) and values["total"] >= total_at_least, values


def test_memory_pressure_matches_the_kernel(host):
    rc, text, err = psi_file(host)
    result = module(host, "rock5b.oom.memory_pressure", {"name": host.backend.get_hostname(), "sample_seconds": 1,
                                                          "unavailable": "report"})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False and result["board"] == host.backend.get_hostname(), result
    if rc == 0:
        # PSI on: some/full x avg10/avg60/avg300/total, as the file has them
        truth = {line.split()[0]: int(line.rsplit("total=", 1)[1]) for line in text.splitlines()}
        assert result["available"] is True and result["state"] == "enabled", result
        assert result["source"] == "/proc/pressure" and result["reason"] == "", result
        memory = result["pressure"]["memory"]
        for kind in ("some", "full"):
            if kind in truth:
                check_kind(memory[kind], truth[kind])  # totals only grow
            else:
                assert memory[kind] is None, memory
        assert 0.9 <= result["sample_seconds"] <= 10, result["sample_seconds"]
        for kind, stall in result["sampled"]["memory"].items():
            assert (stall is None) == (kind not in truth) and (stall is None or 0.0 <= stall <= 100.0), result["sampled"]
        assert result["violations"] == [], result
    else:
        # PSI off in the host kernel: the documented state, the reason and how to enable it
        cmdline = host.file("/proc/cmdline").content_string.split()
        assert result["available"] is False and result["pressure"] == {}, result
        if "psi=0" in cmdline or "not supported" in err:
            assert result["state"] == "disabled", result
        else:
            assert result["state"] in ("not_compiled", "disabled", "unknown"), result
        assert result["reason"] and result["hint"], result
        assert any("PSI cannot be read" in w for w in result.get("warnings", [])), result


def test_memory_pressure_gate_passes_or_fails_as_documented(host):
    # a limit nothing can exceed: passes with PSI, fails (a gate that cannot measure) without
    rc, _text, _err = psi_file(host)
    result = module(host, "rock5b.oom.memory_pressure", {"name": host.backend.get_hostname(), "max_full_avg10": 100})
    assert result["limits"] == {"memory": {"full_avg10": 100.0}}, result
    if rc == 0:
        assert not result.get("failed") and result["violations"] == [], result
    else:
        assert result.get("failed") and "PSI cannot be read" in result["msg"], result


def test_oom_facts_structure(host):
    oom_kill_before = int(re.search(r"^oom_kill (\d+)$", host.file("/proc/vmstat").content_string, re.M).group(1))
    rc, _text, _err = psi_file(host)
    result = module(host, "rock5b.oom.oom_facts", {"top_n": 5, "since": "boot"})
    assert not result.get("failed"), result.get("msg")
    facts = result["ansible_facts"]["rock5b_oom"]
    memory = facts["memory"]
    assert memory["mem_total_kb"] > 0, memory
    assert 0 < memory["mem_available_kb"] <= memory["mem_total_kb"], memory
    assert memory["commit_limit_kb"] > 0 and memory["committed_as_kb"] > 0, memory
    assert 0 < memory["mem_available_percent"] <= 100, memory
    assert isinstance(facts["swap"], list) and isinstance(facts["zram"], list)
    fstype = host.run("stat -fc %T /sys/fs/cgroup").stdout.strip()
    # cgroup2fs: the unified hierarchy; tmpfs: v1 controllers (plus a cgroup2 tree when hybrid)
    expected_versions = ("v2",) if fstype == "cgroup2fs" else ("v1", "hybrid")
    assert fstype in ("cgroup2fs", "tmpfs") and facts["cgroup"]["version"] in expected_versions, (fstype, facts["cgroup"])
    assert facts["psi"]["available"] is (rc == 0), facts["psi"]
    assert (facts["psi"]["memory"] is not None) is (rc == 0), facts["psi"]
    assert facts["vmstat"]["oom_kill"] >= oom_kill_before, facts["vmstat"]
    assert facts["kernel"]["release"] == host.run("uname -r").stdout.strip()
    assert isinstance(facts["oom_events"], list)

    top = facts["top_processes"]
    assert 1 <= len(top) <= 5, top
    scores = [p["oom_score"] for p in top]
    assert scores == sorted(scores, reverse=True), top
    # the scenario's expendable workload runs at +500 (protect_daemons_extra): the kernel's first pick
    expendable = host.run("systemctl show -p MainPID --value rock5b-expendable.service").stdout.strip()
    first = top[0]
    assert first["pid"] == int(expendable), top
    assert (first["comm"], first["oom_score_adj"], first["unit"]) == ("sleep", 500, "rock5b-expendable.service"), first
    assert first["oom_score"] == int(host.file("/proc/%s/oom_score" % expendable).content_string), first


def test_audit_reports_no_drift_after_converge():
    """playbooks/audit.yml against the converged boards: exit 0, nothing drifted, memory shown."""
    rc, data = ansible("ansible-playbook", os.path.join(REPO, "playbooks", "audit.yml"))
    boards = sorted(data["stats"])
    assert boards, data
    shown = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == "Show the board's drift and memory state":
                shown = {board: res["msg"] for board, res in task["hosts"].items()}
    failed = {b: s for b, s in data["stats"].items() if s["failures"] or s["unreachable"]}
    assert rc == 0 and not failed, "audit exited %d, failed: %s; it showed: %s" % (rc, failed, shown)
    # check mode: the roles ran and would change nothing
    assert all(s["changed"] == 0 and s["ok"] > 0 for s in data["stats"].values()), data["stats"]
    assert sorted(shown) == boards, shown
    for board, msg in shown.items():
        assert msg["drift"] == [], "%s drifted: %s" % (board, msg["drift"])
        assert float(msg["mem_available_percent"]) > 0, msg
        assert int(msg["oom_kills_since_boot"]) >= 0, msg
