# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pressure stall information (PSI): parsing, reading, sampling, diagnosis, thresholds.

Standard library only: this file is also shipped next to the low-memory monitor that runs on
the boards without Ansible. Every function takes the root of the tree it reads (``proc_root``
for /proc, ``fs_root`` for the file system), so unit tests run against fake trees.

File format (kernel/sched/psi.c, psi_show), one line per kind::

    some avg10=0.00 avg60=0.00 avg300=0.00 total=0
    full avg10=0.00 avg60=0.00 avg300=0.00 total=0

``avg*`` are percentages of wall time, ``total`` is the stall time in microseconds since
boot. ``cpu`` has no ``full`` line before Linux 5.13 (and it is all zeros system-wide after);
``irq`` (6.1+, CONFIG_IRQ_TIME_ACCOUNTING) has only a ``full`` line.

Why PSI can be missing:

* not built (no CONFIG_PSI): no /proc/pressure;
* built but off at boot (``psi=0``, or CONFIG_PSI_DEFAULT_DISABLED without ``psi=1``, which
  is how Radxa BSP kernels ship it): since Linux 5.x psi_proc_init() does not create
  /proc/pressure at all; older kernels and the cgroup ``*.pressure`` files answer reads with
  EOPNOTSUPP (errno 95). The two are told apart from /proc/cmdline and the kernel config.
"""

from __future__ import annotations

import errno
import os
import re
import time

from .files import read_text

RESOURCES = ("cpu", "io", "memory", "irq")
KINDS = ("some", "full")
WINDOWS = ("avg10", "avg60", "avg300")
ENABLE_HINT = (
    "add psi=1 to the kernel command line and reboot (Armbian/Radxa images: extraargs=psi=1 in "
    "/boot/armbianEnv.txt; extlinux/U-Boot images: the append line of "
    "/boot/extlinux/extlinux.conf; GRUB: GRUB_CMDLINE_LINUX in /etc/default/grub, then "
    "update-grub). Radxa BSP kernels are built with CONFIG_PSI_DEFAULT_DISABLED=y, so PSI stays "
    "off until psi=1 is given."
)
PSI_OPTIONS = ("CONFIG_PSI", "CONFIG_PSI_DEFAULT_DISABLED")
REBUILD_HINT = "this kernel is built without CONFIG_PSI; use a kernel with CONFIG_PSI=y (Debian and Armbian kernels have it)"

_LINE = re.compile(
    r"^(?P<kind>some|full)\s+avg10=(?P<avg10>\d+(?:\.\d+)?)\s+avg60=(?P<avg60>\d+(?:\.\d+)?)"
    r"\s+avg300=(?P<avg300>\d+(?:\.\d+)?)\s+total=(?P<total>\d+)\s*$"
)

_CONFIG_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_CONFIG_NOT_SET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set\s*$")
_CONFIG_BACKUP = re.compile(r"(~|\.bak|\.old|\.dpkg-[a-z]+)$")


class PsiUnavailable(Exception):
    """A PSI file that cannot give numbers.

    ``reason`` is one of ``missing`` (no such file), ``empty`` (file is there, no lines),
    ``disabled`` (EOPNOTSUPP: built in, switched off at boot), ``unreadable`` (another
    OSError) or ``malformed`` (lines that are not PSI).
    """

    def __init__(self, reason, path, detail=""):
        self.reason = reason
        self.path = path
        self.detail = detail
        super().__init__("%s: %s%s" % (path, reason, ": %s" % detail if detail else ""))


def parse_psi(text):
    """Parse the text of a PSI file into ``{"some": {...} or None, "full": {...} or None}``.

    Each kind maps avg10/avg60/avg300 to floats (percent) and total to an int (microseconds).
    A kind the file does not print is None. Raises ValueError on a line that is not PSI.
    """
    result = {"some": None, "full": None}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if not match:
            raise ValueError("not a PSI line: %r" % line)
        values = dict((window, float(match.group(window))) for window in WINDOWS)
        values["total"] = int(match.group("total"))
        result[match.group("kind")] = values
    return result


def system_path(proc_root, resource):
    return os.path.join(proc_root, "pressure", resource)


def cgroup_file(cgroup_dir, resource):
    """The PSI file of a cgroup v2 directory (``memory.pressure`` and so on)."""
    return os.path.join(cgroup_dir, "%s.pressure" % resource)


def read_psi(path):
    """Read and parse one PSI file; raise PsiUnavailable saying why it gives no numbers."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        raise PsiUnavailable("malformed", path, "not UTF-8 text: %s" % error)
    except FileNotFoundError:
        raise PsiUnavailable("missing", path)
    except OSError as error:
        if error.errno == errno.EOPNOTSUPP:
            raise PsiUnavailable("disabled", path, "EOPNOTSUPP (errno 95): PSI is built in but disabled at boot")
        raise PsiUnavailable("unreadable", path, error.strerror or str(error))
    if not text.strip():
        raise PsiUnavailable("empty", path, "the file has no lines")
    try:
        parsed = parse_psi(text)
    except ValueError as error:
        raise PsiUnavailable("malformed", path, str(error))
    return parsed


