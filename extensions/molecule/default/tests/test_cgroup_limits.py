"""The converged board's memory limits (rock5b.oom.cgroup_limits), in the container scenario.

The scenario (group_vars in molecule.yml) limits a dedicated slice and a dummy unit placed in
it, and lets the role restart the unit to move it there:

    cgroup_limits_units:
      - unit: rock5b-untrusted.slice
        memory_max: 1G
        memory_high: 768M
      - unit: rock5b-limited.service
        memory_max: 256M
        memory_high: 192M
        swap_max: 0
        oom_policy: kill
        slice: rock5b-untrusted.slice
    cgroup_limits_allow_restart: true

rock5b-limited.service (/bin/sleep infinity) is installed and started by prepare.yml. The
containers see a read-only cgroup v1 hierarchy: systemd takes the configuration but the kernel
does not enforce it, so these tests check drop-ins, what systemd loaded, the slice move and
idempotence; enforcement is checked on real kernels (extensions/molecule/vm).
"""

import pytest

DROPIN_NAME = "60-rock5b-memory.conf"
SLICE = "rock5b-untrusted.slice"
UNIT = "rock5b-limited.service"
HEADER = (
    "# Managed by Ansible (rock5b.oom.cgroup_memory). Local edits are overwritten on the next run;\n"
    "# set the limits through the cgroup_limits_units variable instead.\n"
)
M = 1 << 20


def dropin(unit):
    return "/etc/systemd/system/%s.d/%s" % (unit, DROPIN_NAME)


def show(host, unit, *props):
    out = host.check_output("systemctl show %s %s" % (" ".join("-p " + p for p in props), unit))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def scenario(host):
    if host.run("systemctl cat %s" % UNIT).rc != 0:
        pytest.fail("%s is missing: prepare.yml installs it and group_vars limit it" % UNIT)
    return host


def test_slice_unit_file_is_created(scenario):
    slice_file = scenario.file("/etc/systemd/system/%s" % SLICE)
    assert slice_file.is_file and slice_file.mode == 0o644
    assert slice_file.content_string == (
        HEADER + "[Unit]\nDescription=Memory-limited slice (managed by rock5b.oom)\nBefore=slices.target\n")


def test_slice_drop_in_is_exact(scenario):
    text = scenario.file(dropin(SLICE)).content_string
    assert text == HEADER + "[Slice]\nMemoryMax=1G\nMemoryHigh=768M\n"


def test_unit_drop_in_is_exact(scenario):
    drop_in = scenario.file(dropin(UNIT))
    assert drop_in.mode == 0o644 and drop_in.user == "root" and drop_in.group == "root"
    assert drop_in.content_string == HEADER + (
        "[Service]\nSlice=rock5b-untrusted.slice\nMemoryMax=256M\nMemoryHigh=192M\nMemorySwapMax=0\nOOMPolicy=kill\n")


def test_systemd_loaded_the_limits(scenario):
    props = show(scenario, UNIT, "MemoryMax", "MemoryHigh", "MemorySwapMax", "OOMPolicy", "Slice", "DropInPaths")
    assert props["MemoryMax"] == str(256 * M)
    assert props["MemoryHigh"] == str(192 * M)
    assert props["MemorySwapMax"] == "0"
    assert props["OOMPolicy"] == "kill"
    assert props["Slice"] == SLICE
    assert dropin(UNIT) in props["DropInPaths"]
    assert show(scenario, SLICE, "MemoryMax")["MemoryMax"] == str(1 << 30)


def test_no_runtime_override_was_needed(scenario):
    # daemon-reload applied the drop-ins; set-property --runtime only corrects live drift.
    assert not scenario.file("/run/systemd/system.control/%s.d" % UNIT).exists


def test_unit_was_moved_into_the_slice_by_a_restart(scenario):
    props = show(scenario, UNIT, "ActiveState", "ControlGroup", "MainPID")
    assert props["ActiveState"] == "active"
    assert props["ControlGroup"].endswith("/rock5b.slice/rock5b-untrusted.slice/" + UNIT)
    pid = int(props["MainPID"])
    assert "/rock5b.slice/rock5b-untrusted.slice/%s" % UNIT in scenario.file("/proc/%d/cgroup" % pid).content_string

