# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a file is a Debian package's configuration file as the package shipped it.

dpkg records each conffile's md5sum at install in /var/lib/dpkg/status (the ``Conffiles:``
field: `` <path> <md5>`` lines). A file whose content still has that sum is the package's
default, not something an operator or another tool wrote: Debian's systemd-zram-generator, for
one, ships an /etc/systemd/zram-generator.conf that already makes a zram0. Read only, standard
library; ``fs`` is a hostfs.HostFS, so unit tests run it on fake trees.
"""

from __future__ import annotations

import hashlib

DPKG_STATUS = "/var/lib/dpkg/status"


def recorded_md5(status_text, path):
    """The md5 dpkg recorded for conffile ``path``, or None (not a conffile of any package)."""
    for line in (status_text or "").splitlines():
        parts = line.split()
        if line.startswith(" ") and len(parts) >= 2 and parts[0] == path and "obsolete" not in parts[2:]:
            return parts[1]
    return None


def is_package_default(fs, path, text):
    """True when ``text`` (the file's content) is what the package that owns ``path`` shipped."""
    if text is None:
        return False
    recorded = recorded_md5(fs.read_text(DPKG_STATUS), path)
    return recorded is not None and hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest() == recorded
