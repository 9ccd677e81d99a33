# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel command line in the boot configuration files Rock 5B+ images use.

Standard library only. A command line is split as the kernel's ``next_arg()`` splits it
(double quotes group, so ``dyndbg="file foo.c +p"`` is one argument) and every argument an edit
does not touch is written back as it was. Each file kind has a reader/writer working on text,
so the same argument logic serves U-Boot's extlinux.conf, Armbian's armbianEnv.txt, DietPi's
dietpiEnv.txt (the same ``extraargs=`` format), /etc/kernel/cmdline and the u-boot-menu defaults (a file ``sh`` sources) that regenerate
extlinux.conf.
"""

from __future__ import annotations

import os
import re

# kind -> path, in the order they are looked for. /etc/default/u-boot comes before
# extlinux.conf: u-boot-update (Radxa OS, Debian's u-boot-menu) regenerates extlinux.conf from
# it on every kernel upgrade, so an edit of extlinux.conf alone would not last.
KNOWN_FILES = (
    ("u_boot_default", "/etc/default/u-boot"),
    ("extlinux", "/boot/extlinux/extlinux.conf"),
    ("armbian_env", "/boot/armbianEnv.txt"),
    # DietPi's boot.scr reads its extraargs= as Armbian's reads armbianEnv.txt's.
    ("dietpi_env", "/boot/dietpiEnv.txt"),
    ("kernel_cmdline", "/etc/kernel/cmdline"),
)
# A boot file that is a symbolic link is written through to its target only when the target
# stays in this directory (the boot partition, or /etc).
LINK_DIRS = {"u_boot_default": "/etc", "extlinux": "/boot", "armbian_env": "/boot", "dietpi_env": "/boot",
             "kernel_cmdline": "/etc"}
# The files that keep the command line on an ``extraargs=`` line (U-Boot env files boot.scr imports).
EXTRAARGS_KINDS = ("armbian_env", "dietpi_env")

# The rule for an argument the module adds or removes. Every file kind carries these characters
# as they are, /etc/default/u-boot inside double quotes too: no quote, space, '$', '`', '\\',
# ';', '&', '|', '<', '>', '(', ')', '#', '*', '?' or anything a shell or U-Boot would read.
ARGUMENT_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
ARGUMENT_VALUE = re.compile(r"[A-Za-z0-9_.,:/=+@%^~-]*\Z")
# Arguments a board needs to find and start its root file system: never added, changed or removed.
BOOT_CRITICAL_KEYS = ("root", "rootfstype", "rootflags", "rootwait", "init")

# The arguments that ask systemd for the cgroup v1 ("legacy" or "hybrid") hierarchy, as systemd
# reads them (proc_cmdline_get_bool, parse_boolean: case-insensitive; "rd." prefixed in an initrd):
# systemd.unified_cgroup_hierarchy with a false value, systemd.legacy_systemd_cgroup_controller
# bare or with a true value. Which systemd versions boot with them is systemd.py's fact.
CGROUP_V1_SWITCHES = {"systemd.unified_cgroup_hierarchy": False, "systemd.legacy_systemd_cgroup_controller": True}
_TRUE = ("1", "yes", "y", "true", "t", "on")
_FALSE = ("0", "no", "n", "false", "f", "off")

_SPACE = " \t\n\v\f\r"
_APPEND = re.compile(r"^(?P<lead>\s*append\s+)(?P<args>.*?)(?P<trail>\s*)$", re.IGNORECASE)
_EXTRAARGS = re.compile(r"^(?P<lead>[ \t]*extraargs=)(?P<args>.*?)(?P<trail>\s*)$")
_U_BOOT = re.compile(r"^(?P<lead>\s*(?:export\s+)?U_BOOT_PARAMETERS=)(?P<rest>.*)$")
_SHELL_BARE = re.compile(r"[A-Za-z0-9_.,:/=+@%-]*")
_SHELL_END = re.compile(r"(?P<trail>\s*(?:#.*)?)\Z")


# --- one argument ------------------------------------------------------------------------------------
def argument_problem(arg):
    """Why ``arg`` may not be added to or removed from a command line, or None when it may.

    An argument is ``key`` or ``key=value``: printable ASCII, a key of letters, digits, ``_``,
    ``-`` and ``.`` and a value of those and ``,:/=+@%^~``; no quotes, spaces or characters a
    shell would act on, and none of BOOT_CRITICAL_KEYS.
    """
    if not isinstance(arg, str) or not arg:
        return "%r is empty: arguments are single words, key or key=value" % (arg,)
    if any(c.isspace() for c in arg):
        return "%r has whitespace: arguments are single words, key or key=value" % arg
    odd = sorted(set(c for c in arg if not (" " < c < "\x7f")))
    if odd:
        return "%r has characters that are not printable ASCII (%s)" % (arg, ", ".join(repr(c) for c in odd))
    key, _sep, value = arg.partition("=")
    if not key:
        return "%r has no key before '='" % arg
    if not ARGUMENT_KEY.match(key):
        return "%r: the key %r may only have letters, digits, '_', '-' and '.' (not first)" % (arg, key)
    bad = sorted(set(c for c in value if not ARGUMENT_VALUE.match(c)))
    if bad:
        return "%r has characters a shell or boot loader would act on: %s (a value may have letters, digits and _.,:/=+@%%^~-)" % (
            arg, " ".join(bad))
    if key in BOOT_CRITICAL_KEYS:
        return "%r: %s is needed to boot the board; it is never added, changed or removed (%s)" % (
            arg, key, ", ".join(BOOT_CRITICAL_KEYS))
    return None


def asks_for_cgroup_v1(arg):
    """Whether the argument ``arg`` (as written, quotes allowed) asks systemd for cgroup v1."""
    key, value = arg_key(arg), arg_value(arg)
    key = key[len("rd."):] if key.startswith("rd.") else key
    if key not in CGROUP_V1_SWITCHES:
        return False
    if value is None:
        return CGROUP_V1_SWITCHES[key]
    return value.lower() in (_TRUE if CGROUP_V1_SWITCHES[key] else _FALSE)


# --- the command line as the kernel reads it ------------------------------------------------------
def split_args(text):
    """The arguments of a command line as the kernel's next_arg() splits it, each as written
    (quotes kept): whitespace separates, and a double quote groups until the next one."""
    args, index, end = [], 0, len(text)
    while True:
        while index < end and text[index] in _SPACE:
            index += 1
        if index >= end:
            return args
        start, quoted = index, False
        while index < end and (quoted or text[index] not in _SPACE):
            if text[index] == '"':
                quoted = not quoted
            index += 1
        args.append(text[start:index])


def render_args(args):
    return " ".join(args)


def arg_key(arg):
    """The parameter an argument sets, as the kernel names it (a leading quote dropped)."""
    body = arg[1:] if arg.startswith('"') else arg
    return body.split("=", 1)[0]


def arg_value(arg):
    """The value the kernel gives the parameter (its quotes dropped), or None for a bare flag."""
    body = arg[1:] if arg.startswith('"') else arg
    if "=" not in body:
        return None
    value = body.split("=", 1)[1]
    if value.startswith('"') or arg.startswith('"'):
        value = value[1:] if value.startswith('"') else value
        value = value[:-1] if value.endswith('"') else value
    return value


def same_arg(arg, item):
    return arg_key(arg) == arg_key(item) and arg_value(arg) == arg_value(item)


def _for_kernel(args):
    """(arguments the kernel reads, the rest from ``--`` on, which go to init)."""
    if "--" in args:
        cut = args.index("--")
        return args[:cut], args[cut:]
    return args, []


def unclosed_quote(args):
    return any(arg.count('"') % 2 for arg in args)


def edit_args(args, add, remove):
    """``args`` (a list from split_args) with ``add`` present and ``remove`` gone.

    Adding ``key=value`` replaces another value of the same key in place (``psi=0`` becomes
    ``psi=1``) and drops later duplicates; otherwise it goes at the end of the kernel's part.
    A ``remove`` item without ``=`` removes every argument with that key. Arguments after
    ``--`` belong to init and are kept; every other argument is kept as written.
    """
    mine, init = _for_kernel(list(args))
    for item in remove:
        mine = [a for a in mine if not (same_arg(a, item) if "=" in item else arg_key(a) == item)]
    for item in add:
        same_key = [i for i, a in enumerate(mine) if arg_key(a) == arg_key(item)]
        if not same_key:
            mine.append(item)
            continue
        if not same_arg(mine[same_key[0]], item):
            mine[same_key[0]] = item
        mine = [a for i, a in enumerate(mine) if i not in same_key[1:]]
    return mine + init


def edit_tokens(args, add, remove):
    """The command line ``args`` (text) edited as edit_args says; unchanged text when nothing changes."""
    before = split_args(args)
    after = edit_args(before, add, remove)
    return args if after == before else render_args(after)


# --- /etc/default/u-boot: a file sh sources -------------------------------------------------------
def parse_shell_value(text):
    """(value, quote, trail) of the shell word at the start of ``text`` (the rest of a line after
    ``NAME=``): one single-quoted, double-quoted or bare word, then only spaces or a comment.
    Raises ValueError for anything else (an expansion, several words, an unclosed quote)."""
    if text.startswith("'"):
        end = text.find("'", 1)
        if end < 0:
            raise ValueError("its single quote is not closed on the line")
        value, quote, index = text[1:end], "'", end + 1
    elif text.startswith('"'):
        chars, index = [], 1
        while index < len(text) and text[index] != '"':
            char = text[index]
            if char == "\\" and text[index + 1:index + 2] in ('"', "\\", "$", "`"):
                char, index = text[index + 1], index + 1
            elif char in "$`":
                raise ValueError("it uses shell expansion (%s)" % char)
            chars.append(char)
            index += 1
        if index >= len(text):
            raise ValueError("its double quote is not closed on the line")
        value, quote, index = "".join(chars), '"', index + 1
    else:
        value, quote = _SHELL_BARE.match(text).group(0), ""
        index = len(value)
    end = _SHELL_END.match(text[index:])
    if not end:
        raise ValueError("it is not one quoted value (%r follows it)" % text[index:])
    return value, quote, end.group("trail")


def shell_quote(value, quote='"'):
    """``value`` as a shell word that sh reads back as exactly ``value``: in single quotes when
    ``quote`` is "'" and it has none, bare when ``quote`` is "" and it is plain, else in double
    quotes with \\ " $ ` escaped."""
    if quote == "'" and "'" not in value:
        return "'%s'" % value
    if quote == "" and value and _SHELL_BARE.match(value).group(0) == value:
        return value
    return '"%s"' % re.sub(r'(["\\$`])', r"\\\1", value)


