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

from ansible_collections.rock5b.oom.plugins.module_utils import systemd
from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError

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
# procps' `sysctl --system` reads this last; systemd-sysctl never reads it, only a link to it
# in CONFIG_DIRS: Debian 12's procps ships /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf (a
# name that sorts after 99-oom-rock5b.conf); Debian 13's ships neither the link nor the file.
LEGACY_FILE = "/etc/sysctl.conf"
# What applies the files at boot: systemd's unit, or procps' init script (sysvinit, or under
# systemd when no procps.service unit replaces it: Debian's systemd aliases it to the unit).
SYSTEMD_SYSCTL_UNIT = "systemd-sysctl.service"
PROCPS_UNIT = "procps.service"
PROCPS_SCRIPT = "/etc/init.d/procps"
# Symbolic links followed from a sysctl.d entry before giving up (systemd's chase() follows 32).
MAX_LINK_HOPS = 32
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


def boot_reader(fs):
    """Which program applies the sysctl files at boot on this board, decided from its files.

    Returns dict(reader, reads_sysctl_conf, why). systemd-sysctl reads only the sysctl.d
    directories; procps' ``sysctl --system`` (its /etc/init.d/procps script) reads them and then
    /etc/sysctl.conf. Under systemd the script runs only when no procps.service unit replaces it
    (Debian's systemd ships procps.service as an alias of systemd-sysctl.service).
    """
    unit = systemd.resolve_unit(fs, SYSTEMD_SYSCTL_UNIT)
    script = fs.exists(PROCPS_SCRIPT) and not fs.isdir(PROCPS_SCRIPT)
    if unit["exists"] and not unit["masked"]:
        if script and not systemd.resolve_unit(fs, PROCPS_UNIT)["exists"]:
            return {"reader": "systemd-sysctl+procps", "reads_sysctl_conf": True,
                    "why": "%s applies the sysctl.d files, then %s (no %s unit replaces it) runs `sysctl --system`, "
                           "which reads %s last" % (SYSTEMD_SYSCTL_UNIT, PROCPS_SCRIPT, PROCPS_UNIT, LEGACY_FILE)}
        return {"reader": "systemd-sysctl", "reads_sysctl_conf": False,
                "why": "%s applies the sysctl.d files; it does not read %s itself" % (SYSTEMD_SYSCTL_UNIT, LEGACY_FILE)}
    absent = "is masked" if unit["masked"] else "is not installed"
    if script:
        return {"reader": "procps", "reads_sysctl_conf": True,
                "why": "%s %s; %s runs `sysctl --system`, which reads %s last" % (
                    SYSTEMD_SYSCTL_UNIT, absent, PROCPS_SCRIPT, LEGACY_FILE)}
    return {"reader": "systemd-sysctl", "reads_sysctl_conf": False,
            "why": "%s %s and there is no %s: systemd-sysctl's search path is assumed" % (
                SYSTEMD_SYSCTL_UNIT, absent, PROCPS_SCRIPT)}


def link_target(fs, path):
    """Where the board's ``path`` leads through symbolic links (resolved under the board's root,
    so an absolute link stays on the board); ``path`` itself when it is no link, None for a loop."""
    seen = [path]
    while fs.islink(path):
        try:
            link = fs.readlink(path)
        except OSError:
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(path), link))
        if path in seen or len(seen) > MAX_LINK_HOPS:
            return None
        seen.append(path)
    return path


def _search_dirs(fs):
    """CONFIG_DIRS that exist as their own directory: /lib/sysctl.d is /usr/lib/sysctl.d where /usr is
    merged, and a directory read twice is read once. Yields (directory, None) or (directory, why not)."""
    real = {}
    for directory in CONFIG_DIRS:
        resolved = os.path.realpath(fs.path(directory))
        if resolved in real:
            yield directory, "the same directory as %s" % real[resolved]
            continue
        real[resolved] = directory
        yield directory, None


def boot_files(fs, extra=None):
    """Every sysctl configuration file on the board, and why it is or is not applied at boot.

    The one place for the path rules (sysctl.d(5); sysctl.conf(5) for procps): ``*.conf`` files,
    not hidden, in CONFIG_DIRS; a name in an earlier directory masks the same name in a later one
    (a link to /dev/null masks and sets nothing); the survivors apply sorted by file name, then
    /etc/sysctl.conf when ``boot_reader`` says the board reads it. ``extra`` is placed as if it
    existed (the managed file before its first write).

    Returns (files, reader): ``files`` lists the applied files in the order they apply, then the
    others; each a dict of path, name, applied, why, and masked_by or target where they apply.
    """
    reader = boot_reader(fs)
    chosen, out = {}, []
    for directory, skipped in _search_dirs(fs):
        if skipped:
            continue
        names = set(name for name in fs.listdir(directory) if name.endswith(".conf") and not name.startswith("."))
        if extra and os.path.dirname(extra) == directory:
            names.add(os.path.basename(extra))
        for name in sorted(names):
            path = os.path.join(directory, name)
            if path != extra and fs.isdir(path):
                continue
            if name in chosen:
                out.append({"path": path, "name": name, "applied": False, "masked_by": chosen[name]["path"],
                            "why": "masked by %s, of the same name in a directory of higher precedence"
                                   % chosen[name]["path"]})
                continue
            entry = {"path": path, "name": name, "applied": True, "why": "in %s" % directory}
            target = link_target(fs, path) if fs.islink(path) else None
            if target == "/dev/null":
                entry.update(applied=False, target=target, why="a link to /dev/null: masks %s in later directories "
                                                               "and sets nothing" % name)
            elif target is not None:
                entry.update(target=target, why="in %s, a link to %s" % (directory, target))
            chosen[name] = entry
    files = [chosen[name] for name in sorted(chosen)]
    linked = set(entry.get("target") for entry in files)
    if fs.lexists(LEGACY_FILE) and LEGACY_FILE not in linked:
        legacy = {"path": LEGACY_FILE, "name": os.path.basename(LEGACY_FILE), "applied": reader["reads_sysctl_conf"]}
        if reader["reads_sysctl_conf"]:
            legacy["why"] = "read last: %s" % reader["why"]
        else:
            legacy["why"] = ("not in %s's search path on this board: no file in the sysctl.d directories links "
                             "to it, and %s" % (reader["reader"], reader["why"]))
        files.append(legacy)
    applied = [entry for entry in files if entry["applied"]]
    return applied + [entry for entry in files if not entry["applied"]] + out, reader


