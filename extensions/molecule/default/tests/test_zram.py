"""The zram role in the containers: board-1 has zram_enabled (molecule.yml host_vars, read by conftest.board_vars), the others
do not. A container cannot make a zram device (zram-generator makes none there), so board-1
gets the generator's config and package, no device and no failed unit, and the swap sysctls in
sysctl_profile's drop-in; the other boards get none of it."""

import re

from conftest import board_vars

CONFIG = "/etc/systemd/zram-generator.conf"
PROFILE = "/etc/sysctl.d/99-oom-rock5b.conf"
MIB = 1 << 20


def zram_enabled(host):
    return bool(board_vars(host.backend.get_hostname())["zram_enabled"])


def default_size_mib(host):
    """The role's default tiers: 50 % of MemTotal up to 8 GiB, 25 % above, at most 8 GiB."""
    memtotal_kb = int(re.search(r"^MemTotal:\s+(\d+)", host.file("/proc/meminfo").content_string, re.M).group(1))
    percent = 50 if memtotal_kb * 1024 <= 8 << 30 else 25
    mib = memtotal_kb * percent // 100 // 1024
    return min(mib - mib % 64, (8 << 30) // MIB)  # in 64 MiB steps


def test_the_generator_config_is_written_where_zram_is_enabled(host):
    config = host.file(CONFIG)
    if not zram_enabled(host):
        assert not config.exists
        return
    assert config.is_file and config.mode == 0o644 and config.user == "root"
    text = config.content_string
    assert text.startswith("# Managed by Ansible (rock5b.oom.zram).")
    assert text.endswith("[zram0]\nzram-size = %d\ncompression-algorithm = %s\nswap-priority = 100\n" % (
        default_size_mib(host), board_vars(host.backend.get_hostname())["zram_algorithm"]))


def test_the_package_is_installed_only_where_zram_is_enabled(host):
    assert host.package("systemd-zram-generator").is_installed == zram_enabled(host)


def test_no_zram_unit_is_left_failed(host):
    failed = host.run("systemctl list-units --failed --plain --no-legend --all").stdout
    assert "zram" not in failed, failed
    state = host.run("systemctl is-failed systemd-zram-setup@zram0.service").stdout.strip()
    assert state != "failed"


def test_the_swap_sysctls_are_in_the_profile_only_where_zram_is_enabled(host):
    text = host.file(PROFILE).content_string
    if zram_enabled(host):
        assert "vm.page-cluster = 0\n" in text and "vm.swappiness = 100\n" in text, text
    else:
        assert "vm.page-cluster" not in text and "vm.swappiness" not in text, text