def cmdline_psi(proc_root):
    """The last ``psi=`` value on the running kernel's command line as a bool, or None."""
    text = read_text(os.path.join(proc_root, "cmdline")) or ""
    value = None
    for word in text.split():
        if word.startswith("psi="):
            flag = word[4:].strip().lower()
            if flag in ("1", "y", "yes", "on", "true"):
                value = True
            elif flag in ("0", "n", "no", "off", "false"):
                value = False
    return value


def parse_kernel_config(text):
    """{option: value} of a kernel config (a ``.config``, /boot/config-<release>, /proc/config.gz).

    ``CONFIG_X=value`` gives the value as written (``y``, ``m``, ``"text"``, ``0x10``; spaces around it dropped);
    ``# CONFIG_X is not set`` gives None; a later line wins, as kconfig reads it. Other lines
    (comments, blank lines) are skipped. An option the text does not name is not set either.
    """
    options = {}
    for line in text.splitlines():
        match = _CONFIG_SET.match(line) or _CONFIG_NOT_SET.match(line)
        if match:
            options[match.group(1)] = match.group(2).strip() if match.re is _CONFIG_SET else None
    return options


def _config_options(path, label, release, names=PSI_OPTIONS):
    """The options ``names`` (CONFIG_PSI* unless told) of the kernel config file ``path`` (gzip
    when it ends in .gz), or None when it cannot be read or names no option at all (then it is
    no kernel config)."""
    try:
        if path.endswith(".gz"):
            # Imported here: the monitor daemon imports this file and never needs gzip.
            import gzip  # pylint: disable=import-outside-toplevel
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        else:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
    except (OSError, EOFError):
        return None
    parsed = parse_kernel_config(text)
    if not parsed:
        return None
    options = {"source": label, "release": release}
    options.update((name, parsed.get(name)) for name in names)
    return options


def kernel_config(proc_root, fs_root="/", config_dir="/boot", release=None, names=PSI_OPTIONS):
    """The options ``names`` (CONFIG_PSI* unless told; zram's check asks for others) of a kernel,
    or None when no config can be found.

    The running kernel (``release`` None): /proc/config.gz (CONFIG_IKCONFIG_PROC), else
    ``<config_dir>/config-<release>`` for the release in /proc/sys/kernel/osrelease. An installed
    kernel (``release`` given): ``<config_dir>/config-<release>`` only. Returns a dict with
    ``source`` (the file read, as the board names it), ``release`` and the option values as
    strings (``y``) or None when ``is not set`` or absent.
    """
    candidates = []
    if release is None:
        release = (read_text(os.path.join(proc_root, "sys", "kernel", "osrelease")) or "").strip()
        candidates.append((os.path.join(proc_root, "config.gz"), "/proc/config.gz"))
    if release and "/" not in release:
        label = "%s/config-%s" % (config_dir.rstrip("/"), release)
        candidates.append((os.path.join(fs_root, label.lstrip("/")), label))
    for path, label in candidates:
        options = _config_options(path, label, release or None, names)
        if options is not None:
            return options
    return None


