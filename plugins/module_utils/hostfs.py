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

import ctypes
import errno
import os
import shutil
import tempfile
import time

from ansible_collections.rock5b.oom.plugins.module_utils.mounts import free_space, mount_point, mount_source
from ansible_collections.rock5b.oom.plugins.module_utils.procfs.files import read_text

# The roots a module's main() gets from host(); tests change them with configure().
_DEFAULT_ROOTS = {"root": "/", "proc": "/proc", "sys": "/sys"}
_roots = dict(_DEFAULT_ROOTS)


class WriteError(Exception):
    """A durable write or removal failed; the message names the file and the reason.

    Two reasons a fleet meets every week get their own words: a full file system (ENOSPC,
    EDQUOT: "no space left on device writing <file>: <N> bytes needed, <M> free on <mount>")
    and a read-only one (EROFS: "read-only <dir>: cannot persist <file> (the file system mounted
    at <mount> is read-only)"); ``read_only`` and ``no_space`` say which, for the modules that
    keep live settings on a read-only board (batch.apply_changes).
    """

    def __init__(self, path, error, needed=None):
        code = getattr(error, "errno", None)
        reason = error.strerror or str(error) if isinstance(error, OSError) else str(error)
        if code == errno.EROFS:
            message = "read-only %s: cannot persist %s (the file system mounted at %s is read-only)" % (
                os.path.dirname(path) or path, path, mount_point(path))
        elif code in (errno.ENOSPC, errno.EDQUOT):
            what = "no space left on device" if code == errno.ENOSPC else "disk quota exceeded"
            message = "%s writing %s: %s, %s; nothing of the new version was kept" % (
                what, path, "%d bytes needed" % needed if needed is not None else "more space needed",
                free_space(path))
        else:
            message = "cannot write %s: %s" % (path, reason)
        super().__init__(message)
        self.path, self.errno = path, code
        self.read_only = code == errno.EROFS
        self.no_space = code in (errno.ENOSPC, errno.EDQUOT)


class FatCrossLink(Exception):
    """``<file>.new`` on FAT reads the same as ``<file>``: a cut rename may have left both names on
    the same clusters, which only fsck.fat can untangle."""

    def __init__(self, path, new):
        mount = mount_point(path)
        super().__init__(
            "%s reads the same as %s: a power cut in the middle of a rename on FAT can leave both names on "
            "the same clusters, and replacing the file would free clusters the other name still uses; nothing "
            "was written. Check the file system (fsck.fat -a %s, unmounted; boards do at boot when /etc/fstab "
            "gives %s fsck pass 2), then run again" % (new, path, mount_source(mount) or "<its device>", mount))


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

    def backup(self, path):
        """A durable copy of the board's file ``path`` beside it, named as Ansible's backup_local
        names its copies (``<path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~``, with ``-`` for ``:`` on FAT) but written by
        ``write_durably``, so a power cut never leaves a torn backup. Returns the copy's full
        path; raises WriteError."""
        full = self.path(path)
        # FAT refuses ':' in a name (EINVAL): there the time is written 2026-12-06@04-00-46
        stamp = "%Y-%m-%d@%H-%M-%S" if fs_type(os.path.dirname(full)) == MSDOS_SUPER_MAGIC else "%Y-%m-%d@%H:%M:%S"
        copy = "%s.%d.%s~" % (full, os.getpid(), time.strftime(stamp))
        try:
            with open(full, "rb") as stream:
                data = stream.read()
            mode = os.stat(full).st_mode & 0o7777
        except OSError as error:
            raise WriteError(path, error)
        write_durably(copy, data.decode("utf-8", "surrogateescape"), mode)
        return copy

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


# statfs(2)'s f_type of FAT (msdos and vfat): no atomic rename over a file, no journal.
MSDOS_SUPER_MAGIC = 0x4D44


def fs_type(path):
    """statfs(2)'s ``f_type`` of the file system holding ``path``; None when it cannot be read.
    f_type is the first field of struct statfs, a C long on every Linux architecture."""
    try:
        statfs = ctypes.CDLL(None, use_errno=True).statfs
    except (OSError, AttributeError):
        return None
    buffer = ctypes.create_string_buffer(512)
    if statfs(os.fsencode(path), buffer) != 0:
        return None
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def write_durably(path, text, mode=0o644, owner=None):
    """Write ``text`` to a temporary file beside the real ``path``, fsync it, give it ``mode`` (and
    ``owner``, a (uid, gid) pair), rename it over ``path`` and fsync the directory.

    ``mode`` None keeps the mode of the file it replaces (0644 for a new one). Missing parent
    directories are created 0755. Raises WriteError; the temporary file never stays behind.
    On FAT (boot partitions) the rename is not atomic: ``replace_on_fat`` does it instead.
    """
    directory = os.path.dirname(path)
    needed = len(text.encode("utf-8", "surrogateescape"))
    temp = None
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        if fs_type(directory) == MSDOS_SUPER_MAGIC:
            replace_on_fat(path, text)
            return
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
    except (OSError, FatCrossLink) as error:
        raise WriteError(path, error, needed)
    finally:
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass
    sync_directory(directory)


def _write_synced(path, data):
    """Write ``data`` (bytes) to ``path`` from its start and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_bytes(path):
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        return None


def replace_on_fat(path, text):
    """Replace ``path`` on a FAT file system (a boot partition) so that a power cut leaves the old
    or the new version under its name, and both versions whole somewhere:

    1. write the new version beside it, ``<path>.new``, and fsync it and the directory;
    2. copy the old version to ``<path>.bak`` and fsync it and the directory (kept afterwards:
       the operator's, or a boot script's, way back);
    3. rename ``<path>.new`` over ``<path>``, fsync the file under its new name (vfat writes the
       renamed entry with the file's inode) and then the directory.

    FAT has no journal and Linux's vfat driver renames over a file by pointing the target's
    directory entry (32 bytes in one sector) at the new data and then removing the source's
    entry: the name holds the old or the new data, but a cut between the two directory writes
    can leave ``<path>.new`` sharing its clusters with ``<path>`` until fsck.fat runs. So a
    ``<path>.new`` left by a cut run is only overwritten when it differs from ``<path>`` (a
    torn step 1). One that reads the same may share its clusters with ``<path>``: truncating,
    removing or even keeping it aside while ``<path>`` is replaced would free clusters a name
    still points at, so nothing is written and FatCrossLink asks for fsck.fat, which a board
    runs on /boot at boot. FAT has no modes or owners (the mount options give them), so none
    are set. Raises OSError or FatCrossLink."""
    directory = os.path.dirname(path)
    new, backup = path + ".new", path + ".bak"
    old = _read_bytes(path)
    if os.path.lexists(new) and _read_bytes(new) == old:
        raise FatCrossLink(path, new)
    _write_synced(new, text.encode("utf-8", "surrogateescape"))
    sync_directory(directory)
    if old is not None:
        _write_synced(backup, old)
        sync_directory(directory)
    os.rename(new, path)
    _fsync_path(path)
    sync_directory(directory)


def _fsync_path(path):
    """fsync the file now at ``path``. On vfat the renamed file's directory entry (its first
    cluster and size) is written with that file's inode, not with the directory: fsync of the
    directory alone wrote the FAT, where the old version's clusters are already free, while the
    entry still named them, and a power cut then left the file empty ("Contains a free cluster
    (6). Assuming EOF", fsck.fat after a cut of the fault test, 2026-12-06)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
