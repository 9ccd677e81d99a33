"""zram_setups: the size rule, the config, who owns zram, what the kernel can compress with."""

from __future__ import annotations

import gzip
import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import vm_profile
from ansible_collections.rock5b.oom.plugins.module_utils import zram_setups as setups
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import zram
from unit_helpers import FakeModule, write

TIERS = [{"ram_up_to": "8G", "percent": 50}, {"ram_up_to": "max", "percent": 25}]
GIB_KB = 1 << 20


def params(**changes):
    values = {"size_tiers": TIERS, "size": None, "size_max": "8G", "algorithm": "zstd", "priority": 100,
              "takeover": False, "swapoff_margin_mb": 256}
    values.update(changes)
    return values


# --- the size rule ---------------------------------------------------------------------------
@pytest.mark.parametrize("memtotal_kb, size", [
    (3995120, 1920),                   # a 4 GB board: half (1950 MiB) in 64 MiB steps
    (8 * GIB_KB, 4096),                # exactly 8 GiB is still the first tier
    (8 * GIB_KB + 4, 2048),            # just above: a quarter
    (16 * GIB_KB, 4096),
    (32 * GIB_KB, 8192),
    (64 * GIB_KB, 8192),               # a quarter is 16 GiB: capped at size_max
])
def test_the_default_tiers_and_the_cap(memtotal_kb, size):
    assert setups.size_mib(memtotal_kb, params())[0] == size


def test_a_kernel_update_moving_memtotal_a_few_mib_keeps_the_size():
    assert setups.size_mib(3995120, params())[0] == setups.size_mib(3995120 - 4096, params())[0] == 1920


def test_tiers_are_taken_by_size_not_by_order_and_bigger_boards_take_the_last():
    tiers = [{"ram_up_to": "16G", "percent": 25}, {"ram_up_to": "4G", "percent": 100}]
    assert setups.size_mib(4 * GIB_KB, params(size_tiers=tiers, size_max="max"))[0] == 4096
    size, rule = setups.size_mib(32 * GIB_KB, params(size_tiers=tiers, size_max="max"))
    assert size == 8192 and "25 %" in rule


def test_a_fixed_size_wins_over_the_tiers_and_is_capped():
    assert setups.size_mib(4 * GIB_KB, params(size="1536M")) == (1536, "fixed size 1536M")
    assert setups.size_mib(4 * GIB_KB, params(size="16G"))[0] == 8192


@pytest.mark.parametrize("changes, problem", [
    ({"size_tiers": "50%"}, "size_tiers: must be a list"),
    ({"size_tiers": [{"ram_up_to": "4G"}]}, "exactly ram_up_to and percent"),
    ({"size_tiers": [{"ram_up_to": "4G", "percent": 201}]}, "size_tiers[0].percent must be between 1 and 200"),
    ({"size_tiers": [{"ram_up_to": "4G", "percent": "٥٠"}]}, "size_tiers[0].percent must be a number"),
    ({"size_tiers": [{"ram_up_to": "512K", "percent": 50}]}, "below 1M"),
    ({"size": "2GB"}, "ambiguous"),
    ({"size_max": 1180591620717411303424}, "above the largest size"),
    ({"priority": -2}, "priority must be between -1 and 32767"),
    ({"swapoff_margin_mb": "lots"}, "swapoff_margin_mb must be a number"),
])
def test_bad_options_are_refused_naming_them(changes, problem):
    with pytest.raises(ModuleError) as caught:
        setups.check_params(params(**changes))
    assert problem in caught.value.msg and "nothing was changed" in caught.value.msg


def test_good_options_pass():
    setups.check_params(params())
    setups.check_params(params(size="2G", size_tiers=[], priority="-1", swapoff_margin_mb=0))


# --- the config ------------------------------------------------------------------------------
def test_the_config_is_one_swap_device_in_mib_and_reads_as_ours():
    text = setups.render_config(1950, "lz4", 100)
    assert setups.is_ours(text) and setups.zram_sections(text) == ["zram0"]
    assert text.endswith("[zram0]\nzram-size = 1950\ncompression-algorithm = lz4\nswap-priority = 100\n")


def board(tmp_path):
    fs = HostFS(root=str(tmp_path), proc=str(tmp_path / "proc"), sys=str(tmp_path / "sys"))
    write(str(tmp_path / "proc" / "swaps"), "Filename Type Size Used Priority\n")
    return fs


