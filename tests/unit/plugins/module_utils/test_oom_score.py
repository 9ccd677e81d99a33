"""oom_score: targets, selection with reasons, drop-in plans, overrides and inherited scores."""

from __future__ import annotations

import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import oom_score, selection, systemd
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS

DEFAULTS = {"pid": None, "comm": None, "pattern": None, "unit": None, "pidfile": None, "value": None,
            "scope": "matched", "persist": None, "on_no_match": "fail", "on_denied": "fail", "state": "present",
            "targets": None, "dropin_name": "50-oom-score-adj.conf"}


def params(**given):
    return dict(DEFAULTS, **given)


def process(pid, ppid, comm, unit=None, score=0):
    return {"pid": pid, "ppid": ppid, "comm": comm, "unit": unit, "cmdline": comm, "state": "S",
            "starttime": pid * 10, "kernel_thread": False, "oom_score_adj": score}


@pytest.fixture
def fs(tmp_path):
    return HostFS(root=str(tmp_path))


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setattr(selection, "SELF_PID", 4000)
    rows = [process(1, 0, "systemd", "init.scope"), process(412, 1, "sshd", "ssh.service", -1000),
            process(900, 412, "sshd", "session-3.scope", -1000), process(4000, 900, "python3", "session-3.scope", -1000),
            process(700, 1, "mosquitto", "mosquitto.service")]
    return dict((row["pid"], row) for row in rows)


# --- targets --------------------------------------------------------------------------------------

def test_a_single_target_takes_the_top_level_options():
    [target] = oom_score.normalize_targets(params(unit="ssh", value=-5, persist=True))
    assert target["label"] == "the target" and target["unit"] == "ssh.service" and target["persist"] is True
    assert target["state"] == "present" and target["scope"] == "matched"


def test_targets_get_defaults_labels_and_a_top_level_query_wins():
    targets = oom_score.normalize_targets(params(state="query", persist=True, scope="main", targets=[
        dict(DEFAULTS, name="web", comm="nginx", state="present", scope=None, on_no_match=None),
        dict(DEFAULTS, comm="cron", state="present", scope="tree", persist=None, on_no_match=None)]))
    assert [t["label"] for t in targets] == ["web", "targets[1]"]
    assert [t["state"] for t in targets] == ["query", "query"]
    assert [t["scope"] for t in targets] == ["main", "tree"]
    assert [t["persist"] for t in targets] == [None, None]  # no unit: nothing to persist


def test_every_problem_of_every_target_in_one_error():
    with pytest.raises(ModuleError) as caught:
        oom_score.normalize_targets(params(dropin_name="x.conf\n", targets=[
            dict(DEFAULTS, name="a", value=1, state="present"),
            dict(DEFAULTS, name="b", comm="cron", value=2000, persist=True, state="present"),
            dict(DEFAULTS, name="c", comm="cron", state="absent")]))
    assert caught.value.msg == (
        "invalid arguments, nothing was changed: a: no selector: give at least one of pid, comm, pattern, unit, "
        "pidfile; b: value 2000 is out of range: oom_score_adj goes from -1000 to 1000; b: persist needs a unit: "
        "the drop-in is per systemd unit; c: state=absent removes a unit's drop-in, so it needs unit; "
        "dropin_name must be a file name ending in .conf, got 'x.conf\\n'")


@pytest.mark.parametrize("value, problem", [
    (-1000, None), (1000, None), (0, None),
    (True, "value must be a whole number from -1000 to 1000, got True"),
    (False, "value must be a whole number from -1000 to 1000, got False"),
    ("-5", "value must be a whole number from -1000 to 1000, got '-5'"),
    (1001, "value 1001 is out of range: oom_score_adj goes from -1000 to 1000"),
    (-1001, "value -1001 is out of range: oom_score_adj goes from -1000 to 1000"),
])
def test_score_problem(value, problem):
    assert oom_score.score_problem(value) == problem
    assert oom_score.OOM_SCORE_ADJ_RANGE == (-1000, 1000)