def _edit_u_boot(text, add, remove):
    lines, hits = text.splitlines(True), 0
    for number, line in enumerate(lines, 1):
        body = line.rstrip("\n")
        match = _U_BOOT.match(body)
        if not match:
            continue
        hits += 1
        try:
            value, quote, trail = parse_shell_value(match.group("rest"))
        except ValueError as error:
            return None, "line %d: U_BOOT_PARAMETERS: %s; edit it by hand" % (number, error)
        check_quotes(value, "line %d, U_BOOT_PARAMETERS" % number)
        new = edit_tokens(value, add, remove)
        if new != value:
            lines[number - 1] = "%s%s%s%s" % (match.group("lead"), shell_quote(new, quote), trail, line[len(body):])
    if not hits:
        return None, "no U_BOOT_PARAMETERS line (u-boot-update uses its built-in default)"
    return "".join(lines), ""


# --- the other file kinds ------------------------------------------------------------------------
def check_quotes(args_text, where):
    """Raise ValueError when a double quote in ``args_text`` is not closed: the kernel would read
    every argument after it, ours too, as part of one value. Such a file is fixed by hand."""
    if unclosed_quote(split_args(args_text)):
        raise ValueError("%s: a double quote is not closed (it swallows every argument after it): "
                         "fix it by hand" % where)


