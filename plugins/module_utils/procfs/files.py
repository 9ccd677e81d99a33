# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the files of /proc, /sys and the board: the one place a file is opened for reading.

Standard library only; the other procfs files import it relatively (``from .files import
read_text``), which works both in the collection and where the monitor ships the procfs folder.
"""

from __future__ import annotations

import errno
import os
import stat


def read_text(path):
    """The file's text; None when it cannot be read (missing, gone, refused) or is not text."""
    try:
        with open(path) as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def read_existing(path):
    """The file's text; None only when it does not exist. Other errors raise, for callers that
    must tell an absent file from a broken one."""
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def read_bytes(path, dir_fd=None):
    """The whole file as bytes, read with os.read (no buffering: /proc files are generated per
    read). ``dir_fd`` reads relative to an open directory. Errors raise."""
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def read_regular(path, limit):
    """At most ``limit`` bytes of the regular file ``path``; None when it does not exist.

    For a path an operator gives (a pidfile): a directory, FIFO or device given by mistake raises
    OSError (EISDIR, EINVAL) before it is opened, so it cannot hang the reader (a FIFO nobody
    writes), fill its memory (/dev/zero) or be set off by an open (/dev/watchdog). Other errors
    (EACCES) raise too.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", path)
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "not a regular file", path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.read(fd, limit)
    finally:
        os.close(fd)
