"""files/prometheus/rock5b-oom.rules.yml: promtool accepts it, its unit tests pass, every alert is
tested both ways, and playbooks/audit.yml's opt-in textfile feeds the audit alerts.

promtool comes with Debian's prometheus package (`make setup`); without it these tests fail, they
do not skip: an alert nobody evaluated is not a tested alert.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = "files/prometheus/rock5b-oom.rules.yml"
RULE_TESTS = ("tests/prometheus/rock5b-oom.rules.test.yml", "tests/prometheus/rock5b-oom.audit-stale.rules.test.yml")
AUDIT = os.path.join(REPO, "playbooks", "audit.yml")
TEXTFILE_TASKS = ("Refuse a rock5b_oom_audit_textfile_dir that is not an absolute directory path",
                  "Write the board's audit textfile for node_exporter (a real write, even in check mode)")


def promtool(*args, stdin=None):
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: `make setup` (tools/setup.sh) installs it with Debian's prometheus package")
    proc = subprocess.run([path, *args], cwd=REPO, input=stdin, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def load(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def alert_rules():
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_checks_the_rules():
    rc, output = promtool("check", "rules", RULES)
    assert rc == 0, output
    assert "SUCCESS: %d rules found" % len(alert_rules()) in output, output


def test_promtool_unit_tests_of_the_rules_pass():
    start = time.monotonic()
    rc, output = promtool("test", "rules", *RULE_TESTS)
    print("promtool test rules: %.2f s" % (time.monotonic() - start))
    assert rc == 0, output
    assert output.count("SUCCESS") == len(RULE_TESTS), output


def test_every_alert_has_a_firing_and_a_silent_test_and_no_test_names_a_missing_alert():
    assert sorted(RULE_TESTS) == sorted("tests/prometheus/" + name for name in os.listdir(os.path.join(REPO, "tests/prometheus"))
                                        if name.endswith(".test.yml")), "a test file promtool is not given"
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), names
    firing, silent = set(), set()
    for path in RULE_TESTS:
        assert load(path)["rule_files"] == ["../../" + RULES], path
        for case in load(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert sorted(set(names) - firing) == [], "alerts without a test that fires them"
    assert sorted(set(names) - silent) == [], "alerts without a test where they stay silent"
    assert sorted((firing | silent) - set(names)) == [], "tests of alerts the rules file does not have"


def test_every_alert_waits_has_a_severity_and_names_its_board_and_value():
    for rule in alert_rules():
        name = rule["alert"]
        assert rule.get("for"), name
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        text = rule["annotations"]["summary"] + rule["annotations"]["description"]
        assert "{{ $value" in text, name
        # absent() has no board to name: its alert names the job it looked for.
        assert ("{{ $labels.instance }}" in text) != ("absent(" in rule["expr"]), name


def test_the_rules_file_ships_in_the_collection():
    galaxy = load("galaxy.yml")
    for pattern in galaxy.get("build_ignore", []):
        assert not RULES.startswith(pattern.rstrip("*").rstrip("/") + "/"), pattern
        assert not pattern.startswith("files"), pattern


def run_textfile_tasks(tmp_path, extra):
    """audit.yml's textfile tasks as they are, on localhost in check mode (--check), after a
    set_fact standing in for the drift findings; (rc, output)."""
    with open(AUDIT, encoding="utf-8") as handle:
        report_play = yaml.safe_load(handle)[1]
    tasks = [task for task in report_play["tasks"] if task.get("name") in TEXTFILE_TASKS]
    assert [task["name"] for task in tasks] == list(TEXTFILE_TASKS), "audit.yml renamed its textfile tasks?"
    fake = [{"name": "fake findings", "ansible.builtin.set_fact": {"audit_findings": ["a", "b", "c"]}}]
    play = [{"hosts": "all", "gather_facts": False, "connection": "local", "become": False, "tasks": fake + tasks}]
    path = tmp_path / "audit_textfile.yml"
    path.write_text(yaml.safe_dump(play))
    cmd = ["ansible-playbook", "--check", "-i", "board1,", "-e", "ansible_python_interpreter=" + sys.executable,
           *extra, str(path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_audit_writes_its_textfile_in_check_mode_when_asked(tmp_path):
    textfile_dir = tmp_path / "node-exporter"
    before = int(time.time())
    rc, output = run_textfile_tasks(tmp_path, ["-e", "rock5b_oom_audit_textfile_dir=%s" % textfile_dir])
    after = time.time()
    assert rc == 0, output
    prom = textfile_dir / "rock5b_oom_audit.prom"
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    assert os.listdir(textfile_dir) == ["rock5b_oom_audit.prom"], "a temporary file left behind"
    samples = dict(line.split() for line in prom.read_text().splitlines() if not line.startswith("#"))
    assert samples["rock5b_oom_audit_drift_items"] == "3"
    assert before <= int(samples["rock5b_oom_audit_last_run_timestamp_seconds"]) <= after
    rc, output = promtool("check", "metrics", stdin=prom.read_text())
    assert rc == 0, output


def test_the_audit_writes_nothing_without_the_variable(tmp_path):
    rc, output = run_textfile_tasks(tmp_path, [])
    assert rc == 0, output
    assert "skipping: [board1]" in output
    assert sorted(os.listdir(tmp_path)) == ["audit_textfile.yml"]


@pytest.mark.parametrize("value", ["relative/dir", "/var/lib/../../etc"])
def test_a_bad_textfile_dir_is_refused_by_name_before_anything_is_written(tmp_path, value):
    rc, output = run_textfile_tasks(tmp_path, ["-e", "rock5b_oom_audit_textfile_dir=%s" % value])
    assert rc != 0, output
    assert "rock5b_oom_audit_textfile_dir must be an absolute directory path" in output, output
    assert "TASK [Write the board's audit textfile" not in output, output


def test_without_promtool_the_tests_fail_saying_make_setup_installs_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="`make setup`.*installs it"):
        promtool("--version")
