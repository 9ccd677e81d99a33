# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything the collection knows about systemd, once.

- ``Systemctl``: show, daemon-reload, set-property, restart, enable/start ... through the
  module's ``run_command``; a unit name always follows ``--``, so a name that starts with ``-``
  can never be read as an option. Failures raise ModuleError.
- Unit names (rules in ``procfs.processes``, which the monitor shares) and the drop-in file
  name rule.
- The unit search path, where a unit is defined, and the order systemd applies a unit's
  drop-ins in.
- Rendering and parsing the drop-ins and unit files the collection writes.
- The board's systemd version (``installed_version``: read from the name of its private
  library, nothing run; ``board_version`` falls back to ``systemctl --version``), and what that
  version means for the cgroup v1 hierarchy (``cgroup_v1_refusal``, ``cgroup_v1_warning``).
"""

from __future__ import annotations

import os
import re

from ansible_collections.rock5b.oom.plugins.module_utils.errors import ModuleError
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.processes import normalize_unit, valid_unit

SYSTEMCTL = "systemctl"
# Where the collection writes units and drop-ins.
UNIT_BASE = "/etc/systemd/system"
# systemd's system unit search path, highest precedence first (systemd.unit(5)); /lib for
# Debian systems without merged /usr.
UNIT_SEARCH_PATH = (
    "/etc/systemd/system.control", "/run/systemd/system.control", "/run/systemd/transient",
    "/run/systemd/generator.early", "/etc/systemd/system", "/etc/systemd/system.attached",
    "/run/systemd/system", "/run/systemd/system.attached", "/run/systemd/generator",
    "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/run/systemd/generator.late",
    "/lib/systemd/system",
)
# A file changed under these makes systemd's loaded configuration stale (daemon-reload).
CONFIG_DIRS = ("/etc/systemd/", "/run/systemd/", "/usr/lib/systemd/", "/usr/local/lib/systemd/",
               "/lib/systemd/")
# A unit in these states runs (file_set starts one that is not); with deactivating it still has processes.
ACTIVE_STATES = ("active", "activating", "reloading")
HAS_PROCESSES_STATES = ACTIVE_STATES + ("deactivating",)
ENABLED_STATES = ("enabled", "enabled-runtime")
# Alias symlinks followed from a unit file before giving up (systemd's chase() follows 32).
MAX_ALIAS_HOPS = 32
# A drop-in file name: no path, no newline (\Z, not $, which accepts a trailing newline).
DROPIN_NAME_RE = re.compile(r"\A[A-Za-z0-9_.@-]+\.conf\Z")
SECTIONS = {".service": "Service", ".slice": "Slice", ".scope": "Scope", ".socket": "Socket",
            ".mount": "Mount", ".swap": "Swap"}

# Where systemd keeps libsystemd-shared-<N>.so, the private library every systemd program links
# against; meson names it after the version (its shared-lib-tag, "257" by default; Fedora appends
# "-<release>"). Debian 12 (252) and 13 (257) put it in /usr/lib/<multiarch>/systemd/
# (dpkg -L libsystemd-shared; packages.debian.org file lists), upstream's default is
# /usr/lib/systemd/, Debian 11 and older /lib/systemd/, some distributions /usr/lib64/systemd/.
SHARED_LIBRARY_DIRS = ("/usr/lib/systemd", "/lib/systemd", "/usr/lib64/systemd")
MULTIARCH_PARENTS = ("/usr/lib", "/lib")
_MULTIARCH = re.compile(r"\A[a-z0-9_]+-linux-[a-z0-9_]+\Z")
_SHARED_LIBRARY = re.compile(r"\Alibsystemd-shared-(0|[1-9]\d{0,5})(?:[.~+-][A-Za-z0-9._~+-]*)?\.so\Z")
_SYSTEMCTL_VERSION = re.compile(r"systemd (0|[1-9]\d{0,5})(?!\d)")
# systemd and the cgroup v1 ("legacy" and "hybrid") hierarchy. NEWS of systemd 256: "Support for
# cgroup v1 ('legacy' and 'hybrid' hierarchies) is now considered obsolete and systemd by default
# will refuse to boot under it. To forcibly reenable cgroup v1 support,
# SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1 must be set on kernel command line." (a board that asks
# for v1 without it stops at "Freezing execution", systemd issue #30852). systemd 258 removed
# cgroup v1 support (release notes of v258). Debian 13 has 257, Debian 12 252 (still boots v1).
CGROUP_V1_REFUSED_SINCE = 256
CGROUP_V1_REMOVED_IN = 258

__all__ = ["normalize_unit", "valid_unit"]  # the unit-name rules, re-exported


def valid_dropin_name(name):
    return isinstance(name, str) and bool(DROPIN_NAME_RE.match(name))


def valid_slice(name):
    """systemd's slice names: ``-.slice`` (the root), or parts joined by ``-`` (``a-b.slice`` is
    in ``a.slice``), none of them empty."""
    return name == "-.slice" or (name.endswith(".slice") and valid_unit(name) and all(name[:-len(".slice")].split("-")))


def dropin_path(unit, name):
    """``/etc/systemd/system/<unit>.d/<name>``."""
    return os.path.join(UNIT_BASE, unit + ".d", name)


def unit_suffix(unit):
    return "." + unit.rsplit(".", 1)[1] if "." in unit else ""


def header(owner, variable, what="it"):
    """The first lines of a file the collection manages; ``what`` is what the variable sets
    (``the limits``: "set the limits through the <variable> variable instead")."""
    return ("# Managed by Ansible (rock5b.oom.%s). Local edits are overwritten on the next run;\n"
            "# set %s through the %s variable instead.\n" % (owner, what, variable))


def render_dropin(head, section, settings):
    """A drop-in: ``head``, then ``[section]`` and ``key=value`` lines in the given order."""
    return "".join([head, "[%s]\n" % section] + ["%s=%s\n" % (key, value) for key, value in settings])


def parse_dropin(text):
    """The ``key=value`` assignments of a unit file or drop-in (sections ignored, last one wins)."""
    values = {}
    for line in (text or "").splitlines():
        if line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def section_value(text, section, key):
    """The last ``key=`` in ``[section]`` of a unit file's text; None when it has none."""
    current, value = None, None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = line
        elif current == "[%s]" % section and "=" in line:
            name, setting = line.split("=", 1)
            if name.strip() == key:
                value = setting.strip()
    return value