def test_the_main_file_found_first_wins_and_a_dropin_name_masks_the_same_name_below(tmp_path):
    fs = board(tmp_path)
    write(fs.path("/usr/lib/systemd/zram-generator.conf"), "[zram0]\nzram-size = ram\n")
    write(fs.path(setups.CONFIG_PATH), setups.render_config(1024, "zstd", 100))
    write(fs.path("/usr/lib/systemd/zram-generator.conf.d/10-x.conf"), "[zram1]\n")
    os.makedirs(fs.path("/etc/systemd/zram-generator.conf.d"))
    os.symlink("/dev/null", fs.path("/etc/systemd/zram-generator.conf.d/10-x.conf"))
    files = dict((f["path"], f) for f in setups.generator_files(fs))
    assert files[setups.CONFIG_PATH]["effective"] and files[setups.CONFIG_PATH]["ours"]
    assert not files["/usr/lib/systemd/zram-generator.conf"]["effective"]
    assert files["/etc/systemd/zram-generator.conf.d/10-x.conf"]["masked"]
    assert not files["/usr/lib/systemd/zram-generator.conf.d/10-x.conf"]["effective"]
    assert setups.detect(fs, systemctl_with({}))["owner"] == "rock5b"


def systemctl_with(units):
    """A Systemctl whose show answers from ``units`` (name -> (enabled, active))."""
    from ansible_collections.rock5b.oom.plugins.module_utils.systemd import Systemctl

    class Module(FakeModule):
        def run_command(self, args, **_kwargs):
            enabled, active = units.get(args[-1], (None, None))
            if enabled is None:
                return 0, "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n", ""
            return 0, "LoadState=loaded\nActiveState=%s\nUnitFileState=%s\n" % (
                "active" if active else "inactive", "enabled" if enabled else "disabled"), ""
    return Systemctl(Module())


def test_armbian_zram_config_enabled_is_an_owner(tmp_path):
    fs = board(tmp_path)
    write(fs.path("/etc/default/armbian-zram-config"), "ENABLED=true\n")
    found = setups.detect(fs, systemctl_with({"armbian-zram-config.service": (True, False)}))
    assert found["owner"] == "armbian-zram-config"
    assert found["owners"][0]["config_files"] == ["/etc/default/armbian-zram-config"]


def test_a_disabled_inactive_zramswap_owns_nothing(tmp_path):
    fs = board(tmp_path)
    write(fs.path("/etc/default/zramswap"), "ALGO=lz4\n")
    assert setups.detect(fs, systemctl_with({"zramswap.service": (False, False)}))["owner"] == "none"


DEBIAN_DEFAULT = "# This config file enables a /dev/zram0 swap device ...\n[zram0]\n"


def dpkg_status(fs, md5):
    write(fs.path("/var/lib/dpkg/status"),
          "Package: systemd-zram-generator\nStatus: install ok installed\nConffiles:\n"
          " /etc/systemd/zram-generator.conf %s\n /etc/modules-load.d/20-zram-generator.conf 0123\n\n"
          "Package: other\nStatus: install ok installed\n" % md5)


def with_zram0_swap(fs):
    write(os.path.join(fs.proc, "swaps"), "Filename Type Size Used Priority\n/dev/zram0 partition 1048572 0 100\n")


def test_debians_untouched_default_config_is_no_owner_to_adopt(tmp_path):
    """systemd-zram-generator's own /etc/systemd/zram-generator.conf makes a zram0: untouched
    (dpkg's recorded md5sum matches), the role replaces it instead of calling it somebody's set-up."""
    import hashlib
    fs = board(tmp_path)
    write(fs.path(setups.CONFIG_PATH), DEBIAN_DEFAULT)
    dpkg_status(fs, hashlib.md5(DEBIAN_DEFAULT.encode()).hexdigest())
    with_zram0_swap(fs)
    found = setups.detect(fs, systemctl_with({}))
    assert found["owner"] == "none" and found["owners"] == [], found
    assert found["generator_files"][0]["package_default"]


def test_trixies_default_under_usr_lib_is_no_owner_either(tmp_path):
    import hashlib
    fs = board(tmp_path)
    write(fs.path("/usr/lib/systemd/zram-generator.conf"), DEBIAN_DEFAULT)
    write(fs.path("/var/lib/dpkg/info/systemd-zram-generator.md5sums"),
          "%s  usr/lib/systemd/zram-generator.conf\n" % hashlib.md5(DEBIAN_DEFAULT.encode()).hexdigest())
    with_zram0_swap(fs)
    found = setups.detect(fs, systemctl_with({}))
    assert found["owner"] == "none" and found["owners"] == [], found


