# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the files of /proc, /sys and the board: the one place a file is opened for reading.

Standard library only; the other procfs files import it relatively (``from .files import
read_text``), which works both in the collection and where the monitor ships the procfs folder.
"""

from __future__ import annotations

import os


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