def _template_of(name):
    """``getty@tty1.service`` -> ``getty@.service``; None for a name that is not an instance."""
    prefix, at, rest = name.partition("@")
    if not at or rest.startswith("."):
        return None
    return "%s@%s" % (prefix, unit_suffix(rest))


def _follow_aliases(fs, unit, path):
    """The file an alias symlink chain starting at ``path`` ends at ("/dev/null" for a masked
    unit). Raises ModuleError naming ``unit`` for a loop, a chain longer than systemd follows,
    or a link that cannot be read."""
    chain = [path]
    while fs.islink(path):
        try:
            link = fs.readlink(path)
        except OSError as error:
            raise ModuleError("unit %s: cannot read the symlink %s: %s" % (unit, path, error.strerror or error))
        if link == "/dev/null":
            return link
        path = os.path.normpath(link if link.startswith("/") else os.path.join(os.path.dirname(path), link))
        if path in chain:
            raise ModuleError("unit %s: its alias symlinks form a loop (%s); systemd cannot load it either. Fix or "
                              "remove one of these links" % (unit, " -> ".join(chain + [path])))
        chain.append(path)
        if len(chain) > MAX_ALIAS_HOPS:
            raise ModuleError("unit %s: more than %d alias symlinks in a row from %s; systemd does not follow so "
                              "many either" % (unit, MAX_ALIAS_HOPS, chain[0]))
    return path


def resolve_unit(fs, unit):
    """Where ``unit`` is defined: dict(name, canonical, exists, masked, path).

    ``canonical`` is the name an alias symlink points at; ``masked`` a link to /dev/null. An
    alias loop, or a chain of more than MAX_ALIAS_HOPS links, raises ModuleError naming the unit.
    """
    info = {"name": unit, "canonical": unit, "exists": False, "masked": False, "path": None}
    candidates = [unit] + ([_template_of(unit)] if _template_of(unit) else [])
    for name in candidates:
        for directory in UNIT_SEARCH_PATH:
            path = os.path.join(directory, name)
            if not fs.lexists(path):
                continue
            info.update(exists=True, path=path)
            path = _follow_aliases(fs, unit, path)
            if path == "/dev/null":
                info["masked"] = True
                return info
            target = os.path.basename(path)
            if name == unit and target != unit and valid_unit(target):
                info["canonical"] = target
            return info
    return info


