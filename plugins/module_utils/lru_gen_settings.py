# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The multi-gen LRU's settings (``enabled``, ``min_ttl_ms``) as the lru_gen module manages them.

What an operator may ask for (validated before anything is read), the tmpfiles.d file that
persists the values (``w`` lines systemd-tmpfiles-setup.service writes to /sys at every boot),
and the live writes, each read back. The state itself is read by ``procfs.lru_gen``; the
file is written by ``hostfs``; ``batch`` applies the changes in order and undoes them on a
failure.

The kernel keeps ``min_ttl_ms`` in jiffies (mm/vmscan.c: ``msecs_to_jiffies`` on write,
``jiffies_to_msecs`` on read), so a value that is not a whole number of ticks reads back rounded
up to the next tick: 1001 reads 1004 at HZ=250. Such a read-back is the value asked for.
"""

from __future__ import annotations

import os

from ansible_collections.rock5b.oom.plugins.module_utils import numbers, paths
from ansible_collections.rock5b.oom.plugins.module_utils.batch import Change
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError, invalid
from ansible_collections.rock5b.oom.plugins.module_utils.procfs import kernel, lru_gen
from ansible_collections.rock5b.oom.plugins.module_utils.sysctl import conf_target_problem

DEFAULT_PATH = "/etc/tmpfiles.d/rock5b-oom-lru-gen.conf"
# Where systemd-tmpfiles reads *.conf at boot, highest precedence first (tmpfiles.d(5)); a file
# in an earlier directory masks a same-named one in a later directory.
TMPFILES_DIRS = ("/etc/tmpfiles.d", "/run/tmpfiles.d", "/usr/local/lib/tmpfiles.d", "/usr/lib/tmpfiles.d")
# A minute: the working set of the last minute is most of a board's memory; beyond that the
# kernel would OOM-kill at almost any allocation burst. The documented example is 1000.
MIN_TTL_MAX_MS = 60000
# The longest tick of a kernel with HZ >= 100 (arm64 offers 100, 250, 300, 1000): how far up a
# min_ttl_ms value may be rounded by the kernel's jiffies.
TICK_SLACK_MS = 10
SETTINGS = ("enabled", "min_ttl_ms")  # the order of the live writes and of the file's lines
BOARD_DIR = "/sys/kernel/mm/lru_gen"
ROLE_VARIABLES = {"enabled": "mglru_enabled", "min_ttl_ms": "mglru_min_ttl_ms", "path": "mglru_path",
                  "strict_live": "mglru_strict_live"}
HEADER = (
    "# Managed by Ansible (rock5b.oom.lru_gen). Local edits are overwritten on the next run;\n"
    "# set values through the mglru_enabled and mglru_min_ttl_ms variables instead.\n"
    "# The multi-gen LRU's settings: systemd-tmpfiles-setup.service writes them to /sys at every boot.\n"
)


def named(option):
    """An option as messages name it: with its role variable, so a role user finds it too."""
    return "%s (role variable %s)" % (option, ROLE_VARIABLES[option])


def tmpfiles_path_problem(path, name="path"):
    """Why ``path`` is no place for the file, or None: an absolute, normalized path
    (``paths.absolute_problem``) of a ``.conf`` file directly in a directory systemd-tmpfiles
    reads at boot."""
    problem = paths.absolute_problem(path, name)
    if problem:
        return problem
    directory, base = os.path.split(path)
    if directory not in TMPFILES_DIRS or not base.endswith(".conf") or base.startswith(".") or base == ".conf":
        return "%s must be a .conf file directly in %s (where systemd-tmpfiles reads it at boot), got %r" % (
            name, ", ".join(TMPFILES_DIRS), path)
    return None


def validate(params):
    """(desired, path): desired maps each setting to its value (None: leave it); ModuleError
    listing every problem of the options, before anything on the board is read."""
    errors, desired = [], {"enabled": params["enabled"]}
    try:
        ttl = params["min_ttl_ms"]
        desired["min_ttl_ms"] = None if ttl is None else numbers.whole_number(ttl, named("min_ttl_ms"), 0, MIN_TTL_MAX_MS)
    except ModuleError as error:
        errors.append(error.msg)
    path = params["path"]
    problem = tmpfiles_path_problem(path, named("path"))
    if problem:
        errors.append(problem)
    if errors:
        raise invalid(errors)
    return desired, path


def absence_reason(proc_root):
    """Why a board has no /sys/kernel/mm/lru_gen, from its kernel's release."""
    release = kernel.read_release(proc_root)
    version = kernel.parse_release(release)
    if version is not None and version < lru_gen.MGLRU_SINCE:
        why = "kernel %s is older than 6.1, the first with the multi-gen LRU" % release
    elif version is not None:
        why = "kernel %s is built without CONFIG_LRU_GEN" % release
    else:
        why = "the kernel is older than 6.1 or built without CONFIG_LRU_GEN"
    return "%s is absent: %s" % (BOARD_DIR, why)


# --- the file --------------------------------------------------------------------------------
def kernel_text(name, value):
    """What is written to the setting's file in /sys (and on its tmpfiles.d line)."""
    if name == "enabled":
        return "y" if value else "n"
    return str(value)


def render(desired):
    """The tmpfiles.d text holding the settings that are set; None when none is."""
    lines = ["w %s/%s - - - - %s\n" % (BOARD_DIR, name, kernel_text(name, desired[name]))
             for name in SETTINGS if desired[name] is not None]
    return HEADER + "".join(lines) if lines else None