def installed_kernel_configs(fs_root="/", config_dir="/boot"):
    """kernel_config() of every kernel whose config is ``<config_dir>/config-<release>``, by
    release; backups (``~``, ``.bak``, ``.old``, ``.dpkg-*``) and files that are no kernel config
    are left out."""
    try:
        names = os.listdir(os.path.join(fs_root, config_dir.lstrip("/")))
    except OSError:
        return []
    releases = sorted(name[len("config-"):] for name in names
                      if name.startswith("config-") and len(name) > len("config-") and not _CONFIG_BACKUP.search(name))
    found = (kernel_config(None, fs_root, config_dir, release) for release in releases)
    return [options for options in found if options is not None]


def diagnose(proc_root, fs_root="/", resource="memory"):
    """Whether system-wide PSI works here, and if not why and how to turn it on.

    Returns a dict: ``available`` (bool), ``state`` (``enabled``, ``disabled``,
    ``not_compiled``, ``empty``, ``unreadable`` or ``unknown``), ``reason`` and ``hint``
    (text for a person), ``path`` and, when available, ``values`` (the parsed file).
    """
    path = system_path(proc_root, resource)
    result = {"available": False, "state": "unknown", "reason": "", "hint": "", "path": path, "values": None}
    try:
        result["values"] = read_psi(path)
    except PsiUnavailable as error:
        pass_reason = error
    else:
        result.update(available=True, state="enabled", reason="PSI is enabled")
        return result

    if pass_reason.reason == "disabled":
        result.update(state="disabled", hint=ENABLE_HINT,
                      reason="reading %s fails with EOPNOTSUPP (errno 95): PSI is built into the kernel "
                             "but disabled at boot" % path)
        return result
    if pass_reason.reason in ("empty", "malformed"):
        result.update(state="empty", hint="check the kernel version; PSI files are never empty on a working kernel",
                      reason="%s exists but has no PSI lines (%s)" % (path, pass_reason.detail))
        return result
    if pass_reason.reason == "unreadable":
        result.update(state="unreadable", reason="%s cannot be read: %s" % (path, pass_reason.detail),
                      hint="run the task as root (become: true)")
        return result

    # Missing: /proc/pressure is not created when PSI is off at boot, nor when it is not built.
    boot_flag = cmdline_psi(proc_root)
    config = kernel_config(proc_root, fs_root)
    where = "no %s" % (os.path.dirname(path) if not os.path.isdir(os.path.dirname(path)) else path)
    if config is not None and config.get("CONFIG_PSI") != "y":
        result.update(state="not_compiled", hint=REBUILD_HINT,
                      reason="%s: the kernel is built without CONFIG_PSI (%s)" % (where, config["source"]))
    elif boot_flag is False:
        result.update(state="disabled", hint=ENABLE_HINT.replace("add psi=1 to", "replace psi=0 with psi=1 on"),
                      reason="%s: PSI is disabled by psi=0 on the kernel command line" % where)
    elif config is not None and config.get("CONFIG_PSI_DEFAULT_DISABLED") == "y" and boot_flag is not True:
        result.update(state="disabled", hint=ENABLE_HINT,
                      reason="%s: the kernel is built with CONFIG_PSI_DEFAULT_DISABLED=y (%s) and the "
                             "command line has no psi=1" % (where, config["source"]))
    elif config is not None:
        result.update(state="unknown", hint="check dmesg for psi messages and the kernel version (PSI needs 4.20+)",
                      reason="%s although the kernel config (%s) has CONFIG_PSI=y" % (where, config["source"]))
    else:
        result.update(state="unknown", hint=ENABLE_HINT + " If that does not help, the kernel lacks CONFIG_PSI.",
                      reason="%s: PSI is either not built into this kernel or disabled at boot (no kernel "
                             "config found in /proc/config.gz or /boot to tell which)" % where)
    return result