def dropin_sources(fs, unit_info):
    """The files that configure a unit, in the order systemd applies them: the unit file, then
    its drop-ins sorted by file name (a name in a directory of higher precedence masks the same
    name further down; ``<type>.d`` and the template's ``.d`` count too). A list of dicts:
    path, name (the drop-in's file name; None for the unit file)."""
    names = sorted(set([unit_info["name"], unit_info["canonical"]]))
    dropin_dirs = []
    for name in names:
        dropin_dirs.append(name + ".d")
        if _template_of(name):
            dropin_dirs.append(_template_of(name) + ".d")
    dropin_dirs.append(unit_suffix(names[0])[1:] + ".d")  # service.d: every service
    chosen = {}
    for directory in UNIT_SEARCH_PATH:
        for sub in dropin_dirs:
            for file_name in fs.listdir(os.path.join(directory, sub)):
                if file_name.endswith(".conf") and file_name not in chosen:
                    chosen[file_name] = os.path.join(directory, sub, file_name)
    sources = []
    if unit_info["path"] and not unit_info["masked"]:
        sources.append({"path": unit_info["path"], "name": None})
    sources += [{"path": chosen[name], "name": name} for name in sorted(chosen)]
    return sources


def slice_cgroup(name):
    """``rock5b-untrusted.slice`` -> ``/rock5b.slice/rock5b-untrusted.slice`` (systemd's nesting)."""
    if name == "-.slice":
        return ""
    parts = name[:-len(".slice")].split("-")
    return "".join("/%s.slice" % "-".join(parts[:index + 1]) for index in range(len(parts)))


def under_config_dirs(path):
    """Whether a change to ``path`` needs a daemon-reload."""
    return path.startswith(CONFIG_DIRS)


def version_from_library(name):
    """The major version in the file name ``libsystemd-shared-257.so`` (257), or None when the
    name is not that library's."""
    match = _SHARED_LIBRARY.match(name) if isinstance(name, str) else None
    return int(match.group(1)) if match else None


def parse_systemctl_version(text):
    """The major version in the output of ``systemctl --version`` (its first line is
    ``systemd 257 (257.8-1~deb13u2)``), or None when it does not start that way."""
    match = _SYSTEMCTL_VERSION.match(text) if isinstance(text, str) else None
    return int(match.group(1)) if match else None


def shared_library_dirs(fs):
    """The directories on the board that may hold libsystemd-shared-<N>.so."""
    dirs = list(SHARED_LIBRARY_DIRS)
    for parent in MULTIARCH_PARENTS:
        dirs += [os.path.join(parent, name, "systemd") for name in sorted(fs.listdir(parent)) if _MULTIARCH.match(name)]
    return dirs


def installed_version(fs):
    """systemd's major version on the board from the name of its private library, nothing run:
    the highest when several are found (an upgrade not yet cleaned up), None when there is none."""
    found = [version_from_library(name) for directory in shared_library_dirs(fs) for name in fs.listdir(directory)]
    found = [version for version in found if version is not None]
    return max(found) if found else None


def board_version(fs, module=None):
    """installed_version, else (on the real root only, never a test tree, and only given a
    module) what ``systemctl --version`` says; None when neither tells."""
    version = installed_version(fs)
    if version is None and module is not None and os.path.realpath(fs.root) == "/":
        try:
            version = Systemctl(module).version()
        except ModuleError:
            version = None
    return version


def _cgroup_v1_facts(version):
    # What each version does when asked for cgroup v1 (257 seen on Debian 13 in the VM test bed:
    # "Legacy cgroup v1 configured ... Will proceed with cgroup v2 after 30 s").
    if version == CGROUP_V1_REFUSED_SINCE:
        does = "freezes at boot with it"
    elif version < CGROUP_V1_REMOVED_IN:
        does = "waits 30 s at every boot, then boots cgroup v2 anyway"
    else:
        does = "has no cgroup v1 support and boots cgroup v2"
    return ("systemd %d on this board does not run the cgroup v1 hierarchy (it %s; v1 was dropped in systemd %d "
            "and removed in %d)" % (version, does, CGROUP_V1_REFUSED_SINCE, CGROUP_V1_REMOVED_IN))


