"""zram devices from /sys/block (module_utils/procfs/zram.py)."""

from __future__ import annotations

import os

from ansible_collections.rock5b.oom.plugins.module_utils.procfs import zram

MM_STAT = "41943040 10485760 11534336        0 11534336     1024        0        0        0\n"


def device(sys_root, name, files):
    base = os.path.join(sys_root, "block", name)
    os.makedirs(base)
    for file, text in files.items():
        with open(os.path.join(base, file), "w") as handle:
            handle.write(text)


def test_read_zram_sizes_algorithm_and_swap_use(tmp_path):
    sys_root = str(tmp_path)
    device(sys_root, "zram0", {"disksize": "2045497344\n", "comp_algorithm": "lzo lzo-rle lz4 lz4hc 842 [zstd]\n",
                               "mm_stat": MM_STAT})
    device(sys_root, "zram1", {"disksize": "0\n", "comp_algorithm": "[lzo-rle] zstd\n"})
    device(sys_root, "mmcblk0", {})
    swaps = [{"path": "/dev/zram0"}, {"path": "/swapfile"}]
    assert zram.read_zram(sys_root, swaps) == [
        {"device": "zram0", "disksize_kb": 1997556, "comp_algorithm": "zstd", "orig_data_kb": 40960,
         "compr_data_kb": 10240, "mem_used_kb": 11264, "used_as_swap": True},
        {"device": "zram1", "disksize_kb": 0, "comp_algorithm": "lzo-rle", "orig_data_kb": None,
         "compr_data_kb": None, "mem_used_kb": None, "used_as_swap": False},
    ]


def test_no_zram_and_no_sys_block(tmp_path):
    assert zram.read_zram(str(tmp_path), [{"path": "/dev/zram0"}]) == []
    device(str(tmp_path), "mmcblk0", {})
    assert zram.device_names(str(tmp_path)) == []


def test_parsers_tolerate_missing_and_odd_values():
    assert zram.selected_algorithm("lzo lz4") is None and zram.selected_algorithm(None) is None
    assert zram.parse_mm_stat("4096 x") == (4, None, None)
    assert zram.parse_disksize_kb(" 8192\n") == 8 and zram.parse_disksize_kb("") is None
