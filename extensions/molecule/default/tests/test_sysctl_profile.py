"""The converged board holds the vm.* OOM profile drop-in, exactly."""

PATH = "/etc/sysctl.d/99-oom-rock5b.conf"
EXPECTED = """\
# Managed by Ansible (rock5b.oom.vm_sysctl). Local edits are overwritten on the next run;
# set values through the sysctl_profile_settings variable instead.
# The vm.* OOM profile for Radxa Rock 5B+ boards.
vm.min_free_kbytes = 32768
vm.oom_dump_tasks = 1
vm.oom_kill_allocating_task = 0
vm.overcommit_memory = 2
vm.overcommit_ratio = 80
vm.panic_on_oom = 0
vm.watermark_scale_factor = 10
"""


def test_drop_in_has_exactly_the_profile(host):
    drop_in = host.file(PATH)
    assert drop_in.is_file
    assert drop_in.content_string == EXPECTED
    assert drop_in.mode == 0o644
    assert drop_in.user == "root" and drop_in.group == "root"


def test_no_temporary_files_left_beside_the_drop_in(host):
    names = host.run("ls -A /etc/sysctl.d").stdout.split()
    assert "99-oom-rock5b.conf" in names
    assert [name for name in names if name.startswith(".")] == []


def test_systemd_sysctl_accepts_the_drop_in(host):
    # The same parser that applies it at boot: it must find every key (no "Couldn't write"
    # or unknown-key complaints other than the read-only /proc/sys of a container).
    result = host.run("/lib/systemd/systemd-sysctl --cat-config")
    assert result.rc == 0
    assert "# " + PATH in result.stdout