def cgroup_v1_refusal(version, args):
    """Why the kernel arguments ``args`` (each one asking for cgroup v1) may not be added on a
    board with systemd ``version`` (None: unknown), or None when they may (systemd < 256).
    Unknown is refused too: a fleet run must never write a boot file the board may not boot from."""
    if not args or (version is not None and version < CGROUP_V1_REFUSED_SINCE):
        return None
    named = " ".join(args)
    if version is None:
        return ("the systemd version of this board is unknown (no libsystemd-shared-<N>.so in %s or "
                "/usr/lib/<multiarch>/systemd, and systemctl --version did not tell): adding %s asks for the cgroup v1 "
                "hierarchy, which systemd %d and later do not run (%d freezes at boot, 257 delays it 30 s), so it is "
                "refused; nothing was written" % (
                    ", ".join(SHARED_LIBRARY_DIRS), named, CGROUP_V1_REFUSED_SINCE, CGROUP_V1_REFUSED_SINCE))
    return "%s: adding %s asks for cgroup v1, which this board cannot give; nothing was written" % (
        _cgroup_v1_facts(version), named)


def cgroup_v1_warning(version, path, args):
    """What to tell about the arguments ``args`` asking for cgroup v1 already in the boot file
    ``path`` on a board with systemd ``version``; None when that version still boots with them
    or is unknown."""
    if not args or version is None or version < CGROUP_V1_REFUSED_SINCE:
        return None
    return "%s has %s: %s; remove it (remove: %s)" % (
        path, " ".join(args), _cgroup_v1_facts(version), ", ".join(sorted(set(arg.split("=", 1)[0].strip('"') for arg in args))))


class Systemctl:
    """systemctl through ``module.run_command``. Every failure raises ModuleError."""

    def __init__(self, module):
        self.module = module
        self._version = None

    def run(self, args, units=()):
        """``systemctl <args> -- <units>``; the output. Errors name the command as a person
        would type it (``systemctl start app.service failed: ...``), without the ``--``."""
        command = [SYSTEMCTL] + list(args) + (["--"] + list(units) if units else [])
        rc, out, err = self.module.run_command(command)
        if rc != 0:
            raise ModuleError("%s failed: %s" % (" ".join([SYSTEMCTL] + list(args) + list(units)),
                                                 (err or out or "rc=%d" % rc).strip()))
        return out

    def version(self):
        """systemd's major version (cached)."""
        if self._version is None:
            rc, out, err = self.module.run_command([SYSTEMCTL, "--version"])
            version = parse_systemctl_version(out or "")
            if rc != 0 or version is None:
                raise ModuleError("systemctl --version failed (is this a systemd host?): %s" % (err or out or "").strip())
            self._version = version
        return self._version

    def show(self, unit, properties):
        """The properties of ``unit`` as systemd reports them (strings)."""
        out = self.run(["show", "--no-pager"] + ["-p%s" % name for name in properties], [unit])
        values = {}
        for line in out.splitlines():
            key, _sep, value = line.partition("=")
            values[key] = value
        return values

    def state(self, unit):
        """(enabled, active) as systemd reports them; a unit it does not know is neither."""
        props = self.show(unit, ["LoadState", "ActiveState", "UnitFileState"])
        return props.get("UnitFileState", "") in ENABLED_STATES, props.get("ActiveState", "") in ACTIVE_STATES

    def daemon_reload(self):
        self.run(["daemon-reload"])

    def set_property(self, unit, assignments, runtime=True):
        """``systemctl set-property [--runtime] -- unit KEY=value ...``."""
        self.run(["set-property"] + (["--runtime"] if runtime else []), [unit] + list(assignments))

    def restart(self, unit):
        self.run(["restart"], [unit])

    def enable(self, unit, enabled=True):
        self.run(["enable" if enabled else "disable"], [unit])

    def start(self, unit, started=True):
        self.run(["start" if started else "stop"], [unit])
