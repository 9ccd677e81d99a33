# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sysctl settings as the kernel and systemd-sysctl see them.

Reads and writes /proc/sys and reads the sysctl.d configuration files. The /proc/sys functions
take the root of /proc (``proc_root``), the configuration functions the board's file system (a
hostfs.HostFS ``fs``), so unit tests run them against fake trees and modules against the real
ones.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat

# Directories systemd-sysctl reads, highest precedence first: a file in an earlier directory
# masks a file of the same name in a later one; the surviving files are applied sorted by name,
# so a later name overrides an earlier one (sysctl.d(5)).
CONFIG_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
# procps' `sysctl --system` reads this last; Debian up to 12 also links it in as
# /etc/sysctl.d/99-sysctl.conf, which sorts after 99-oom-rock5b.conf. Debian 13 dropped it.
LEGACY_FILE = "/etc/sysctl.conf"
# Where a managed profile may live: the directories systemd-sysctl reads on every distribution
# the collection supports (/lib/sysctl.d is only read on split-/usr systems, and is /usr/lib
# on merged ones). A file in /run/sysctl.d is read at boot only if something recreates it.
PROFILE_DIRS = CONFIG_DIRS[:4]
# systemd-sysctl skips hidden and backup files and reads only *.conf; the name stays portable.
CONF_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*\.conf$")


def normalize_key(key):
    """Return ``key`` in dotted form (``vm/min_free_kbytes`` -> ``vm.min_free_kbytes``)."""
    key = key.strip()
    slash, dot = key.find("/"), key.find(".")
    if slash != -1 and (dot == -1 or slash < dot):
        key = key.replace("/", ".")
    return key


def normalize_value(value):
    """Return ``value`` as the kernel prints it, with runs of white space folded to one space."""
    return " ".join(str(value).split())


def proc_sys_path(proc_root, key):
    """Path of ``key`` under ``proc_root``/sys."""
    return os.path.join(proc_root, "sys", *normalize_key(key).split("."))


def key_exists(proc_root, key):
    return os.path.isfile(proc_sys_path(proc_root, key))


def read_live(proc_root, key):
    """The kernel's current value of ``key``, normalized, or None when the kernel lacks it."""
    try:
        with open(proc_sys_path(proc_root, key)) as handle:
            return normalize_value(handle.read())
    except FileNotFoundError:
        return None


def write_live(proc_root, key, value):
    """Write ``value`` to ``key``; raises OSError as the kernel answers (EINVAL, EROFS, EACCES)."""
    with open(proc_sys_path(proc_root, key), "w") as handle:
        handle.write("%s\n" % value)


def live_writable(proc_root, keys=()):
    """Whether ``keys`` can be written under /proc/sys (it is mounted read-only in containers).

    Checks the mount flag, then each key's own file: procfs refuses writes to the /proc/sys
    directories themselves (mode r-xr-xr-x, even for root), so a directory says nothing.
    """
    try:
        if os.statvfs(os.path.join(proc_root, "sys")).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    return all(os.access(proc_sys_path(proc_root, key), os.W_OK) for key in keys)


def conf_path_problem(path):
    """Why ``path`` is no place for a managed profile, or None when it is.

    The rule: an absolute path that, normalized (``os.path.normpath``), is a ``*.conf`` file
    directly inside one of PROFILE_DIRS, so systemd-sysctl reads it at boot. Use the normalized
    path once this returns None.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        return "must be an absolute path, got %r" % (path,)
    normalized = os.path.normpath(path)
    directory, name = os.path.split(normalized)
    if not CONF_NAME_PATTERN.match(name):
        return ("%r: the file name must end in .conf (letters, digits, _ @ + - and dots, not "
                "starting with a dot), as systemd-sysctl reads only those" % path)
    if directory not in PROFILE_DIRS:
        return ("%r is %s, which is not directly in a directory systemd-sysctl reads at boot (%s)"
                % (path, normalized, ", ".join(PROFILE_DIRS)))
    return None


def conf_target_problem(fs, path):
    """What on the board stands in the way of writing the file ``path``, or None.

    A directory or special file at ``path``, or something other than a directory where its
    directory should be.
    """
    directory = os.path.dirname(path)
    if fs.lexists(directory) and not fs.isdir(directory):
        return "%s is not a directory on the board, so %s cannot be written" % (directory, path)
    info = fs.lstat(path)
    if info is None or stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
        return None
    if stat.S_ISDIR(info.st_mode):
        return "%s is a directory on the board; remove it or choose another file" % path
    return "%s is not a regular file on the board" % path


def parse_conf(text):
    """Parse sysctl.d text into a list of dicts: line, key, value, ignore_errors.

    Follows sysctl.d(5): ``#`` and ``;`` start comments, a leading ``-`` on the key means
    failures to set it are ignored, keys may use ``/`` or ``.`` and may hold globs.
    Lines without ``=`` are ignored, as systemd-sysctl ignores them (with a warning).
    """
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        ignore = key.startswith("-")
        entries.append({
            "line": number,
            "key": normalize_key(key.lstrip("-")),
            "value": normalize_value(value),
            "ignore_errors": ignore,
        })
    return entries


def read_conf(fs, path):
    """Parsed entries of the board's file ``path``; None when it does not exist."""
    text = fs.read_text(path)
    return None if text is None else parse_conf(text)


