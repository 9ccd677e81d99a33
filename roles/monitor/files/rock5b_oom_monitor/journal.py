# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Structured records to journald's native socket (stderr with <N> prefixes without one)."""

from __future__ import annotations

import errno
import os
import re
import struct

# _socket, not socket: socket.py turns the AF_*/SOCK_*/MSG_* constants into enums at import,
# about 0.45 MiB of resident memory for two AF_UNIX datagram sockets.
import _socket
import sys

from rock5b_oom_monitor import IDENTIFIER


_FIELD = re.compile(r"[^A-Z0-9_]")


def journal_payload(fields):
    """The native journal protocol: KEY=value lines, binary form for values with newlines."""
    out = bytearray()
    for key, value in fields:
        key = _FIELD.sub("_", key.upper()).lstrip("_") or "X"
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class Journal:
    """Structured log records to journald's native socket; stderr with <N> prefixes otherwise."""

    def __init__(self, path="/run/systemd/journal/socket", stream=None, identifier=IDENTIFIER):
        self.path = path
        self.stream = stream if stream is not None else sys.stderr
        self.identifier = identifier
        self.sock = None
        if path and os.path.exists(path):
            try:
                self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
            except OSError:
                self.sock = None

    @property
    def native(self):
        return self.sock is not None

    def send(self, priority, message, fields=()):
        record = [("MESSAGE", message), ("PRIORITY", priority), ("SYSLOG_IDENTIFIER", self.identifier)]
        record += [(k, v) for k, v in fields if v is not None]
        if self.sock is not None:
            payload = journal_payload(record)
            try:
                self.sock.sendto(payload, self.path)
                return True
            except OSError as error:
                if error.errno in (errno.EMSGSIZE, errno.ENOBUFS) and self._send_memfd(payload):
                    return True
        extra = " ".join("%s=%s" % (k, v) for k, v in fields if v is not None and "\n" not in str(v))
        try:
            self.stream.write("<%d>%s%s\n" % (priority, message, (" [%s]" % extra) if extra else ""))
            self.stream.flush()
        except (OSError, ValueError):
            return False
        return False

    def _send_memfd(self, payload):
        """Large records go through a sealed memfd passed with SCM_RIGHTS, as sd_journal_send does."""
        try:
            fd = os.memfd_create("journal", os.MFD_CLOEXEC | getattr(os, "MFD_ALLOW_SEALING", 2))
        except (AttributeError, OSError):
            return False
        try:
            os.write(fd, payload)
            try:
                import fcntl  # pylint: disable=import-outside-toplevel
                fcntl.fcntl(fd, 1033, 0x1 | 0x2 | 0x4 | 0x8)  # F_ADD_SEALS: seal, shrink, grow, write
            except (ImportError, OSError):
                pass
            self.sock.sendmsg([b""], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", fd))], 0, self.path)
            return True
        except (OSError, TypeError):
            return False
        finally:
            os.close(fd)