def test_a_boolean_score_is_refused_naming_the_option():
    # YAML's `score: true` reaches the module as True, which Ansible's int type lets through as 1.
    for given in (dict(comm="cron", value=True), dict(targets=[dict(DEFAULTS, name="t", comm="cron", value=True)])):
        with pytest.raises(ModuleError) as caught:
            oom_score.normalize_targets(params(**given))
        assert "value (score) must be a whole number from -1000 to 1000, got True" in caught.value.msg


@pytest.mark.parametrize("pattern", [".*", "^", "", "."])
def test_a_negative_score_for_a_universal_pattern_is_refused_before_reading(pattern):
    entry = dict(DEFAULTS, name="all", pattern=pattern, value=-1000, state="present", scope=None, on_no_match=None)
    with pytest.raises(ModuleError) as caught:
        oom_score.normalize_targets(params(targets=[entry]))
    assert caught.value.msg.startswith("invalid arguments, nothing was changed: all: refusing the protective value "
                                       "-1000 for pattern %r, which matches every process" % pattern)
    assert "allow_broad: true" in caught.value.msg and "protect_daemons_max_matches" in caught.value.msg
    # A positive score is no danger; allow_broad (on the target or for all) lifts the guard.
    assert oom_score.normalize_targets(params(targets=[dict(entry, value=500)]))
    assert oom_score.normalize_targets(params(targets=[dict(entry, allow_broad=True)]))[0]["allow_broad"] is True
    assert oom_score.normalize_targets(params(allow_broad=True, targets=[entry]))[0]["allow_broad"] is True


@pytest.mark.parametrize("value", [0, -1, True, None])
def test_max_protected_must_be_a_positive_number(value):
    with pytest.raises(ModuleError, match="max_protected must be"):
        oom_score.normalize_targets(params(comm="cron", value=1, max_protected=value))


# --- selection ------------------------------------------------------------------------------------

def test_select_targets_guards_and_says_why(fs, table):
    targets = oom_score.normalize_targets(params(targets=[
        dict(DEFAULTS, name="all", pattern="^", state="query", scope=None, on_no_match=None),
        dict(DEFAULTS, name="self", pid=4000, state="query", scope=None, on_no_match=None)]))
    no_match, conflicts = oom_score.select_targets(fs, table, {}, targets)
    assert targets[0]["pids"] == [412, 700] and conflicts == []
    assert no_match == [(targets[1], "pid=4000 matches only pid 4000 (python3): " + selection.GUARD_NOTE)]


def test_conflicting_values_for_one_process_are_named(fs, table):
    targets = oom_score.normalize_targets(params(targets=[
        dict(DEFAULTS, name="a", comm="sshd", value=-500, state="present", scope=None, on_no_match=None),
        dict(DEFAULTS, name="b", pid=412, value=-1000, state="present", scope=None, on_no_match=None)]))
    _no_match, conflicts = oom_score.select_targets(fs, table, {}, targets)
    assert conflicts == ["pid 412 (sshd) is selected by a (value -500) and b (value -1000)"]


def test_no_match_fails_or_warns():
    target = {"label": "web", "on_no_match": "warn"}
    assert oom_score.no_match_warnings([(target, "why")]) == ["web: why"]
    with pytest.raises(ModuleError, match="no process matched, nothing was changed: web: why. Set on_no_match"):
        oom_score.no_match_warnings([(dict(target, on_no_match="fail"), "why")])