def _edit_lines(text, pattern, add, remove):
    lines, hits = text.splitlines(True), 0
    for index, line in enumerate(lines):
        ending = line[len(line.rstrip("\n")):]
        match = pattern.match(line.rstrip("\n"))
        if match:
            hits += 1
            check_quotes(match.group("args"), "line %d" % (index + 1))
            lines[index] = "%s%s%s%s" % (match.group("lead"), edit_tokens(match.group("args"), add, remove),
                                         match.group("trail"), ending)
    return "".join(lines), hits


def edit_file(kind, text, add, remove):
    """The new text of a boot file of ``kind``. Returns (text, problem): problem is '' when fine,
    else why the file cannot take the arguments (text is then None or unchanged). Raises
    ValueError when the file is broken (an unclosed quote) and must not be edited at all."""
    if kind == "kernel_cmdline":
        check_quotes(text, "the command line")
        new = edit_tokens(text, add, remove)
        return (text if new == text else new + "\n"), ""
    if kind == "extlinux":
        new, hits = _edit_lines(text, _APPEND, add, remove)
        return new, "" if hits else "no 'append' line to put the arguments on"
    if kind == "u_boot_default":
        return _edit_u_boot(text, add, remove)
    if kind in EXTRAARGS_KINDS:
        new, hits = _edit_lines(text, _EXTRAARGS, add, remove)
        if not hits and add:
            if new and not new.endswith("\n"):
                new += "\n"
            new += "extraargs=%s\n" % edit_tokens("", add, remove)
        return new, ""
    raise ValueError("unknown boot file kind %s" % kind)


