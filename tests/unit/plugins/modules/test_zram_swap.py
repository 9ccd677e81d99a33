"""Behaviour of rock5b.oom.zram_swap on a fake board (zram_board: /proc/swaps, /sys/block/zram0,
a systemctl acting as systemd and zram-generator)."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.rock5b.oom.plugins.modules import zram_swap
from zram_board import CONFIG, SETUP, SWAP, ZramBoard

# MemTotal of the 4 GiB fake board (conftest.MEMINFO_4G): 3995120 kB; 50 % is 1950 MiB, 1920 in 64 MiB steps.
SIZE_4G = 1920


@pytest.fixture
def board(host_fs, monkeypatch):
    fake = ZramBoard(host_fs)
    fake.install_generator()
    monkeypatch.setattr(zram_swap.AnsibleModule, "run_command", lambda self, args, **kw: fake.run_command(args, **kw))
    return fake


def run(run_module, args=None, **kwargs):
    return run_module(zram_swap, args or {}, **kwargs)


def test_a_fresh_board_gets_one_device_of_the_tier_size_then_nothing_changes(board, run_module):
    result = run(run_module)
    assert result["changed"] and result["owner"] == "none" and result["action"] == "restart"
    assert result["wanted"] == {"size_mib": SIZE_4G, "algorithm": "zstd", "priority": 100}
    assert result["device"] == {"size_mib": SIZE_4G, "algorithm": "zstd", "priority": 100, "swap": True, "used_kb": 0}
    assert result["live_applied"] and not result["pending_reboot"]
    text = board.host.read(CONFIG)
    assert text.startswith("# Managed by Ansible (rock5b.oom.zram)")
    assert "[zram0]\nzram-size = %d\ncompression-algorithm = zstd\nswap-priority = 100\n" % SIZE_4G in text
    assert board.verbs() == ["daemon-reload", "restart " + SETUP, "start " + SWAP]
    board.calls.clear()
    again = run(run_module)
    assert not again["changed"] and again["owner"] == "rock5b" and again["action"] == "none"
    assert board.verbs() == []


def test_check_mode_predicts_the_run_and_changes_nothing(board, run_module):
    before = board.host.snapshot()
    predicted = run(run_module, check_mode=True, diff=True)
    assert board.host.snapshot() == before and board.verbs() == []
    assert predicted["changed"] and predicted["action"] == "restart"
    assert "zram-size = %d" % SIZE_4G in predicted["diff"]["after"]
    real = run(run_module)
    assert real["after"] == predicted["after"]


def test_changed_settings_restart_the_device(board, run_module):
    run(run_module)
    result = run(run_module, {"size": "1G", "algorithm": "lz4", "priority": 50}, diff=True)
    assert result["changed"] and result["device"]["size_mib"] == 1024 and result["device"]["algorithm"] == "lz4"
    assert "zram-size = %d" % SIZE_4G in result["diff"]["before"] and "zram-size = 1024" in result["diff"]["after"]


def test_a_device_in_use_that_does_not_fit_in_ram_waits_for_a_reboot(board, run_module):
    run(run_module)
    board.swap_on(SIZE_4G, used_kb=3000000)  # MemAvailable of the fake board: 3100000 kB
    board.calls.clear()
    result = run(run_module, {"size": "1G"})
    assert result["changed"] and result["pending_reboot"] and result["action"] == "pending_reboot"
    assert not result["live_applied"] and result["device"]["size_mib"] == SIZE_4G
    assert "zram-size = 1024" in board.host.read(CONFIG)
    assert board.verbs() == ["daemon-reload"]
    assert any("until the next boot" in warning for warning in result["warnings"])


def test_a_container_gets_the_config_and_no_failed_unit(board, run_module):
    board.container()
    result = run(run_module)
    assert result["changed"] and result["action"] == "not_possible" and not result["live_applied"]
    assert board.host.exists(CONFIG) and board.verbs() == ["daemon-reload"]
    assert any("container" in warning for warning in result["warnings"])
    assert not run(run_module)["changed"]


def test_without_the_generator_the_config_waits_for_the_package(board, run_module):
    os.unlink(board.host.path("/usr/lib/systemd/system-generators/zram-generator"))
    result = run(run_module)
    assert result["action"] == "not_possible" and not result["generator_installed"] and board.verbs() == []


def test_zram_tools_is_reported_and_left_alone_without_takeover(board, run_module):
    board.zram_tools()
    before = board.host.snapshot()
    result = run(run_module)
    assert not result["changed"] and result["owner"] == "zram-tools" and not result["managed"]
    assert result["owners"][0]["unit"] == "zramswap.service" and result["owners"][0]["config_files"] == ["/etc/default/zramswap"]
    assert board.host.snapshot() == before and board.verbs() == []
    assert any("not applied" in warning for warning in result["warnings"])


def test_takeover_stops_zram_tools_and_leaves_one_device_of_ours(board, run_module):
    board.zram_tools(used_kb=1000)
    result = run(run_module, {"takeover": True})
    assert result["changed"] and result["owner"] == "zram-tools" and result["takeover"] == ["zramswap.service"]
    assert board.units["zramswap.service"] == {"enabled": False, "active": False}
    assert [swap[0] for swap in board.swaps] == ["/dev/zram0"] and result["device"]["algorithm"] == "zstd"
    again = run(run_module, {"takeover": True})
    assert not again["changed"] and again["owner"] == "rock5b"


def test_takeover_of_a_loaded_zram_tools_only_disables_it(board, run_module):
    board.zram_tools(used_kb=3000000)
    result = run(run_module, {"takeover": True})
    assert result["pending_reboot"] and board.units["zramswap.service"] == {"enabled": False, "active": True}
    assert "restart " + SETUP not in board.verbs()
    # until the reboot, the next runs find zram-tools still running but have nothing to disable
    again = run(run_module, {"takeover": True})
    assert not again["changed"] and again["takeover"] == [] and again["pending_reboot"] and board.units["zramswap.service"]["active"]


def test_a_runtime_drop_in_cannot_be_masked_and_fails_the_takeover(board, run_module):
    board.host.write("/run/systemd/zram-generator.conf.d/50-x.conf", "[zram0]\nzram-size = ram\n")
    before = board.host.snapshot()
    result = run(run_module, {"takeover": True})
    assert result["failed"] and "/run/systemd/zram-generator.conf.d/50-x.conf is a runtime" in result["msg"]
    assert board.host.snapshot() == before


def test_a_foreign_generator_drop_in_is_masked_on_takeover(board, run_module):
    board.host.write("/usr/lib/systemd/zram-generator.conf.d/50-vendor.conf", "[zram0]\nzram-size = ram\n")
    assert run(run_module)["owner"] == "zram-generator"
    result = run(run_module, {"takeover": True})
    assert result["masks"] == [{"path": "/etc/systemd/zram-generator.conf.d/50-vendor.conf",
                                "masks": "/usr/lib/systemd/zram-generator.conf.d/50-vendor.conf"}]
    assert os.readlink(board.host.path("/etc/systemd/zram-generator.conf.d/50-vendor.conf")) == "/dev/null"
    assert run(run_module, {"takeover": True})["owner"] == "rock5b"


def test_an_unexplained_zram_swap_fails_a_takeover_and_changes_nothing(board, run_module):
    board.make_device(512, "lzo-rle")
    board.swap_on(512)
    assert run(run_module)["owner"] == "unknown"
    before = board.host.snapshot()
    result = run(run_module, {"takeover": True})
    assert result["failed"] and "/dev/zram0 is swap set up by something" in result["msg"]
    assert board.host.snapshot() == before


def test_disk_swap_is_reported_and_never_touched(board, run_module):
    board.swap_on(0, path="/swapfile", priority=-2)
    result = run(run_module)
    assert [swap["path"] for swap in result["disk_swaps"]] == ["/swapfile"]
    assert any(swap[0] == "/swapfile" for swap in board.swaps)


def test_a_failed_start_resets_the_units_and_fails(board, run_module):
    board.fail = "restart"
    result = run(run_module)
    assert result["failed"] and "reset" in result["msg"]
    assert ["reset-failed", "--", SETUP, SWAP] in [call[1:] for call in board.calls]


def test_an_algorithm_the_device_lacks_is_refused_before_any_write(board, run_module):
    board.make_device(0, "lzo-rle")
    with open(board.sys("zram0", "comp_algorithm"), "w") as handle:
        handle.write("lzo [lzo-rle]\n")
    before = board.host.snapshot()
    result = run(run_module, {"algorithm": "zstd"})
    assert result["failed"] and "does not offer it" in result["msg"] and board.host.snapshot() == before


@pytest.mark.parametrize("args, names", [
    ({"size": "512MB"}, "size"),
    ({"size": "max"}, "size"),
    ({"size_max": "-1G"}, "size_max"),
    ({"priority": 40000}, "priority"),
    ({"priority": True}, "priority"),
    ({"swapoff_margin_mb": ".nan"}, "swapoff_margin_mb"),
    ({"size_tiers": []}, "size_tiers"),
    ({"size_tiers": [{"ram_up_to": "4G", "percent": 0}]}, "size_tiers[0].percent"),
    ({"size_tiers": [{"ram_up_to": "4G", "percent": 50}, {"ram_up_to": "4096M", "percent": 25}]}, "given twice"),
    ({"size_tiers": [{"ram_up_to": "lots", "percent": 50}]}, "size_tiers[0].ram_up_to"),
])
def test_bad_input_fails_naming_the_option_and_changes_nothing(board, run_module, args, names):
    before = board.host.snapshot()
    result = run(run_module, args)
    assert result["failed"] and names in result["msg"] and "nothing was changed" in result["msg"]
    assert board.host.snapshot() == before and board.verbs() == []


def test_a_device_gone_since_the_last_run_is_made_again(board, run_module):
    run(run_module)
    board.swap_off()
    shutil.rmtree(board.sys("zram0"))
    board.calls.clear()
    result = run(run_module)
    assert result["changed"] and result["live_applied"] and board.verbs()[0] == "daemon-reload"
