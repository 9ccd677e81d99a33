"""The converged board holds the vm.* OOM profile drop-in, exactly (with zram's swap sysctls
where zram_enabled: the zram role hands them to sysctl_profile, the file's one writer)."""

from conftest import board_vars

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
{zram_page_cluster}vm.panic_on_oom = 0
{zram_swappiness}vm.watermark_scale_factor = 10
"""


def expected(board):
    values = board_vars(board)
    if not values["zram_enabled"]:
        return EXPECTED.format(zram_page_cluster="", zram_swappiness="")
    return EXPECTED.format(zram_page_cluster="vm.page-cluster = %d\n" % values["zram_page_cluster"],
                           zram_swappiness="vm.swappiness = %d\n" % values["zram_swappiness"])


def test_drop_in_has_exactly_the_profile(host):
    drop_in = host.file(PATH)
    assert drop_in.is_file
    assert drop_in.content_string == expected(host.backend.get_hostname())
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
