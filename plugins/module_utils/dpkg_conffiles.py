# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a file is a Debian package's configuration file as the package shipped it.

dpkg records each conffile's md5sum at install in /var/lib/dpkg/status (the ``Conffiles:``
field: `` <path> <md5>`` lines). A file whose content still has that sum is the package's
default, not something an operator or another tool wrote: Debian's systemd-zram-generator, for
one, ships a zram-generator.conf that already makes a zram0: in /etc as a conffile on bookworm,
in /usr/lib (listed in ``info/<package>.md5sums``) on trixie. Read only, standard
library; ``fs`` is a hostfs.HostFS, so unit tests run it on fake trees.
"""

from __future__ import annotations

import hashlib

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"


def recorded_md5(status_text, path):
    """The md5 dpkg recorded for conffile ``path``, or None (not a conffile of any package)."""
    for line in (status_text or "").splitlines():
        parts = line.split()
        if line.startswith(" ") and len(parts) >= 2 and parts[0] == path and "obsolete" not in parts[2:]:
            return parts[1]
    return None


def shipped_md5(md5sums_text, path):
    """The md5 a package's ``info/<package>.md5sums`` lists for ``path`` (a file under /usr that
    is no conffile, such as trixie's /usr/lib/systemd/zram-generator.conf), or None."""
    relative = path.lstrip("/")
    for line in (md5sums_text or "").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip() == relative:
            return parts[0]
    return None


def is_package_default(fs, path, text, package=None):
    """True when ``text`` (the file's content) is what a package shipped at ``path``: a conffile
    dpkg recorded, or (with ``package``) a file of that package's md5sums list."""
    if text is None:
        return False
    actual = hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
    if recorded_md5(fs.read_text(DPKG_STATUS), path) == actual:
        return True
    return package is not None and shipped_md5(fs.read_text("%s/%s.md5sums" % (DPKG_INFO, package)), path) == actual