def explain(proc_root, fs_root, failures, cgroup=None):
    """(state, reason, hint) for PSI files that could not be read.

    ``failures`` maps resources to their PsiUnavailable (the first by name is explained);
    ``cgroup`` is the cgroup whose files were read, None for /proc/pressure. A file missing
    while system-wide memory PSI works is ``unsupported_resource``; other failures are told
    apart as diagnose() does.
    """
    resource, error = sorted(failures.items())[0]
    system = diagnose(proc_root, fs_root, "memory")
    if error.reason == "disabled":
        return "disabled", ("reading %s fails with EOPNOTSUPP (errno 95): PSI is built into the kernel but "
                            "disabled at boot" % error.path), ENABLE_HINT
    if error.reason == "missing" and system["available"]:
        where = "cgroup %s" % cgroup if cgroup else "this kernel"
        hint = ""
        if resource == "irq":
            hint = "irq pressure needs Linux 6.1+ built with CONFIG_IRQ_TIME_ACCOUNTING"
        elif resource == "cpu" and cgroup:
            hint = "check that the cgroup exists on a kernel with cgroup PSI (4.20+)"
        return "unsupported_resource", "%s has no %s pressure (no %s)" % (where, resource, error.path), hint
    if error.reason in ("empty", "malformed"):
        return "empty", "%s exists but has no PSI lines (%s)" % (error.path, error.detail), system["hint"] or \
            "check the kernel; a working PSI file always has a some or full line"
    if error.reason == "unreadable":
        return "unreadable", "%s cannot be read: %s" % (error.path, error.detail), "run the task as root (become: true)"
    return system["state"], system["reason"], system["hint"]


def stall_percent(before, after, seconds):
    """Share of ``seconds`` of wall time spent stalled between two reads of one PSI file.

    ``before`` and ``after`` are parse_psi() results. Returns ``{"some": pct, "full": pct}``
    with None for a kind the file does not print. The kernel's counters are microseconds.
    """
    result = {}
    for kind in KINDS:
        first, second = before.get(kind), after.get(kind)
        if first is None or second is None or seconds <= 0:
            result[kind] = None
            continue
        delta = max(0, second["total"] - first["total"])
        result[kind] = round(min(100.0, delta / (seconds * 1e6) * 100.0), 2)
    return result


def sample(paths, seconds, read=read_psi, clock=time.monotonic, sleep=time.sleep):
    """Read every PSI file in ``paths`` (name -> path), wait ``seconds``, read again.

    Returns ``(stalls, elapsed)``: name -> stall_percent() over the measured wall time.
    ``read``, ``clock`` and ``sleep`` are parameters so tests use fakes.
    """
    start = clock()
    before = dict((name, read(path)) for name, path in paths.items())
    sleep(seconds)
    after = dict((name, read(path)) for name, path in paths.items())
    elapsed = clock() - start
    return dict((name, stall_percent(before[name], after[name], elapsed)) for name in paths), elapsed


def parse_limit_name(name):
    """Split a limit name such as ``full_avg10`` or ``some_sampled`` into (kind, metric)."""
    kind, _sep, metric = name.partition("_")
    if kind not in KINDS or metric not in WINDOWS + ("sampled",):
        raise ValueError("%s is not a PSI limit: use <some|full>_<avg10|avg60|avg300|sampled>" % name)
    return kind, metric


def check_limits(label, resource, values, sampled, limits):
    """Compare one resource's numbers with its limits.

    ``values`` is a parse_psi() result, ``sampled`` a stall_percent() result or None, ``limits``
    maps names like ``full_avg10`` to a maximum percent. Returns a list of violations (dicts
    with resource, limit, value, max and message); a missing number is a violation too, since
    a gate that cannot measure must not pass.
    """
    violations = []
    for name in sorted(limits):
        maximum = limits[name]
        if maximum is None:
            continue
        kind, metric = parse_limit_name(name)
        if metric == "sampled":
            value = (sampled or {}).get(kind)
        else:
            value = (values.get(kind) or {}).get(metric)
        if value is None:
            message = "%s: %s pressure has no %s %s value to compare with the limit %.2f%%" % (
                label, resource, kind, metric, maximum)
        elif value > maximum:
            message = "%s: %s pressure %s %s is %.2f%%, above the limit of %.2f%%" % (
                label, resource, kind, metric, value, maximum)
        else:
            continue
        violations.append({"resource": resource, "limit": name, "value": value, "max": maximum, "message": message})
    return violations