def test_broad_problems_name_the_target_and_the_way_out(fs, table):
    table[910] = process(910, 412, "sshd", "session-4.scope")
    targets = oom_score.normalize_targets(params(targets=[
        dict(DEFAULTS, name="sshd", comm="sshd", value=-1000, state="present", scope=None, on_no_match=None),
        dict(DEFAULTS, name="broker", unit="mosquitto", value=-900, state="present", scope=None, on_no_match=None),
        dict(DEFAULTS, name="kiosk", comm="sshd", value=800, state="present", scope=None, on_no_match=None)]))
    oom_score.select_targets(fs, table, {}, targets)
    assert oom_score.broad_problems(table, targets) == [
        "sshd: refusing the protective value -1000: it matches pid 910 (sshd) of the user session session-4.scope; "
        + oom_score.BROAD_HINT]
    assert oom_score.broad_problems(table, targets[1:], limit=1) == []
    assert "it matches 2 processes, more than 1" in oom_score.broad_problems(table, [dict(targets[0], pids=[412, 700])], 1)[0]
    targets[0]["allow_broad"] = True
    assert oom_score.broad_problems(table, targets) == []


# --- drop-ins -------------------------------------------------------------------------------------

def plan(fs, **given):
    targets = oom_score.normalize_targets(params(**given))
    units = {targets[0]["unit"]: systemd.resolve_unit(fs, targets[0]["unit"])}
    for target in targets:
        target["pids"] = []
    return oom_score.plan_dropins(fs, targets, units, "50-oom-score-adj.conf")


def test_a_drop_in_with_the_right_text_but_the_wrong_mode_is_drift(fs):
    fs.write_atomic("/lib/systemd/system/mosquitto.service", "[Service]\n")
    path = "/etc/systemd/system/mosquitto.service.d/50-oom-score-adj.conf"
    [entry], conflicts = plan(fs, unit="mosquitto", value=-900, persist=True)
    assert conflicts == [] and entry["changed"] is True and entry["before"] is None
    fs.write_atomic(path, oom_score.render_dropin(-900), 0o644)
    assert plan(fs, unit="mosquitto", value=-900, persist=True)[0][0]["changed"] is False
    os.chmod(fs.path(path), 0o600)
    assert plan(fs, unit="mosquitto", value=-900, persist=True)[0][0]["changed"] is True
    [absent], _conflicts = plan(fs, unit="mosquitto", value=-900, persist=False)
    assert absent["state"] == "absent" and absent["after"] is None and absent["changed"] is True


def test_the_drop_in_text_is_what_the_boards_hold():
    assert oom_score.render_dropin(-900) == (
        "# Managed by Ansible (rock5b.oom.oom_score_adj). Local edits are overwritten on the next run;\n"
        "# set the score through the protect_daemons_list variable instead.\n[Service]\nOOMScoreAdjust=-900\n")


def test_overrides_follow_systemds_order(fs):
    fs.write_atomic("/lib/systemd/system/mosquitto.service", "[Service]\nOOMScoreAdjust=-1\n")
    fs.write_atomic("/etc/systemd/system/mosquitto.service.d/override.conf", "[Service]\nOOMScoreAdjust=\n")
    fs.write_atomic("/run/systemd/system/service.d/10-all.conf", "[Service]\nOOMScoreAdjust=-5\n")
    info = systemd.resolve_unit(fs, "mosquitto.service")
    assert [(item["name"], item["value"]) for item in oom_score.oom_settings(fs, info)] == [
        (None, "-1"), ("10-all.conf", "-5"), ("override.conf", "")]
    targets = oom_score.normalize_targets(params(unit="mosquitto", value=-900, persist=True))
    [item] = oom_score.find_overrides(fs, targets, {"mosquitto.service": info}, "50-oom-score-adj.conf")
    assert item["path"] == "/etc/systemd/system/mosquitto.service.d/override.conf"
    assert item["reason"] == "sorts after 50-oom-score-adj.conf and sets OOMScoreAdjust=(reset): it wins at the next start"


def test_inherited_leaves_out_the_module_itself(table):
    targets = [{"state": "present", "value": -1000, "scope": "main", "pids": [412], "label": "sshd"}]
    inherited = oom_score.find_inherited(table, targets, {412: {}})
    assert [(item["pid"], item["ancestor"]) for item in inherited] == [(900, 412)]
    assert oom_score.inherited_warning(inherited).startswith("1 process(es) forked from protected ones")
