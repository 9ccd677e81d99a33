# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The board's file system as the modules see it: the roots, path mapping, reads and durable writes.

Every module reads and writes through one ``HostFS``. On a board its roots are ``/``, ``/proc``
and ``/sys``; unit tests point them at fake trees (``HostFS(root=..., proc=..., sys=...)``, or
``configure()`` for a module's ``main``), so "a path under the fake root" has one name:
``HostFS.path``.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

from ansible_collections.rock5b.oom.plugins.module_utils.procfs.files import read_text

# The roots a module's main() gets from host(); tests change them with configure().
_DEFAULT_ROOTS = {"root": "/", "proc": "/proc", "sys": "/sys"}
_roots = dict(_DEFAULT_ROOTS)


class WriteError(Exception):
    """A durable write or removal failed; the message names the file and the reason."""

    def __init__(self, path, error):
        reason = error.strerror or str(error) if isinstance(error, OSError) else str(error)
        if isinstance(error, OSError) and error.errno == errno.EROFS:
            reason += " (read-only file system)"
        elif isinstance(error, OSError) and error.errno == errno.ENOSPC:
            reason += " (no space left: nothing of the new version was kept)"
        super().__init__("cannot write %s: %s" % (path, reason))
        self.path, self.errno = path, getattr(error, "errno", None)


class HostFS:
    """Roots of the trees a module reads (``root`` for files, ``proc``, ``sys``)."""

    def __init__(self, root="/", proc=None, sys=None):
        self.root = root
        self.proc = proc if proc is not None else os.path.join(root, "proc")
        self.sys = sys if sys is not None else os.path.join(root, "sys")

    # --- paths -------------------------------------------------------------------------------
    def path(self, path):
        """Where the board's absolute ``path`` is under this root."""
        return os.path.join(self.root, path.lstrip("/"))

    def proc_path(self, *parts):
        return os.path.join(self.proc, *[str(part) for part in parts])

    def sys_path(self, *parts):
        return os.path.join(self.sys, *[str(part) for part in parts])

    # --- reading (board paths) -------------------------------------------------------------------
    def read_text(self, path):
        """The text of the board's file ``path``; None when it is missing, a directory or not text."""
        return read_text(self.path(path))

    def exists(self, path):
        return os.path.exists(self.path(path))

    def lexists(self, path):
        return os.path.lexists(self.path(path))

    def isdir(self, path):
        return os.path.isdir(self.path(path))

    def islink(self, path):
        return os.path.islink(self.path(path))

    def readlink(self, path):
        return os.readlink(self.path(path))

    def lstat(self, path):
        """``os.lstat`` of the board's ``path``; None when it is missing."""
        try:
            return os.lstat(self.path(path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def listdir(self, path):
        """Names in the board's directory ``path``; [] when it is missing or unreadable."""
        try:
            return os.listdir(self.path(path))
        except OSError:
            return []

    # --- writing (board paths) -------------------------------------------------------------------
    def write_atomic(self, path, text, mode=0o644, owner=None):
        """Replace the board's file ``path`` by ``text`` so that a reader, or a power cut, sees the
        old or the new version whole: ``write_durably`` on the mapped path."""
        write_durably(self.path(path), text, mode, owner)

    def symlink(self, path, target):
        """Make the board's ``path`` a symbolic link to ``target``, replacing what is there in one
        rename (a reader sees the old entry or the new link). Missing parents are created 0755;
        the directory is synced. Raises WriteError."""
        full = self.path(path)
        directory = os.path.dirname(full)
        temp = "%s.%d.tmp" % (full, os.getpid())
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            if os.path.lexists(temp):
                os.unlink(temp)
            os.symlink(target, temp)
            os.rename(temp, full)
        except OSError as error:
            if os.path.lexists(temp):
                os.unlink(temp)
            raise WriteError(path, error)
        sync_directory(directory)

    def make_directory(self, path, mode=0o755, owner=None):
        """Make the board's ``path`` a directory with ``mode`` and ``owner`` (a (uid, gid) pair):
        a file or link there is replaced, missing parents are created 0755, an existing
        directory keeps its content and gets the mode and owner. A link there is never followed
        (not even by a trailing slash): the mode and owner are set on the directory itself, opened
        with O_NOFOLLOW. Raises WriteError."""
        full = self.path(path).rstrip("/") or "/"
        try:
            if os.path.lexists(full) and (os.path.islink(full) or not os.path.isdir(full)):
                os.unlink(full)
            if not os.path.isdir(full):
                os.makedirs(full, 0o755)
            fd = os.open(full, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                if owner is not None:
                    os.fchown(fd, owner[0], owner[1])
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
        except OSError as error:
            raise WriteError(path, error)
        sync_directory(os.path.dirname(full))

    def remove(self, path, prune_parent=False):
        """Remove the board's file ``path`` (missing is fine); with ``prune_parent`` also its
        directory when that is left empty. The directory is synced, so the removal is durable."""
        full = self.path(path)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise WriteError(path, error)
        parent = os.path.dirname(full)
        if prune_parent:
            try:
                os.rmdir(parent)
                parent = os.path.dirname(parent)
            except OSError:
                pass
        sync_directory(parent)


def sync_directory(directory):
    """fsync a directory, so a rename or unlink in it survives a power cut (best effort where the
    file system cannot, e.g. some FUSE mounts)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_durably(path, text, mode=0o644, owner=None):
    """Write ``text`` to a temporary file beside the real ``path``, fsync it, give it ``mode`` (and
    ``owner``, a (uid, gid) pair), rename it over ``path`` and fsync the directory.

    ``mode`` None keeps the mode of the file it replaces (0644 for a new one). Missing parent
    directories are created 0755. Raises WriteError; the temporary file never stays behind.
    """
    directory = os.path.dirname(path)
    temp = None
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        if mode is None:
            try:
                mode = os.stat(path).st_mode & 0o7777
            except FileNotFoundError:
                mode = 0o644
        handle, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if owner is not None:
            os.chown(temp, owner[0], owner[1])
        os.chmod(temp, mode)
        os.rename(temp, path)
        temp = None
    except OSError as error:
        raise WriteError(path, error)
    finally:
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass
    sync_directory(directory)


def host():
    """The HostFS a module's main() works on: the real board, or what a test configured."""
    return HostFS(**_roots)


def configure(root=None, proc=None, sys=None):
    """Point host() at other roots (unit tests); ``configure()`` restores the real ones."""
    _roots.clear()
    _roots.update(_DEFAULT_ROOTS)
    if root is not None:
        _roots.update(root=root, proc=os.path.join(root, "proc"), sys=os.path.join(root, "sys"))
    if proc is not None:
        _roots["proc"] = proc
    if sys is not None:
        _roots["sys"] = sys
