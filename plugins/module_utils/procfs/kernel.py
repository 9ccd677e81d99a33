# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running kernel's release (/proc/sys/kernel/osrelease) and what its version allows.

Standard library and procfs.files only. Readers take the root of the /proc tree
(``proc_root``), so unit tests run them against fake trees. The one place a kernel release is
parsed: a feature that depends on the kernel version asks here, by the version it needs.

A release is ``<major>.<minor>[.<patch>]`` followed by whatever the builder appended:
``6.1.0-28-arm64`` (Debian 12), ``6.12.12+deb13-arm64`` (Debian 13), ``5.10.160-rockchip``
(Radxa BSP), ``6.5.0-rc1`` (a release candidate: it already has what its release merged).
"""

from __future__ import annotations

import os
import re

from .files import read_text

# Since Linux 6.5 (commit d82caa273565, "sched/psi: Allow unprivileged polling of N*2s
# period") a process without CAP_SYS_RESOURCE may arm a PSI trigger whose window is a
# multiple of 2 s; before, opening /proc/pressure/* to write a trigger needed the capability.
PSI_UNPRIVILEGED_TRIGGERS = (6, 5)
# The window an unprivileged trigger must be a multiple of (kernel/sched/psi.c), in us.
PSI_UNPRIVILEGED_WINDOW_US = 2000000

# ASCII digits only (\d would take other scripts' digits), at most 9 of them: no kernel has a
# ten-digit version number, and a longer run is junk rather than a version.
_RELEASE = re.compile(r"\A([0-9]{1,9})\.([0-9]{1,9})(?:\.([0-9]{1,9}))?(?![0-9])")


def parse_release(text):
    """``6.12.12+deb13-arm64`` -> (6, 12, 12); (6, 5, 0) for ``6.5-rc1``; None for junk.

    Surrounding whitespace (the file's newline) is ignored; anything after the version numbers
    is the builder's suffix. A text that does not start with ``<digits>.<digits>`` is junk.
    """
    if not isinstance(text, str):
        return None
    match = _RELEASE.match(text.strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def read_release(proc_root):
    """The running kernel's release text (/proc/sys/kernel/osrelease), stripped; None when unreadable."""
    text = read_text(os.path.join(proc_root, "sys", "kernel", "osrelease"))
    return text.strip() if text is not None else None


def version_at_least(proc_root, version):
    """Whether the running kernel's version is ``version`` (a tuple: (6, 5)) or later.

    None when the release cannot be read or parsed: the caller decides what unknown means.
    """
    parsed = parse_release(read_release(proc_root))
    if parsed is None:
        return None
    return parsed >= tuple(version)


def psi_trigger_unprivileged(proc_root):
    """Whether this kernel is known to let a process without CAP_SYS_RESOURCE arm PSI triggers
    (of windows that are multiples of 2 s): Linux 6.5 or later.

    False when the release cannot be read or parsed, so a caller that drops the capability on
    True keeps it where the kernel is unknown.
    """
    return version_at_least(proc_root, PSI_UNPRIVILEGED_TRIGGERS) is True