def conf_values(entries):
    """The value each key ends with in one file (a later line wins)."""
    values = {}
    for entry in entries or []:
        values[entry["key"]] = entry["value"]
    return values


def render_conf(settings, header):
    """The managed file's text: the header, then one sorted ``key = value`` line per setting."""
    lines = ["# %s" % line if line else "#" for line in header.splitlines()]
    lines += ["%s = %s" % (key, settings[key]) for key in sorted(settings)]
    return "\n".join(lines) + "\n"


def config_files(fs, extra=None):
    """The sysctl configuration files in the order they are applied at boot.

    Returns a list of dicts (path, name, masked_by) where ``path`` is absolute on the target
    system. ``extra`` names a file to place in the order even if it does not exist yet (the
    managed file before its first write). /etc/sysctl.conf comes last, as procps reads it.
    """
    chosen, masked = {}, []
    candidates = []
    for directory in CONFIG_DIRS:
        names = sorted(fs.listdir(directory))
        candidates += [(directory, name) for name in names if name.endswith(".conf")]
    if extra:
        candidates.append((os.path.dirname(extra), os.path.basename(extra)))
    rank = dict((directory, index) for index, directory in enumerate(CONFIG_DIRS))
    for directory, name in candidates:
        path = os.path.join(directory, name)
        current = chosen.get(name)
        if current is None:
            chosen[name] = path
        elif rank.get(directory, len(CONFIG_DIRS)) < rank.get(os.path.dirname(current), len(CONFIG_DIRS)):
            masked.append({"path": current, "masked_by": path})
            chosen[name] = path
        elif path != current:
            masked.append({"path": path, "masked_by": current})
    ordered = [{"path": chosen[name], "name": name} for name in sorted(chosen)]
    legacy = fs.path(LEGACY_FILE)
    seen = set(os.path.realpath(fs.path(entry["path"])) for entry in ordered)
    if os.path.isfile(legacy) and os.path.realpath(legacy) not in seen:
        ordered.append({"path": LEGACY_FILE, "name": os.path.basename(LEGACY_FILE)})
    return ordered, masked


def find_overrides(fs, managed_path, desired):
    """Files that would override a managed key at boot, and with what.

    A file overrides when it is applied after ``managed_path`` and sets a managed key (directly
    or through a glob) to another value, or when it masks ``managed_path`` by name.
    Returns a list of dicts: path, key, value, reason.
    """
    ordered, masked = config_files(fs, extra=managed_path)
    overrides = [
        {"path": item["masked_by"], "key": "*", "value": None,
         "reason": "masks %s: a file of the same name in a directory of higher precedence" % managed_path}
        for item in masked if item["path"] == managed_path
    ]
    paths = [entry["path"] for entry in ordered]
    if managed_path not in paths:
        return overrides
    for entry in ordered[paths.index(managed_path) + 1:]:
        for item in read_conf(fs, entry["path"]) or []:
            for key in sorted(desired):
                if fnmatch.fnmatchcase(key, item["key"]) and item["value"] != desired[key]:
                    overrides.append({
                        "path": entry["path"], "line": item["line"], "key": key,
                        "value": item["value"],
                        "reason": "applied after %s, sets %s = %s" % (managed_path, key, item["value"]),
                    })
    return overrides


def override_findings(overrides, managed_path):
    """One sentence per override from ``find_overrides``: the key, the file and its line, and
    what it sets - what an audit lists as drift, since the board boots with that value."""
    findings = []
    for item in overrides:
        if item["key"] == "*":
            findings.append("%s is not applied at boot: %s masks it (a file of the same name in a "
                            "directory of higher precedence)" % (managed_path, item["path"]))
        else:
            findings.append("%s is overridden at boot: %s line %s sets %s = %s after %s" % (
                item["key"], item["path"], item.get("line", "?"), item["key"], item["value"], managed_path))
    return findings
