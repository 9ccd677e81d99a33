#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: zram_swap
short_description: One compressed swap device in RAM (zram) through Debian's systemd-zram-generator
version_added: 0.2.0
description:
  - Finds who sets zram up on the board - systemd-zram-generator (a C([zramN]) section in
    C(zram-generator.conf) under C(/run/systemd), C(/etc/systemd), C(/usr/local/lib/systemd),
    C(/usr/lib/systemd), or in a C(zram-generator.conf.d/*.conf) drop-in), zram-tools
    (C(zramswap.service) enabled or active, C(/etc/default/zramswap)), Armbian's
    C(armbian-zram-config.service) (C(/etc/default/armbian-zram-config)), or an unexplained zram
    device in C(/proc/swaps) - and reports it, with the swap on disk (which it never touches).
  - With no other owner (or O(takeover)), writes C(/etc/systemd/zram-generator.conf) - one
    C([zram0]) swap device of C(zram-size) MiB, C(compression-algorithm) and C(swap-priority) -
    atomically and durably, runs C(systemctl daemon-reload) and restarts
    C(systemd-zram-setup@zram0.service) and C(dev-zram0.swap) so the device exists now, then
    reads it back from C(/sys/block/zram0) and C(/proc/swaps).
  - The size is a share of MemTotal by RAM tier (O(size_tiers)), capped at O(size_max), or a fixed O(size).
  - The algorithm must be one the kernel has - the live zram0's C(comp_algorithm) list, else the
    running kernel's config (C(/proc/config.gz), C(/boot/config-<release>)) - C(CONFIG_ZRAM) and
    C(CONFIG_CRYPTO_ZSTD), C(_LZ4) or C(_LZO) before Linux 6.12, C(CONFIG_ZRAM_BACKEND_*) from
    6.12. Where neither is found, the module goes on and says so (RV(kernel)).
  - Restarting a device in use swaps it off, which needs its used swap in RAM. When the used
    zram swap plus O(swapoff_margin_mb) does not fit in MemAvailable, the live device is left as
    it is, the config is written and RV(pending_reboot) is true, with a warning - a swapoff on a
    loaded board can OOM it.
  - Where the kernel cannot make the device (a container, where zram-generator makes none; a
    board without the generator installed), the config is written, nothing is started (no unit
    is left failed) and RV(live_applied) is false, with a warning.
  - Every option is checked before anything is read; a bad one fails the task naming it, nothing changed.
author:
  - rock5b.oom contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - rock5b.oom.state_module
options:
  size_tiers:
    description:
      - The device's size as a share of MemTotal, by RAM tier. A board takes the first tier (by
        C(ram_up_to), smallest first) whose C(ram_up_to) is at least its MemTotal; a board with more
        RAM than every tier takes the last one. Ignored when O(size) is set.
      - The default gives 50 % up to 8 GiB of RAM (about 2 GiB on a 4 GB board, 4 GiB on an 8 GB
        one) and 25 % above (4 GiB on 16 GB, 8 GiB on 32 GB).
    type: list
    elements: dict
    default: [{ram_up_to: 8G, percent: 50}, {ram_up_to: max, percent: 25}]
    suboptions:
      ram_up_to:
        description: The largest MemTotal of the tier, a size (C(4G), C(16G)), or V(max) for every board.
        type: raw
        required: true
      percent:
        description: The device's size in percent of MemTotal, a whole number from 1 to 200.
        type: raw
        required: true
  size:
    description:
      - A fixed size (C(2G), C(1536M)) instead of O(size_tiers), at least 1M; still capped at O(size_max).
    type: raw
  size_max:
    description: The largest device, a size (C(8G)) or V(max).
    type: raw
    default: 8G
  algorithm:
    description: The compression algorithm; refused when the kernel lacks it.
    type: str
    choices: [zstd, lz4, lzo-rle, lzo]
    default: zstd
  priority:
    description: The swap priority of the device, from -1 to 32767 (above swap on disk, which gets a negative one by default).
    type: raw
    default: 100
  takeover:
    description:
      - What to do when another set-up owns zram. V(false) changes nothing about zram and reports
        the owner (RV(owner)) and that these settings are not applied.
      - V(true) stops and disables the other owner's unit (C(zramswap.service),
        C(armbian-zram-config.service); with the same swapoff check as above, else it is only
        disabled and the change waits for a reboot), masks another package's generator drop-ins
        with a link to /dev/null in C(/etc/systemd/zram-generator.conf.d) (an C(/etc) file is
        kept as a backup), replaces another C(/etc/systemd/zram-generator.conf) (kept as a
        backup) and sets up its own device - one device in the end, never two.
      - An unexplained zram swap, or a C(/run/systemd/zram-generator.conf), fails the task with
        takeover, nothing changed.
    type: bool
    default: false
  swapoff_margin_mb:
    description: MiB of MemAvailable that must stay free after swapping off the zram swap in use, from 0 to 1048576.
    type: raw
    default: 256
notes:
  - Install Debian's C(systemd-zram-generator) first (the rock5b.oom.zram role does); without
    it the config is written and RV(live_applied) is false.
  - The swap sysctls that suit zram (C(vm.swappiness), C(vm.page-cluster)) are the
    rock5b.oom.vm_sysctl module's (the zram role hands them to sysctl_profile).
  - A C(systemd.zram=0) on the kernel command line stops the generator at boot; the module warns.
"""

EXAMPLES = r"""
- name: One zram swap device by RAM tier, zstd, priority 100
  rock5b.oom.zram_swap:
  register: zram

- name: A fixed 2 GiB lz4 device, taking over zram-tools
  rock5b.oom.zram_swap:
    size: 2G
    algorithm: lz4
    takeover: true

- name: Say that the device changes at the next boot
  ansible.builtin.debug:
    msg: "{{ zram.reason }}"
  when: zram.pending_reboot
"""

RETURN = r"""
owner:
  description:
    - Who set zram up before the run - V(rock5b) (this module's config), V(zram-generator),
      V(zram-tools), V(armbian-zram-config), V(unknown) (a zram swap nothing explains) or V(none).
  returned: always
  type: str
  sample: zram-tools
owners:
  description: The other owners found, each with its unit, whether it is enabled and active, and its config files.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "zram-tools", "unit": "zramswap.service", "enabled": true, "active": true,
            "config_files": ["/etc/default/zramswap"]}]
managed:
  description: Whether the module set the device up (false - another owner stays, and the options are not applied).
  returned: always
  type: bool
wanted:
  description: The device wanted - size in MiB, algorithm, priority - and RV(rule), how the size was chosen.
  returned: when managed
  type: dict
  sample: {"size_mib": 1950, "algorithm": "zstd", "priority": 100}
rule:
  description: How the size was chosen.
  returned: when managed
  type: str
  sample: 50 % of MemTotal 3901 MiB (tier ram_up_to 8G)
kernel:
  description:
    - Whether the kernel has zram and the algorithm - V(supported) (with the file that says so) or
      V(unknown) (no device and no config found), with a message.
  returned: when managed
  type: dict
action:
  description: What happened live - V(none), V(restart), V(pending_reboot) or V(not_possible).
  returned: always
  type: str
reason:
  description: Why, for a person.
  returned: always
  type: str
live_applied:
  description: Whether the live zram0 is the device wanted after the run.
  returned: always
  type: bool
pending_reboot:
  description: Whether the device wanted waits for a reboot (a swapoff now could OOM the board).
  returned: always
  type: bool
device:
  description: zram0 as read back after the run (size in MiB, algorithm, priority, whether it is swap, used kB), or null.
  returned: always
  type: dict
  sample: {"size_mib": 1950, "algorithm": "zstd", "priority": 100, "swap": true, "used_kb": 0}
disk_swaps:
  description: Swap on disk from /proc/swaps, reported and never touched.
  returned: always
  type: list
  elements: dict
zram_swaps:
  description: zram swap devices in /proc/swaps before the run.
  returned: always
  type: list
  elements: dict
generator_installed:
  description: Whether systemd-zram-generator's generator is on the board.
  returned: always
  type: bool
takeover:
  description: The other owner's units stopped or disabled.
  returned: always
  type: list
  elements: str
masks:
  description: The links to /dev/null written over other generator drop-ins (path, and the file it masks).
  returned: always
  type: list
  elements: dict
before:
  description: Owner, config text and live device before the run.
  returned: always
  type: dict
after:
  description: Owner, config text and live device after the run (in check mode, as predicted).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.rock5b.oom.plugins.module_utils import hostfs, zram_apply
from ansible_collections.rock5b.oom.plugins.module_utils import zram_setups as setups
from ansible_collections.rock5b.oom.plugins.module_utils.errors import failing_on

RESULT_KEYS = ("owner", "owners", "managed", "wanted", "rule", "kernel", "action", "reason", "disk_swaps", "zram_swaps",
               "generator_installed", "takeover", "masks")


def run(module, fs):
    params = module.params
    setups.check_params(params)
    live_before = setups.live_device(fs)
    systemctl, _found, planned = zram_apply.plan(module, fs, params)
    warnings = planned.pop("warnings")
    changed, live = False, live_before
    if planned["managed"]:
        will_change = (planned["config_before"] != planned["config_after"] or planned["takeover"] or planned["masks"]
                       or planned["action"] == "restart")
        if module.check_mode:
            changed = bool(will_change)
            live = dict(planned["wanted"], swap=True, used_kb=0) if planned["action"] == "restart" else live_before
        else:
            changed, live = zram_apply.apply(fs, systemctl, planned)
        if planned["action"] == "pending_reboot":
            warnings.append("zram0 keeps its old settings until the next boot: %s" % planned["reason"])
        elif planned["action"] == "not_possible":
            warnings.append("%s is written, but no device is set up now: %s" % (setups.CONFIG_PATH, planned["reason"]))
        if planned["kernel"]["state"] == "unknown":
            warnings.append(planned["kernel"]["message"])
    else:
        warnings.append(planned["reason"])
    result = dict((key, planned[key]) for key in RESULT_KEYS if key in planned)
    config_after = planned.get("config_after", planned.get("config_before"))
    wanted = planned.get("wanted")
    result.update(
        changed=changed, device=live, pending_reboot=planned["action"] == "pending_reboot",
        live_applied=bool(wanted and live and live.get("swap") and all(live.get(k) == v for k, v in wanted.items())),
        before={"owner": planned["owner"], "config": planned.get("config_before"), "device": live_before},
        after={"owner": "rock5b" if planned["managed"] else planned["owner"], "config": config_after, "device": live})
    if planned["managed"] and planned["config_before"] != planned["config_after"]:
        result["diff"] = {"before_header": setups.CONFIG_PATH, "after_header": setups.CONFIG_PATH,
                          "before": planned["config_before"] or "", "after": planned["config_after"]}
    for warning in warnings:
        module.warn(warning)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            size_tiers=dict(type="list", elements="dict", default=[{"ram_up_to": "8G", "percent": 50},
                                                                   {"ram_up_to": "max", "percent": 25}],
                            options=dict(ram_up_to=dict(type="raw", required=True), percent=dict(type="raw", required=True))),
            size=dict(type="raw"),
            size_max=dict(type="raw", default="8G"),
            algorithm=dict(type="str", choices=list(setups.ALGORITHMS), default="zstd"),
            priority=dict(type="raw", default=100),
            takeover=dict(type="bool", default=False),
            swapoff_margin_mb=dict(type="raw", default=256),
        ),
        supports_check_mode=True,
    )
    with failing_on(module):
        result = run(module, hostfs.host())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