def parse(text):
    """The settings a tmpfiles.d text writes to lru_gen (``w`` lines; later lines for the same
    file are ignored, as systemd-tmpfiles ignores them): name -> the argument as written."""
    found = {}
    for line in (text or "").splitlines():
        fields = line.split(None, 6)
        if len(fields) < 2 or not fields[0].startswith("w") or not fields[1].startswith(BOARD_DIR + "/"):
            continue
        name = fields[1][len(BOARD_DIR) + 1:]
        if name in SETTINGS and name not in found:
            found[name] = fields[6].strip() if len(fields) == 7 else ""
    return found


def file_values(text):
    """The settings of the managed file as the result reports them (bool, int, or the text as written)."""
    values = dict.fromkeys(SETTINGS)
    for name, argument in parse(text).items():
        if name == "enabled":
            values[name] = {"y": True, "n": False}.get(argument.lower(), argument)
        else:
            values[name] = int(argument) if argument.isdigit() else argument
    return values


def managed(text):
    return text is not None and text.startswith(HEADER.splitlines()[0])


def file_plan(fs, path, desired, warnings):
    """(old_text, new_text, action) with action "write", "remove" or None. A file the module did
    not write is never removed (a warning says so); something else at ``path`` fails."""
    problem = conf_target_problem(fs, path)
    if problem:
        raise invalid([problem], what="invalid %s" % named("path"))
    old_text = fs.read_text(path)
    new_text = render(desired)
    if new_text is None:
        if old_text is not None and not managed(old_text):
            warnings.append("%s was not written by rock5b.oom.lru_gen: left as it is" % path)
            return old_text, old_text, None
        return old_text, None, "remove" if fs.lexists(path) else None
    return old_text, new_text, "write" if old_text != new_text else None


def file_change(fs, path, old_text, new_text):
    """Writing (or removing, ``new_text`` None) the file durably; its undo puts the old text back."""
    def apply():
        if new_text is None:
            fs.remove(path)
        else:
            fs.write_atomic(path, new_text, 0o644)

    def undo():
        if old_text is None:
            fs.remove(path)
        else:
            fs.write_atomic(path, old_text, None)
    return Change("file %s" % path, apply, undo)


def boot_conflicts(fs, path, desired):
    """Sentences naming what would stop the file from taking effect at boot: a same-named file in
    an earlier directory (it masks the file), or another file, sorted before it, writing the same
    setting (systemd-tmpfiles applies the first line for a path and ignores the later ones)."""
    directory, base = os.path.split(path)
    asked = set(setting for setting in SETTINGS if desired[setting] is not None)
    found, seen = [], set()
    for other_dir in TMPFILES_DIRS:
        for name in sorted(fs.listdir(other_dir)):
            if not name.endswith(".conf") or name in seen:
                continue
            seen.add(name)
            other = os.path.join(other_dir, name)
            if name == base and other_dir != directory and TMPFILES_DIRS.index(other_dir) < TMPFILES_DIRS.index(directory):
                found.append("%s masks %s at boot (same name, earlier directory)" % (other, path))
            elif name < base:
                for setting in sorted(set(parse(fs.read_text(other))) & asked):
                    found.append("%s writes %s/%s before %s at boot: its value wins" % (other, BOARD_DIR, setting, path))
    return found


# --- live ------------------------------------------------------------------------------------
def write_sysfs(sys_root, name, text):
    """Write ``text`` to the lru_gen file ``name`` (unit tests put a kernel's behaviour here)."""
    with open(lru_gen.lru_gen_path(sys_root, name), "w") as handle:
        handle.write(text + "\n")


def live_writable(sys_root):
    """Whether /sys/kernel/mm/lru_gen can be written (sysfs is mounted read-only in containers)."""
    try:
        if os.statvfs(lru_gen.lru_gen_path(sys_root)).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    return all(os.access(lru_gen.lru_gen_path(sys_root, name), os.W_OK) for name in SETTINGS)


def holds(name, desired, live):
    """Whether the kernel's ``live`` value is ``desired``: the main switch for ``enabled``, the
    value or its rounding up to the kernel's tick for ``min_ttl_ms``."""
    if desired is None:
        return True
    if name == "enabled":
        return live is desired
    if live is None or desired == 0:
        return live == desired  # 0 is 0 ticks: the protection is off, exactly
    return desired <= live < desired + TICK_SLACK_MS


def live_change(sys_root, name, desired, before):
    """Writing one setting and reading it back; a refusal or another value read back puts the
    kernel's old value back (``before``: the lru_gen state) and fails the change."""
    old_text = before["enabled_mask"] if name == "enabled" else str(before["min_ttl_ms"])
    path = "%s/%s" % (BOARD_DIR, name)

    def apply():
        try:
            write_sysfs(sys_root, name, kernel_text(name, desired))
        except OSError as error:
            raise ModuleError("the kernel refused %s = %s: %s" % (path, kernel_text(name, desired), error.strerror or error))
        readback = lru_gen.read_lru_gen(sys_root)
        if not holds(name, desired, readback[name]):
            problem = "the kernel holds %s = %s after writing %s" % (
                path, readback["enabled_mask"] if name == "enabled" else readback[name], kernel_text(name, desired))
            try:
                write_sysfs(sys_root, name, old_text)
            except OSError:
                problem += "; and it could not be restored to %s" % old_text
            raise ModuleError(problem)
    return Change("live %s" % path, apply, lambda: write_sysfs(sys_root, name, old_text), live=True)
