"""The converged board's OOM protection of daemons (rock5b.oom.protect_daemons).

The scenario marks an expendable dummy unit with +500 (group_vars: protect_daemons_extra;
the unit itself comes from prepare.yml) and runs with protect_daemons_on_denied: warn,
since root in these containers lacks CAP_SYS_RESOURCE and cannot set negative scores.
"""


DROPIN = "50-oom-score-adj.conf"
EXPENDABLE = "rock5b-expendable.service"
MONITOR = "rock5b-oom-monitor.service"
HEADER = (
    "# Managed by Ansible (rock5b.oom.oom_score_adj). Local edits are overwritten on the next run;\n"
    "# set the score through the protect_daemons_list variable instead.\n"
)


def dropin_path(unit):
    return "/etc/systemd/system/%s.d/%s" % (unit, DROPIN)


def unit_pids(host, unit):
    """Pids of every process of a unit, from /proc/<pid>/cgroup (the module's own view)."""
    out = host.check_output(
        "grep -lE '/system\\.slice/%s$' /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 || true"
        % unit.replace(".", "\\."))
    return sorted(int(pid) for pid in out.split())


def score(host, pid):
    return int(host.file("/proc/%d/oom_score_adj" % pid).content_string)


def has_cap_sys_resource(host):
    cap_eff = host.check_output("awk '/^CapEff:/ {print $2}' /proc/self/status")
    return bool(int(cap_eff, 16) >> 24 & 1)


def test_expendable_unit_is_part_of_the_scenario(host):
    assert host.run("systemctl cat %s" % EXPENDABLE).rc == 0, (
        "%s is missing: prepare.yml installs it and group_vars mark it with +500" % EXPENDABLE)


def test_expendable_drop_in_has_exactly_the_score(host):
    drop_in = host.file(dropin_path(EXPENDABLE))
    assert drop_in.is_file
    assert drop_in.content_string == HEADER + "[Service]\nOOMScoreAdjust=500\n"
    assert drop_in.mode == 0o644
    assert drop_in.user == "root" and drop_in.group == "root"


def test_systemd_loaded_the_drop_in(host):
    # Proves the daemon-reload handler ran: systemd reports the drop-in's value.
    assert host.check_output("systemctl show -p OOMScoreAdjust --value %s" % EXPENDABLE) == "500"
    assert dropin_path(EXPENDABLE) in host.check_output("systemctl show -p DropInPaths --value %s" % EXPENDABLE)


def test_expendable_processes_have_the_positive_score_live(host):
    main_pid = int(host.check_output("systemctl show -p MainPID --value %s" % EXPENDABLE))
    assert main_pid > 0
    pids = unit_pids(host, EXPENDABLE)
    assert main_pid in pids
    assert dict((pid, score(host, pid)) for pid in pids) == dict((pid, 500) for pid in pids)


def test_ssh_has_no_oom_score_adjust_that_logins_would_inherit(host):
    # sshd protects its listener itself; OOMScoreAdjust=-1000 on ssh.service would be
    # inherited by every login. The role persists nothing for ssh.service.
    assert not host.file(dropin_path("ssh.service")).exists
    assert int(host.check_output("systemctl show -p OOMScoreAdjust --value ssh.service")) >= 0


def test_sshd_listener_score_is_what_the_kernel_allows(host):
    # -1000 where root holds CAP_SYS_RESOURCE (the VM scenario checks that case); in these
    # containers it does not, the kernel refuses anything below 0, and the role (on_denied:
    # warn) must leave the listener at 0 rather than at some half-applied value.
    main_pid = int(host.check_output("systemctl show -p MainPID --value ssh.service"))
    assert main_pid > 0
    assert score(host, main_pid) == (-1000 if has_cap_sys_resource(host) else 0)


def test_no_session_or_ssh_child_is_unkillable(host):
    # Everything but sshd's listener (ssh.service's MainPID) must stay killable.
    main_pid = int(host.check_output("systemctl show -p MainPID --value ssh.service"))
    children = [pid for pid in unit_pids(host, "ssh.service") if pid != main_pid]
    sessions = host.check_output(
        "grep -lE '/user\\.slice/' /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 || true").split()
    for pid in children + [int(pid) for pid in sessions]:
        if host.file("/proc/%d" % pid).exists:
            assert score(host, pid) > -1000, pid


def test_monitor_is_protected_only_when_installed(host):
    drop_in = host.file(dropin_path(MONITOR))
    if host.run("systemctl cat %s" % MONITOR).rc == 0:
        assert drop_in.content_string == HEADER + "[Service]\nOOMScoreAdjust=-1000\n"
    else:
        assert not host.file("/etc/systemd/system/%s.d" % MONITOR).exists
