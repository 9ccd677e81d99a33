# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zram_swap module's plan and its steps on the board, on top of zram_setups (what is there,
the size rule, the config) and systemd (systemctl).

Plan (reads only, the same in check mode): who owns zram; with another owner and no takeover,
nothing more. Otherwise the device wanted, the config, what of the other owner's set-up is
stopped or masked, and what happens live:

* ``none`` - the live zram0 already is the device wanted;
* ``restart`` - (re)start systemd-zram-setup@zram0.service and dev-zram0.swap now; a device in
  use is swapped off by that, so its used swap (and the other owner's) must fit in MemAvailable
  with ``swapoff_margin_mb`` to spare;
* ``pending_reboot`` - it does not fit: a swapoff could OOM the board, so the config is written
  (the other owner's unit disabled, not stopped) and the device changes at the next boot;
* ``not_possible`` - the kernel cannot make the device here (a container: zram-generator makes
  no device there; or the generator is not installed): the config is written, nothing is started.
"""

from __future__ import annotations

import os
import re

from ansible_collections.rock5b.oom.plugins.module_utils import numbers
from ansible_collections.rock5b.oom.plugins.module_utils import zram_setups as setups
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import meminfo
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.files import read_text
from ansible_collections.rock5b.oom.plugins.module_utils.systemd import Systemctl

MASK_DIR = "/etc/systemd/zram-generator.conf.d"
_CMDLINE_OFF = re.compile(r"(?:^|\s)systemd\.zram=(?:0|n|no|false|off)(?:\s|$)", re.I)


def _wanted(params, memtotal_kb):
    size, rule = setups.size_mib(memtotal_kb, params)
    return {"size_mib": size, "algorithm": params["algorithm"], "priority": numbers.whole_number(params["priority"], "priority")}, rule


def _masks(found):
    """The foreign generator files to neutralise on takeover: (path to write, what it replaces).
    A drop-in is masked by a link to /dev/null under /etc (the generator's documented way); the
    /etc main file is replaced by ours; a /run file (main or drop-in) wins over /etc and is refused."""
    masks = []
    for item in found["generator_files"]:
        if not item["effective"] or item["ours"] or not item["sections"]:
            continue
        if item["path"].startswith("/run/"):
            # /run wins over /etc, for the main file and for drop-ins alike: no mask under /etc hides it
            raise ModuleError("takeover: %s is a runtime zram-generator config that wins over %s; remove what writes it, "
                              "then run again; nothing was changed" % (item["path"], setups.CONFIG_PATH))
        if item["kind"] == "dropin":
            masks.append({"path": os.path.join(MASK_DIR, os.path.basename(item["path"])), "masks": item["path"]})
    return masks


def _live_action(fs, params, found, wanted, stops):
    """(action, reason, used_kb) for the device, as the module docstring says."""
    live = setups.live_device(fs)
    if not setups.generator_installed(fs):
        return "not_possible", "systemd-zram-generator is not installed (no %s)" % setups.GENERATOR_BINARIES[0], 0
    if setups.in_container(fs):
        return "not_possible", "the board is a container (/run/systemd/container): zram-generator makes no device there", 0
    current = dict((key, live[key]) for key in wanted) if live else None
    if current == wanted and live["swap"] and not stops:
        return "none", "zram0 is the device wanted", 0
    used = sum(swap["used_kb"] for swap in found["zram_swaps"]) if stops else (live or {}).get("used_kb", 0)
    available = meminfo.read_meminfo(fs.proc).get("MemAvailable", 0)
    margin = numbers.whole_number(params["swapoff_margin_mb"], "swapoff_margin_mb") * 1024
    if used and used + margin > available:
        return "pending_reboot", ("%d kB of swap on zram is in use and MemAvailable is %d kB: a swapoff needs %d kB "
                                  "(with swapoff_margin_mb) and could OOM the board" % (used, available, used + margin)), used
    return "restart", "swapoff of %d kB in use fits in MemAvailable %d kB" % (used, available) if used else "no zram swap in use", used


def plan(module, fs, params):
    """Everything the run will do, read only; see the module docstring."""
    systemctl = Systemctl(module)
    found = setups.detect(fs, systemctl)
    foreign = found["owners"]
    base = {"owner": found["owner"], "owners": foreign, "disk_swaps": found["disk_swaps"], "zram_swaps": found["zram_swaps"],
            "devices": found["devices"], "generator_installed": setups.generator_installed(fs), "warnings": []}
    if _CMDLINE_OFF.search(read_text(fs.proc_path("cmdline")) or ""):
        base["warnings"].append("the kernel command line has systemd.zram=0: zram-generator makes no device at boot")
    if foreign and not params["takeover"]:
        base.update(managed=False, takeover=[], masks=[], action="none", reason=(
            "zram is set up by %s: the inventory's zram settings are not applied (zram_takeover: true takes it over)"
            % ", ".join(owner["name"] for owner in foreign)))
        return systemctl, found, base
    unknown = [owner for owner in foreign if owner["name"] == "unknown"]
    if unknown:
        raise ModuleError("takeover: %s is swap set up by something this module does not know (no zram-generator config, "
                          "zramswap or armbian-zram-config unit); swapoff it and remove what sets it up, then run again; "
                          "nothing was changed" % ", ".join(unknown[0]["devices"]))
    masks = _masks(found)
    stops = [owner for owner in foreign if owner["unit"]]
    wanted, rule = _wanted(params, meminfo.read_meminfo(fs.proc).get("MemTotal", 0))
    kernel = setups.kernel_check(fs, params["algorithm"])
    action, reason, used = _live_action(fs, params, found, wanted, stops)
    # An owner left running by an earlier takeover that had to wait for a reboot (disabled,
    # still active) is not disabled again: nothing would change, so nothing is reported.
    takeover = [owner["unit"] for owner in stops if owner["enabled"] or action == "restart"]
    base.update(managed=True, takeover=takeover, masks=masks, wanted=wanted, rule=rule,
                kernel=kernel, action=action, reason=reason, used_kb=used,
                config_before=fs.read_text(setups.CONFIG_PATH),
                config_after=setups.render_config(wanted["size_mib"], wanted["algorithm"], wanted["priority"]))
    return systemctl, found, base


def _start(systemctl):
    """Restart the setup unit (its swap unit restarts with it) and start the swap; on a failure
    reset both, so no failed unit stays behind, and fail."""
    try:
        systemctl.restart(setups.SETUP_UNIT)
        systemctl.start(setups.SWAP_UNIT)
    except ModuleError as error:
        try:
            systemctl.run(["reset-failed"], [setups.SETUP_UNIT, setups.SWAP_UNIT])
        except ModuleError:
            pass
        raise ModuleError("%s; the config %s is written, the units are reset (journalctl -u %s tells why)" % (
            error.msg, setups.CONFIG_PATH, setups.SETUP_UNIT))


def apply(fs, systemctl, planned):
    """Carry out ``planned`` (a real run): stop or disable the other owner's units, mask its
    generator files, write the config, daemon-reload, start the device. Returns (changed, live)."""
    changed = False
    for unit in planned["takeover"]:
        if planned["action"] == "restart":
            systemctl.start(unit, started=False)
        systemctl.enable(unit, enabled=False)
        changed = True
    for mask in planned["masks"]:
        if mask["path"] == mask["masks"]:
            fs.backup(mask["path"])
        fs.symlink(mask["path"], "/dev/null")
        changed = True
    if planned["config_before"] != planned["config_after"]:
        if planned["config_before"] and not setups.is_ours(planned["config_before"]):
            fs.backup(setups.CONFIG_PATH)
        fs.write_atomic(setups.CONFIG_PATH, planned["config_after"], mode=0o644)
        changed = True
    device_path = fs.sys_path("block", setups.DEVICE)
    if planned["generator_installed"] and (changed or (planned["action"] == "restart" and not os.path.exists(device_path))):
        systemctl.daemon_reload()  # the generator (re)writes the units and makes zram0
    if planned["action"] == "restart":
        if not os.path.exists(device_path):
            planned.update(action="not_possible", reason="the kernel did not make /dev/%s (no zram module?)" % setups.DEVICE)
        else:
            _start(systemctl)
            changed = True
    live = setups.live_device(fs)
    if planned["action"] == "restart":
        got = dict((key, live[key]) for key in planned["wanted"]) if live else None
        if got != planned["wanted"] or not live["swap"]:
            raise ModuleError("zram0 reads back as %r, not the device wanted %r" % (got, planned["wanted"]), live=live)
    return changed, live
