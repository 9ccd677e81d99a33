# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zram swap on a board: who sets it up, how big it should be, what the kernel can compress
with, and the systemd-zram-generator config the zram_swap module writes.

The set-ups Rock 5B+ images ship, and how each is recognised (read only, nothing run but
``systemctl show``):

* ``zram-generator`` - Debian's systemd-zram-generator: a ``[zramN]`` section in
  ``zram-generator.conf`` (``/run``, ``/etc``, ``/usr/local/lib``, ``/usr/lib`` under ``systemd/``,
  the first found wins) or in a ``zram-generator.conf.d/*.conf`` drop-in (not masked by a link to
  /dev/null). The file this collection writes (its header) is ``rock5b``, not a foreign owner;
  neither is the package's own default config while dpkg's recorded md5sum still matches it.
* ``zram-tools`` - Debian's zramswap: ``zramswap.service`` enabled or active (its settings in
  ``/etc/default/zramswap``).
* ``armbian-zram-config`` - Armbian's: ``armbian-zram-config.service`` enabled or active
  (``/etc/default/armbian-zram-config``).
* ``unknown`` - a zram device used as swap (/proc/swaps) that none of these explains.

Swap on disk is listed and never touched. The size rule, the config and the algorithm check
are pure functions of what was read, so the unit tests run them on fake trees.
"""

from __future__ import annotations

import os
import re

from ansible_collections.rock5b.oom.plugins.module_utils import dpkg_conffiles, numbers
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import kernel, meminfo, pressure, sizes, zram

DEVICE = "zram0"
PACKAGE = "systemd-zram-generator"
CONFIG_PATH = "/etc/systemd/zram-generator.conf"
SETUP_UNIT = "systemd-zram-setup@zram0.service"
SWAP_UNIT = "dev-zram0.swap"
# zram-generator's main config, the first found wins (its README); /lib for unmerged /usr.
GENERATOR_DIRS = ("/run/systemd", "/etc/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd", "/lib/systemd")
GENERATOR_BINARIES = ("/usr/lib/systemd/system-generators/zram-generator", "/lib/systemd/system-generators/zram-generator")
HEADER = ("# Managed by Ansible (rock5b.oom.zram). Local edits are overwritten on the next run;\n"
          "# set the device through the zram_* variables instead.\n")
MARKER = "# Managed by Ansible (rock5b.oom.zram)"
# Other set-ups managed by a unit: name -> (unit, its settings file).
UNIT_OWNERS = (("zram-tools", "zramswap.service", "/etc/default/zramswap"),
               ("armbian-zram-config", "armbian-zram-config.service", "/etc/default/armbian-zram-config"))
ALGORITHMS = ("zstd", "lz4", "lzo-rle", "lzo")
# Which kernel option builds each algorithm: before 6.12 zram compresses through the crypto API
# (CONFIG_CRYPTO_*, crypto/lzo-rle.c is built with CONFIG_CRYPTO_LZO); from 6.12 through
# backends of its own (drivers/block/zram/Kconfig: CONFIG_ZRAM_BACKEND_*).
CRYPTO_OPTIONS = {"zstd": "CONFIG_CRYPTO_ZSTD", "lz4": "CONFIG_CRYPTO_LZ4", "lzo-rle": "CONFIG_CRYPTO_LZO", "lzo": "CONFIG_CRYPTO_LZO"}
BACKEND_OPTIONS = {"zstd": "CONFIG_ZRAM_BACKEND_ZSTD", "lz4": "CONFIG_ZRAM_BACKEND_LZ4",
                   "lzo-rle": "CONFIG_ZRAM_BACKEND_LZO", "lzo": "CONFIG_ZRAM_BACKEND_LZO"}
BACKENDS_SINCE = (6, 12)
KERNEL_OPTIONS = ("CONFIG_ZRAM",) + tuple(sorted(set(CRYPTO_OPTIONS.values()) | set(BACKEND_OPTIONS.values())))
PRIORITY_RANGE = (-1, 32767)  # swap-priority as zram-generator takes it
PERCENT_RANGE = (1, 200)
MIB = 1 << 20
SIZE_STEP_MIB = 64
_SECTION = re.compile(r"^\s*\[(zram[0-9]+)\]\s*$")


# --- options ---------------------------------------------------------------------------------
def checked_size(value, name, allow_max):
    """(bytes or MAX, None) for a zram size of at least 1M, else (None, why)."""
    try:
        parsed = sizes.parse_size(value, name)
    except sizes.SizeError as error:
        return None, str(error)
    if parsed == sizes.MAX and not allow_max:
        return None, "%s: %r: a size is needed here, not max" % (name, value)
    if parsed != sizes.MAX and parsed < MIB:
        return None, "%s: %r is below 1M" % (name, value)
    return parsed, None


def tier_problems(tiers):
    """Every problem of a size_tiers list: its shape, each ram_up_to and percent, a ram_up_to given twice."""
    problems, seen = [], set()
    if not isinstance(tiers, list):
        return ["size_tiers: must be a list of {ram_up_to, percent}"]
    for index, tier in enumerate(tiers):
        name = "size_tiers[%d]" % index
        if not isinstance(tier, dict) or set(tier) != {"ram_up_to", "percent"}:
            problems.append("%s: must be a mapping with exactly ram_up_to and percent, got %r" % (name, tier))
            continue
        limit, problem = checked_size(tier["ram_up_to"], name + ".ram_up_to", True)
        try:
            numbers.whole_number(tier["percent"], name + ".percent", *PERCENT_RANGE)
        except ModuleError as error:
            problems.append(error.msg)
        if problem:
            problems.append(problem)
        elif limit in seen:
            problems.append("%s.ram_up_to: %r is given twice" % (name, tier["ram_up_to"]))
        seen.add(limit)
    return problems


def check_params(params):
    """Every problem of the module's options at once (each naming its option), before anything
    is read; raises ModuleError ("nothing was changed")."""
    problems = []
    if params.get("size") not in (None, ""):
        problems += [problem for problem in [checked_size(params["size"], "size", False)[1]] if problem]
    elif not params.get("size_tiers"):
        problems.append("size_tiers: give at least one tier (or a fixed size)")
    problems += tier_problems(params.get("size_tiers") or [])
    problems += [problem for problem in [checked_size(params.get("size_max"), "size_max", True)[1]] if problem]
    for option, low, high in (("priority",) + PRIORITY_RANGE, ("swapoff_margin_mb", 0, 1 << 20)):
        try:
            numbers.whole_number(params.get(option), option, low, high)
        except ModuleError as error:
            problems.append(error.msg)
    if problems:
        raise ModuleError("invalid arguments, nothing was changed: %s" % "; ".join(problems), errors=problems)


# --- the size rule ---------------------------------------------------------------------------
def _tier_key(tier):
    limit = sizes.parse_size(tier["ram_up_to"])
    return (1, 0) if limit == sizes.MAX else (0, limit)


def size_mib(memtotal_kb, params):
    """(size in MiB, how it was chosen) for a board with ``memtotal_kb`` of RAM: the fixed
    ``size``, else the percent of the first tier (by ram_up_to) whose ram_up_to is at least
    MemTotal (a board bigger than every tier takes the last one) rounded down to 64 MiB, capped
    at ``size_max``."""
    if params.get("size") not in (None, ""):
        wanted = sizes.parse_size(params["size"]) // MIB
        rule = "fixed size %s" % params["size"]
    else:
        tiers = sorted(params["size_tiers"], key=_tier_key)
        tier = next((t for t in tiers if _tier_key(t) >= (0, memtotal_kb * 1024)), tiers[-1])
        percent = numbers.whole_number(tier["percent"], "percent")
        wanted = memtotal_kb * percent // 100 // 1024
        # in steps of 64 MiB: MemTotal moves by a few MiB with a kernel update, which must not
        # rewrite the config and swapoff a device in use for a size that did not really change
        wanted -= wanted % SIZE_STEP_MIB if wanted >= SIZE_STEP_MIB else 0
        rule = "%d %% of MemTotal %d MiB (tier ram_up_to %s)" % (percent, memtotal_kb // 1024, tier["ram_up_to"])
    cap = sizes.parse_size(params["size_max"])
    if cap != sizes.MAX and wanted > cap // MIB:
        wanted, rule = cap // MIB, rule + ", capped at size_max %s" % params["size_max"]
    if wanted < 1:
        raise ModuleError("the zram size comes out below 1 MiB (%s), nothing was changed" % rule)
    return wanted, rule


# --- the config ------------------------------------------------------------------------------
def render_config(size, algorithm, priority):
    """The generator config of one swap device, zram0 (zram-size in MiB)."""
    return "%s[%s]\nzram-size = %d\ncompression-algorithm = %s\nswap-priority = %d\n" % (
        HEADER, DEVICE, size, algorithm, priority)


def is_ours(text):
    return bool(text) and text.startswith(MARKER)


def zram_sections(text):
    """The ``[zramN]`` sections a generator config defines."""
    return sorted(set(match.group(1) for match in map(_SECTION.match, (text or "").splitlines()) if match))


def generator_files(fs):
    """Every zram-generator config file: dicts path, kind (main or dropin), masked (a link to
    /dev/null), effective (the main file that wins, or an unmasked drop-in), ours, sections."""
    found, seen, main_won, dropin_names = [], set(), False, set()
    for directory in GENERATOR_DIRS:
        real = os.path.realpath(fs.path(directory))
        if real in seen:
            continue  # /lib/systemd on merged /usr
        seen.add(real)
        main = os.path.join(directory, "zram-generator.conf")
        if fs.lexists(main):
            masked = fs.islink(main) and fs.readlink(main) == "/dev/null"
            text = None if masked else fs.read_text(main)
            found.append({"path": main, "kind": "main", "masked": masked, "effective": not masked and not main_won,
                          "ours": is_ours(text), "sections": zram_sections(text),
                          "package_default": dpkg_conffiles.is_package_default(fs, main, text, PACKAGE)})
            main_won = main_won or not masked
        dropins = os.path.join(directory, "zram-generator.conf.d")
        for name in sorted(fs.listdir(dropins)):
            path = os.path.join(dropins, name)
            if not name.endswith(".conf"):
                continue
            masked = fs.islink(path) and fs.readlink(path) == "/dev/null"
            text = None if masked else fs.read_text(path)
            found.append({"path": path, "kind": "dropin", "masked": masked, "effective": not masked and name not in dropin_names,
                          "ours": False, "sections": zram_sections(text), "package_default": False})
            dropin_names.add(name)  # the same name further down is masked by this one
    return found


# --- who owns zram ---------------------------------------------------------------------------
def unit_owner(systemctl, name, unit, config, fs):
    props = systemctl.show(unit, ["LoadState", "ActiveState", "UnitFileState"])
    enabled = props.get("UnitFileState", "") in ("enabled", "enabled-runtime")
    active = props.get("ActiveState", "") in ("active", "activating", "reloading")
    if props.get("LoadState") != "loaded" or not (enabled or active):
        return None
    return {"name": name, "unit": unit, "enabled": enabled, "active": active,
            "config_files": [config] if fs.exists(config) else []}


def detect(fs, systemctl):
    """What sets zram up on the board: dict(owner, owners, ours, generator_files, zram_swaps,
    disk_swaps, devices). ``owner`` is the first foreign owner's name, else ``unknown`` (a zram
    swap nothing explains), ``rock5b`` (the collection's config) or ``none``; ``owners`` lists
    the foreign ones with what makes them (units, config files)."""
    swaps = meminfo.read_swaps(fs.proc)
    files = generator_files(fs)
    ours = any(f["ours"] and f["effective"] for f in files)
    # Debian's systemd-zram-generator ships a config that makes a zram0 (50 % of RAM, at most
    # 4 GiB): untouched, it is the package's default, which the role's config replaces, not
    # somebody's set-up to adopt.
    foreign_files = [f for f in files if f["effective"] and not f["ours"] and not f["package_default"] and f["sections"]]
    owners = []
    if foreign_files:
        owners.append({"name": "zram-generator", "unit": None, "enabled": True, "active": None,
                       "config_files": [f["path"] for f in foreign_files]})
    for name, unit, config in UNIT_OWNERS:
        owner = unit_owner(systemctl, name, unit, config, fs)
        if owner:
            owners.append(owner)
    zram_swaps = [swap for swap in swaps if swap["zram"]]
    package_default = any(f["package_default"] and f["effective"] for f in files)
    explained = owners or ((ours or package_default) and all(os.path.basename(s["path"]) == DEVICE for s in zram_swaps))
    if zram_swaps and not explained:
        owners.append({"name": "unknown", "unit": None, "enabled": None, "active": True, "config_files": [],
                       "devices": [swap["path"] for swap in zram_swaps]})
    owner = owners[0]["name"] if owners else ("rock5b" if ours else "none")
    return {"owner": owner, "owners": owners, "ours": ours, "generator_files": files,
            "zram_swaps": zram_swaps, "disk_swaps": [swap for swap in swaps if not swap["zram"]],
            "devices": zram.read_zram(fs.sys, swaps)}


# --- what the kernel can do ------------------------------------------------------------------
def _built(value):
    return value in ("y", "m")


def kernel_check(fs, algorithm):
    """dict(state, release, source, message) of whether the kernel has zram and ``algorithm``:
    the live zram0's comp_algorithm list when the device exists, else the running kernel's
    config (/proc/config.gz, /boot/config-<release>); state ``unknown`` when neither is found
    (the module goes on and says so). Raises ModuleError, before any write, when it lacks them."""
    release = kernel.read_release(fs.proc) or ""
    listed = zram.read_available_algorithms(fs.sys, DEVICE)
    if listed:
        if algorithm not in listed:
            raise ModuleError("algorithm %s: the kernel's zram does not offer it (/sys/block/%s/comp_algorithm lists %s), "
                              "nothing was changed" % (algorithm, DEVICE, " ".join(listed)))
        return {"state": "supported", "release": release, "source": "/sys/block/%s/comp_algorithm" % DEVICE,
                "message": "%s offers %s" % (DEVICE, algorithm)}
    config = pressure.kernel_config(fs.proc, fs.root, "/boot", names=KERNEL_OPTIONS)
    if config is None:
        return {"state": "unknown", "release": release, "source": None, "message": (
            "no zram device and no config of the running kernel %s (/proc/config.gz, /boot/config-%s): whether it has "
            "zram and %s is unknown; the config is written without knowing" % (release or "(unreadable)", release, algorithm))}
    if not _built(config.get("CONFIG_ZRAM")):
        raise ModuleError("the running kernel %s is built without zram (%s: CONFIG_ZRAM is not set), nothing was changed"
                          % (release, config["source"]))
    backends = kernel.parse_release(release) is not None and kernel.parse_release(release) >= BACKENDS_SINCE
    option = (BACKEND_OPTIONS if backends else CRYPTO_OPTIONS)[algorithm]
    if not _built(config.get(option)):
        raise ModuleError("algorithm %s: the running kernel %s is built without it (%s: %s is not set), nothing was "
                          "changed; choose one of %s" % (algorithm, release, config["source"], option, ", ".join(
                              a for a in ALGORITHMS if _built(config.get((BACKEND_OPTIONS if backends else CRYPTO_OPTIONS)[a])))
                              or "none: this kernel has no zram compressor"))
    return {"state": "supported", "release": release, "source": config["source"],
            "message": "%s is built with CONFIG_ZRAM=%s and %s=%s" % (release, config["CONFIG_ZRAM"], option, config[option])}


def generator_installed(fs):
    return any(fs.exists(path) for path in GENERATOR_BINARIES)


def in_container(fs):
    """systemd writes /run/systemd/container when PID 1 runs in one (zram-generator then makes
    no device: it asks systemd-detect-virt --container)."""
    return fs.exists("/run/systemd/container")


def live_device(fs):
    """zram0 as the kernel holds it now: dict(size_mib, algorithm, priority, swap, used_kb), or None."""
    swaps = meminfo.read_swaps(fs.proc)
    device = next((d for d in zram.read_zram(fs.sys, swaps) if d["device"] == DEVICE), None)
    if device is None:
        return None
    swap = next((s for s in swaps if os.path.basename(s["path"]) == DEVICE), None)
    return {"size_mib": (device["disksize_kb"] or 0) // 1024, "algorithm": device["comp_algorithm"],
            "priority": swap["priority"] if swap else None, "swap": swap is not None,
            "used_kb": swap["used_kb"] if swap else 0}