def file_args(kind, text):
    """Every kernel argument (before ``--``) on the command lines of a boot file of ``kind``, as
    written; a line that cannot be read (shell expansion in U_BOOT_PARAMETERS) gives none."""
    if kind == "kernel_cmdline":
        lines = [text]
    elif kind == "u_boot_default":
        lines = []
        for line in text.splitlines():
            match = _U_BOOT.match(line)
            try:
                lines += [parse_shell_value(match.group("rest"))[0]] if match else []
            except ValueError:
                continue
    else:
        pattern = dict(dict.fromkeys(EXTRAARGS_KINDS, _EXTRAARGS), extlinux=_APPEND)[kind]
        lines = [match.group("args") for match in map(pattern.match, text.splitlines()) if match]
    return [arg for line in lines for arg in _for_kernel(split_args(line))[0]]


def missing_from_running(cmdline, add, remove):
    """Arguments the running kernel's command line still lacks, or still has: a reboot is due."""
    args, _init = _for_kernel(split_args(cmdline))
    lacking = [item for item in add if not any(same_arg(a, item) for a in args)]
    still = [a for a in args for item in remove if (same_arg(a, item) if "=" in item else arg_key(a) == item)]
    return lacking + still


# --- where a boot file really is ----------------------------------------------------------------
def resolve_link(fs, path, kind, hops=40):
    """The board path the boot file ``path`` names once its symbolic links are followed (``path``
    itself when it is none), resolved inside ``fs``'s root. Raises ValueError when a link loops
    or leads outside LINK_DIRS[kind]."""
    current = path
    for _hop in range(hops):
        if not fs.islink(current):
            break
        target = fs.readlink(current)
        current = os.path.normpath(target if target.startswith("/") else os.path.join(os.path.dirname(current), target))
        if current.startswith("//"):
            current = current[1:]
    else:
        raise ValueError("%s: its symbolic links loop or go deeper than %d" % (path, hops))
    inside = LINK_DIRS[kind].rstrip("/") + "/"
    if current != path and not current.startswith(inside):
        raise ValueError("%s is a symbolic link to %s, outside %s: it is left alone; edit the target by hand" % (
            path, current, LINK_DIRS[kind]))
    if current != path and any(fs.islink(d) for d in _parents(current, LINK_DIRS[kind])):
        raise ValueError("%s is a symbolic link to %s, through a linked directory: edit the target by hand" % (path, current))
    return current


def _parents(path, top):
    parent = os.path.dirname(path)
    while len(parent) > len(top):
        yield parent
        parent = os.path.dirname(parent)


def read_boot_file(fs, kind, path):
    """(board path written, text) of the boot file ``path`` of ``kind``: links followed as
    resolve_link says. Raises ValueError naming ``path`` when it cannot be read, is not a file
    or is not UTF-8 text."""
    real = resolve_link(fs, path, kind)
    shown = path if real == path else "%s (-> %s)" % (path, real)
    if not os.path.isfile(fs.path(real)):
        raise ValueError("%s is not a regular file: edit it by hand" % shown)
    try:
        with open(fs.path(real), "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ValueError("cannot read %s: %s" % (shown, error.strerror or error))
    try:
        return real, data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError("%s is not UTF-8 text (byte 0x%02x at offset %d): fix it by hand" % (
            shown, data[error.start], error.start))
