# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a managed file so that readers never see it half-written."""

from __future__ import annotations

import os
import tempfile


def write_atomically(module, path, text, mode=0o644):
    """Write ``text`` to a temporary file beside ``path``, sync it, and rename it over ``path``.

    ``mode`` is the new file's mode; None keeps the mode of the file it replaces.
    """
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    if mode is None:
        mode = os.stat(path).st_mode & 0o7777
    handle, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.chmod(temp, mode)
    module.atomic_move(temp, path)
