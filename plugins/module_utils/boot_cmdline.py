# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel command line in the boot configuration files Rock 5B+ images use.

Standard library only. Each file kind has a reader/writer pair working on text, so the same
token logic serves U-Boot's extlinux.conf, Armbian's armbianEnv.txt, /etc/kernel/cmdline and
the u-boot-menu defaults that regenerate extlinux.conf.
"""

from __future__ import annotations

import re

# kind -> path, in the order they are looked for. /etc/default/u-boot comes before
# extlinux.conf: u-boot-update (Radxa OS, Debian's u-boot-menu) regenerates extlinux.conf from
# it on every kernel upgrade, so an edit of extlinux.conf alone would not last.
KNOWN_FILES = (
    ("u_boot_default", "/etc/default/u-boot"),
    ("extlinux", "/boot/extlinux/extlinux.conf"),
    ("armbian_env", "/boot/armbianEnv.txt"),
    ("kernel_cmdline", "/etc/kernel/cmdline"),
)

_APPEND = re.compile(r"^(?P<lead>\s*append\s+)(?P<args>.*?)(?P<trail>\s*)$", re.IGNORECASE)
_EXTRAARGS = re.compile(r"^(?P<lead>extraargs=)(?P<args>.*?)(?P<trail>\s*)$")
_U_BOOT = re.compile(r"^(?P<lead>U_BOOT_PARAMETERS=\")(?P<args>[^\"]*)(?P<trail>\"\s*)$")


def token_key(token):
    return token.split("=", 1)[0]


def edit_tokens(args, add, remove):
    """Return ``args`` (a command line) with ``add`` present and ``remove`` gone.

    Adding ``key=value`` replaces another value of the same key in place (``psi=0`` becomes
    ``psi=1``) and drops later duplicates; otherwise it is appended. A ``remove`` item without
    ``=`` removes every token with that key. Order and other tokens are kept.
    """
    tokens = args.split()
    for item in remove:
        tokens = [t for t in tokens if t != item and ("=" in item or token_key(t) != item)]
    for item in add:
        key = token_key(item)
        same_key = [i for i, t in enumerate(tokens) if token_key(t) == key]
        if not same_key:
            tokens.append(item)
            continue
        tokens[same_key[0]] = item
        tokens = [t for i, t in enumerate(tokens) if i not in same_key[1:]]
    return " ".join(tokens)


def _edit_lines(text, pattern, add, remove):
    lines, hits = text.splitlines(True), 0
    for index, line in enumerate(lines):
        ending = "\n" if line.endswith("\n") else ""
        match = pattern.match(line.rstrip("\n"))
        if match:
            hits += 1
            lines[index] = "%s%s%s%s" % (match.group("lead"), edit_tokens(match.group("args"), add, remove),
                                         match.group("trail"), ending)
    return "".join(lines), hits


def edit_file(kind, text, add, remove):
    """The new text of a boot file of ``kind``. Returns (text, problem); problem is '' when fine."""
    if kind == "kernel_cmdline":
        return edit_tokens(text, add, remove) + "\n", ""
    if kind == "extlinux":
        new, hits = _edit_lines(text, _APPEND, add, remove)
        return new, "" if hits else "no 'append' line to put the arguments on"
    if kind == "u_boot_default":
        new, hits = _edit_lines(text, _U_BOOT, add, remove)
        if not hits:
            return None, "no U_BOOT_PARAMETERS line (u-boot-update uses its built-in default)"
        return new, ""
    if kind == "armbian_env":
        new, hits = _edit_lines(text, _EXTRAARGS, add, remove)
        if not hits and add:
            if new and not new.endswith("\n"):
                new += "\n"
            new += "extraargs=%s\n" % edit_tokens("", add, remove)
        return new, ""
    raise ValueError("unknown boot file kind %s" % kind)


def missing_from_running(cmdline, add, remove):
    """Tokens the running kernel's command line still lacks, or still has: a reboot is due."""
    tokens = cmdline.split()
    lacking = [item for item in add if item not in tokens]
    still = [t for t in tokens for item in remove if t == item or ("=" not in item and token_key(t) == item)]
    return lacking + still
