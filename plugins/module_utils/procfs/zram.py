# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zram devices as /sys/block/zram* shows them, sizes in kB.

Standard library and procfs.files only: whether a device is used as swap
comes from the caller's /proc/swaps devices (``meminfo.read_swaps``). Readers take the root of
the /sys tree (``sys_root``), so unit tests run them against fake trees.

Per device (Documentation/admin-guide/blockdev/zram.rst): ``disksize`` in bytes,
``comp_algorithm`` lists the algorithms with the selected one in brackets, and ``mm_stat``
(Linux 4.2+) starts with orig_data_size, compr_data_size and mem_used_total, in bytes.
"""

from __future__ import annotations

import os

from .files import read_text


def selected_algorithm(text):
    """The bracketed (selected) algorithm of comp_algorithm text, e.g. ``zstd``; None without one."""
    selected = [item.strip("[]") for item in (text or "").split() if item.startswith("[")]
    return selected[0] if selected else None


def available_algorithms(text):
    """Every algorithm comp_algorithm text lists, the selected one without its brackets:
    ``lzo [lzo-rle] zstd`` -> ["lzo", "lzo-rle", "zstd"]; [] for a missing file."""
    return [item.strip("[]") for item in (text or "").split() if item.strip("[]")]


def read_available_algorithms(sys_root, device="zram0"):
    """available_algorithms of ``device``'s comp_algorithm; None when the device does not exist."""
    text = read_text(os.path.join(sys_root, "block", device, "comp_algorithm"))
    return None if text is None else available_algorithms(text)


def parse_mm_stat(text):
    """(orig_data_kb, compr_data_kb, mem_used_kb) from mm_stat text; None for a missing or odd value."""
    values = (text or "").split()[:3]
    numbers = [int(value) // 1024 if value.isdigit() else None for value in values] + [None] * 3
    return tuple(numbers[:3])


def parse_disksize_kb(text):
    """disksize (bytes) in kB; None when missing or not a number."""
    text = (text or "").strip()
    return int(text) // 1024 if text.isdigit() else None


def device_names(sys_root):
    """The zram devices under ``sys_root``/block, sorted; [] without any."""
    try:
        names = os.listdir(os.path.join(sys_root, "block"))
    except OSError:
        return []
    return sorted(name for name in names if name.startswith("zram"))


def read_zram(sys_root, swaps=()):
    """Each zram device: device, disksize_kb, comp_algorithm, orig_data_kb, compr_data_kb,
    mem_used_kb and used_as_swap (whether a ``swaps`` entry, /proc/swaps as dicts with a
    ``path``, is that device)."""
    swapping = set(os.path.basename(device["path"]) for device in swaps)
    devices = []
    for name in device_names(sys_root):
        base = os.path.join(sys_root, "block", name)
        orig, compr, used = parse_mm_stat(read_text(os.path.join(base, "mm_stat")))
        devices.append({
            "device": name,
            "disksize_kb": parse_disksize_kb(read_text(os.path.join(base, "disksize"))),
            "comp_algorithm": selected_algorithm(read_text(os.path.join(base, "comp_algorithm"))),
            "orig_data_kb": orig, "compr_data_kb": compr, "mem_used_kb": used,
            "used_as_swap": name in swapping,
        })
    return devices