def config_files(fs, extra=None):
    """The names that apply at boot and the files masked by name, from ``boot_files``.

    Returns (ordered, masked): ``ordered`` the files that take a name, in the order they apply (a
    /dev/null link included: it sets nothing), dicts of path and name; ``masked`` dicts of path
    and masked_by.
    """
    files, _reader = boot_files(fs, extra)
    taking = [entry for entry in files if entry["applied"] or entry.get("target") == "/dev/null"]
    ordered = sorted(taking, key=lambda entry: (entry["path"] == LEGACY_FILE, entry["name"]))
    masked = [{"path": entry["path"], "masked_by": entry["masked_by"]} for entry in files if "masked_by" in entry]
    return [{"path": entry["path"], "name": entry["name"]} for entry in ordered], masked


def _differing(fs, path, desired):
    """The lines of the board's file ``path`` that set a key of ``desired`` (directly or through a
    glob) to another value: (line, key, value), in file order."""
    for item in read_conf(fs, path) or []:
        for key in sorted(desired):
            if fnmatch.fnmatchcase(key, item["key"]) and item["value"] != desired[key]:
                yield item["line"], key, item["value"]


def find_overrides(fs, managed_path, desired, files=None):
    """Files that would override a managed key at boot, and with what.

    A file overrides when it is applied after ``managed_path`` and sets a managed key (directly
    or through a glob) to another value, or when it masks ``managed_path`` by name.
    ``files`` is ``boot_files(fs, managed_path)[0]`` when the caller has it already.
    Returns a list of dicts: path, key, value, reason.
    """
    files = boot_files(fs, extra=managed_path)[0] if files is None else files
    overrides = [
        {"path": item["masked_by"], "key": "*", "value": None,
         "reason": "masks %s: a file of the same name in a directory of higher precedence" % managed_path}
        for item in files if item["path"] == managed_path and "masked_by" in item
    ]
    applied = [entry for entry in files if entry["applied"]]
    paths = [entry["path"] for entry in applied]
    if managed_path not in paths:
        return overrides
    for entry in applied[paths.index(managed_path) + 1:]:
        # Read through the link on the board (an absolute link must not leave a test's root).
        for line, key, value in _differing(fs, entry.get("target") or entry["path"], desired):
            overrides.append({
                "path": entry["path"], "line": line, "key": key, "value": value,
                "reason": "applied after %s, sets %s = %s" % (managed_path, key, value),
            })
    return overrides


def ignored_findings(fs, desired, files):
    """One sentence per line of a file the board does NOT read at boot (``boot_files``: not
    applied, not masked by name, no /dev/null link: /etc/sysctl.conf where nothing links to it)
    that sets a managed key to another value. A note, not drift: the board boots without it."""
    findings = []
    for entry in files:
        if entry["applied"] or "masked_by" in entry or entry.get("target") == "/dev/null":
            continue
        for line, key, value in _differing(fs, entry["path"], desired):
            findings.append("ignored at boot: %s line %s sets %s = %s, but %s is %s" % (
                entry["path"], line, key, value, entry["path"], entry["why"]))
    return findings


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


def boot_report(fs, managed_path, desired, fail_on_override=False):
    """What the board applies at boot besides the profile at ``managed_path``, for vm_sysctl.

    Returns (fields, warnings): fields ``overrides`` and ``boot_drift`` (other files win at boot:
    drift), ``boot_ignored`` (values in files the board does not read: notes) and ``boot_reader``.
    With ``fail_on_override`` an override raises ModuleError instead of warning.
    """
    warnings = []
    if managed_path.startswith("/run/"):
        warnings.append("%s is on /run, which is empty after a reboot: the profile applies at boot "
                        "only if something writes it again." % managed_path)
    files, reader = boot_files(fs, extra=managed_path)
    overrides = find_overrides(fs, managed_path, desired, files)
    if overrides:
        summary = "; ".join("%s: %s" % (item["path"], item["reason"]) for item in overrides)
        if fail_on_override:
            raise ModuleError("other files override the profile at boot, nothing was changed: " + summary,
                              overrides=overrides)
        warnings.append("other files override the profile at boot: " + summary)
    ignored = ignored_findings(fs, desired, files)
    fields = dict(overrides=overrides, boot_drift=override_findings(overrides, managed_path),
                  boot_ignored=ignored, boot_reader=reader)
    return fields, warnings + ignored
