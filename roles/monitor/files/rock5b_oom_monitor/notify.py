# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Telling systemd how the service is doing (Type=notify, WatchdogSec=)."""

from __future__ import annotations

import os

# _socket, not socket: see journal.py.
import _socket


class Notifier:
    """sd_notify over $NOTIFY_SOCKET: READY, STATUS, WATCHDOG, STOPPING."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = ("\0" + address[1:]) if address.startswith("@") else address
        self.sock = None
        if self.address:
            try:
                self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
            except OSError:
                self.sock = None
        self.watchdog_s = None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            # Ping at half the period, as sd_watchdog_enabled() users do.
            self.watchdog_s = int(usec) / 2e6

    def notify(self, text):
        if self.sock is None:
            return False
        try:
            self.sock.sendto(text.encode(), self.address)
            return True
        except OSError:
            return False