def test_an_edited_default_config_is_an_owner(tmp_path):
    fs = board(tmp_path)
    write(fs.path(setups.CONFIG_PATH), DEBIAN_DEFAULT + "zram-size = ram\n")
    dpkg_status(fs, "0" * 32)
    with_zram0_swap(fs)
    found = setups.detect(fs, systemctl_with({}))
    assert found["owner"] == "zram-generator" and found["owners"][0]["config_files"] == [setups.CONFIG_PATH]


# --- the kernel ------------------------------------------------------------------------------
def kernel_board(tmp_path, release, config, gz=False):
    fs = board(tmp_path)
    write(os.path.join(fs.proc, "sys", "kernel", "osrelease"), release + "\n")
    if gz:
        with gzip.open(os.path.join(fs.proc, "config.gz"), "wt") as handle:
            handle.write(config)
    else:
        write(fs.path("/boot/config-" + release), config)
    return fs


def test_before_612_the_crypto_options_decide(tmp_path):
    fs = kernel_board(tmp_path, "6.1.0-28-arm64", "CONFIG_ZRAM=m\nCONFIG_CRYPTO_LZO=y\nCONFIG_CRYPTO_ZSTD=m\n")
    assert setups.kernel_check(fs, "zstd")["state"] == "supported"
    assert setups.kernel_check(fs, "lzo-rle")["source"] == "/boot/config-6.1.0-28-arm64"
    with pytest.raises(ModuleError) as caught:
        setups.kernel_check(fs, "lz4")
    assert "CONFIG_CRYPTO_LZ4 is not set" in caught.value.msg and "zstd, lzo-rle, lzo" in caught.value.msg


def test_from_612_the_zram_backends_decide(tmp_path):
    fs = kernel_board(tmp_path, "6.12.12+deb13-arm64", "CONFIG_ZRAM=m\nCONFIG_CRYPTO_ZSTD=y\nCONFIG_ZRAM_BACKEND_LZ4=y\n", gz=True)
    assert setups.kernel_check(fs, "lz4")["source"] == "/proc/config.gz"
    with pytest.raises(ModuleError) as caught:
        setups.kernel_check(fs, "zstd")
    assert "CONFIG_ZRAM_BACKEND_ZSTD is not set" in caught.value.msg


def test_a_kernel_without_zram_is_refused(tmp_path):
    fs = kernel_board(tmp_path, "5.10.160-rockchip", "# CONFIG_ZRAM is not set\nCONFIG_CRYPTO_ZSTD=y\n")
    with pytest.raises(ModuleError) as caught:
        setups.kernel_check(fs, "zstd")
    assert "built without zram" in caught.value.msg


def test_the_live_device_list_wins_and_no_config_is_unknown(tmp_path):
    fs = kernel_board(tmp_path, "6.1.0-28-arm64", "# CONFIG_ZRAM is not set\n")
    write(fs.sys_path("block", "zram0", "comp_algorithm"), "lzo [lzo-rle] zstd\n")
    assert setups.kernel_check(fs, "zstd")["source"] == "/sys/block/zram0/comp_algorithm"
    os.unlink(fs.path("/boot/config-6.1.0-28-arm64"))
    os.unlink(fs.sys_path("block", "zram0", "comp_algorithm"))
    assert setups.kernel_check(fs, "lz4")["state"] == "unknown"


def test_available_algorithms_lists_them_without_brackets():
    assert zram.available_algorithms("lzo [lzo-rle] lz4 zstd\n") == ["lzo", "lzo-rle", "lz4", "zstd"]
    assert zram.available_algorithms(None) == []


# --- the swap sysctls sysctl_profile writes for zram -----------------------------------------
def test_the_profile_takes_zram_swappiness_and_page_cluster():
    resolved, problems = vm_profile.validate_settings({"vm.swappiness": 200, "vm.page-cluster": 0}, 4 << 20)
    assert resolved == {"vm.swappiness": "200", "vm.page-cluster": "0"} and not problems
    _resolved, problems = vm_profile.validate_settings({"vm.page-cluster": 32, "vm.page--cluster": 1}, 4 << 20)
    assert any("vm.page-cluster = 32" in problem for problem in problems)
    assert any("vm.page--cluster: only vm.* keys" in problem for problem in problems)
