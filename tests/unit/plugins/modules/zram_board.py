"""A fake board for rock5b.oom.zram_swap: /proc/swaps, /sys/block/zram0 and a systemctl that
acts as systemd and zram-generator would (daemon-reload makes zram0 unless the board is a
container; restarting systemd-zram-setup@zram0 sets it up from the config and swaps on it;
stopping zramswap.service swaps its device off and resets it)."""

from __future__ import annotations

import os
import re

AVAILABLE = ["lzo", "lzo-rle", "lz4", "zstd"]
GENERATOR = "/usr/lib/systemd/system-generators/zram-generator"
CONFIG = "/etc/systemd/zram-generator.conf"
SETUP, SWAP = "systemd-zram-setup@zram0.service", "dev-zram0.swap"


class ZramBoard:
    def __init__(self, host):
        self.host = host
        self.units = {}  # name -> {"enabled": bool, "active": bool}
        self.calls = []
        self.fail = None  # a verb that fails
        self.swaps = []  # (path, size_kb, used_kb, priority)
        self.write_swaps()

    # --- the board ---------------------------------------------------------------------------
    def sys(self, *parts):
        return os.path.join(self.host.root, "sys", "block", *parts)

    def write_swaps(self):
        lines = ["Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"]
        lines += ["%s\t%s\t%d\t%d\t%d" % (path, "partition", size, used, prio) for path, size, used, prio in self.swaps]
        with open(os.path.join(self.host.proc, "swaps"), "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def make_device(self, size_mib=0, algorithm="lzo-rle"):
        os.makedirs(self.sys("zram0"), exist_ok=True)
        with open(self.sys("zram0", "disksize"), "w") as handle:
            handle.write("%d\n" % (size_mib << 20))
        with open(self.sys("zram0", "comp_algorithm"), "w") as handle:
            handle.write(" ".join("[%s]" % a if a == algorithm else a for a in AVAILABLE) + "\n")

    def swap_on(self, size_mib, used_kb=0, priority=100, path="/dev/zram0"):
        self.swaps = [s for s in self.swaps if s[0] != path] + [(path, size_mib * 1024, used_kb, priority)]
        self.write_swaps()

    def swap_off(self, path="/dev/zram0"):
        self.swaps = [s for s in self.swaps if s[0] != path]
        self.write_swaps()

    def install_generator(self):
        self.host.write(GENERATOR, "")

    def container(self):
        self.host.write("/run/systemd/container", "podman\n")

    def zram_tools(self, used_kb=0, size_mib=1024):
        """zram-tools set up and running: zramswap.service enabled and active, its swap on zram0."""
        self.host.write("/etc/default/zramswap", "ALGO=lz4\nPERCENT=50\n")
        self.units["zramswap.service"] = {"enabled": True, "active": True}
        self.make_device(size_mib, "lz4")
        self.swap_on(size_mib, used_kb, priority=100)

    # --- systemctl ---------------------------------------------------------------------------
    def config(self):
        text = self.host.read(CONFIG) if self.host.exists(CONFIG) else ""
        return dict(re.findall(r"^([a-z-]+) = (\S+)$", text, re.M))

    def run_command(self, args, **_kwargs):
        self.calls.append(list(args))
        verb, units = args[1], [arg for arg in args[2:] if arg != "--"]
        if verb == self.fail:
            return 1, "", "Job for %s failed." % units[0]
        handler = getattr(self, "_" + verb.replace("-", "_"))
        return handler(units)

    def _show(self, units):
        unit = self.units.get(units[-1])
        if unit is None:
            return 0, "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n", ""
        return 0, "LoadState=loaded\nActiveState=%s\nUnitFileState=%s\n" % (
            "active" if unit["active"] else "inactive", "enabled" if unit["enabled"] else "disabled"), ""

    def _daemon_reload(self, _units):
        if self.host.exists(GENERATOR) and not self.host.exists("/run/systemd/container") and self.config():
            self.units.setdefault(SETUP, {"enabled": False, "active": False})
            self.units.setdefault(SWAP, {"enabled": True, "active": False})
            if not os.path.isdir(self.sys("zram0")):
                self.make_device()
        return 0, "", ""

    def _restart(self, units):
        if units[0] != SETUP or SETUP not in self.units:
            return 5, "", "Unit %s not found." % units[0]
        config = self.config()
        self.swap_off()
        self.make_device(int(config["zram-size"]), config["compression-algorithm"])
        self.swap_on(int(config["zram-size"]), 0, int(config["swap-priority"]))
        self.units[SETUP]["active"] = self.units[SWAP]["active"] = True
        return 0, "", ""

    def _start(self, units):
        if units[0] not in self.units:
            return 5, "", "Unit %s not found." % units[0]
        self.units[units[0]]["active"] = True
        return 0, "", ""

    def _stop(self, units):
        self.units[units[0]]["active"] = False
        if units[0] == "zramswap.service":
            self.swap_off()
            self.make_device(0, "lzo-rle")
        return 0, "", ""

    def _enable(self, units):
        self.units[units[0]]["enabled"] = True
        return 0, "", ""

    def _disable(self, units):
        self.units[units[0]]["enabled"] = False
        return 0, "", ""

    def _reset_failed(self, _units):
        return 0, "", ""

    def verbs(self):
        return [" ".join(call[1:]).replace(" -- ", " ") for call in self.calls if call[1] != "show"]
