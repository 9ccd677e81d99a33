"""hostfs: path mapping, reads, durable writes and removals on a fake root."""

from __future__ import annotations

import errno
import os
import re
import stat

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import hostfs
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS, WriteError


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_paths_map_under_the_roots(tmp_path):
    fs = HostFS(root=str(tmp_path))
    assert fs.path("/etc/sysctl.conf") == os.path.join(str(tmp_path), "etc/sysctl.conf")
    assert fs.path("etc/x") == fs.path("/etc/x")
    assert fs.proc_path(1, "status") == os.path.join(str(tmp_path), "proc", "1", "status")
    assert fs.sys_path("fs", "cgroup") == os.path.join(str(tmp_path), "sys", "fs", "cgroup")
    board = HostFS()
    assert (board.path("/etc/x"), board.proc_path("meminfo"), board.sys_path("kernel")) == (
        "/etc/x", "/proc/meminfo", "/sys/kernel")


def test_configure_points_host_at_other_roots_and_back(tmp_path):
    try:
        hostfs.configure(root=str(tmp_path), proc="/p")
        fs = hostfs.host()
        assert (fs.root, fs.proc, fs.sys) == (str(tmp_path), "/p", os.path.join(str(tmp_path), "sys"))
    finally:
        hostfs.configure()
    assert (hostfs.host().root, hostfs.host().proc, hostfs.host().sys) == ("/", "/proc", "/sys")


def test_read_text_is_none_for_missing_directories_files_under_files_and_binary(tmp_path):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/etc/a", "text\n")
    with open(fs.path("/etc/binary"), "wb") as handle:
        handle.write(b"\xff\xfe\x00")
    assert fs.read_text("/etc/a") == "text\n"
    assert fs.read_text("/etc/missing") is None
    assert fs.read_text("/etc") is None
    assert fs.read_text("/etc/a/below") is None
    assert fs.read_text("/etc/binary") is None


def test_listdir_and_lstat_of_missing_paths(tmp_path):
    fs = HostFS(root=str(tmp_path))
    assert fs.listdir("/nowhere") == [] and fs.lstat("/nowhere") is None and fs.lstat("/nowhere/x") is None
    fs.write_atomic("/d/f", "")
    assert fs.listdir("/d") == ["f"] and stat.S_ISREG(fs.lstat("/d/f").st_mode)


def test_write_atomic_creates_parents_and_sets_content_mode_and_owner(tmp_path):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/etc/new/dir/file.conf", "x = 1\n", mode=0o640, owner=(os.getuid(), os.getgid()))
    full = fs.path("/etc/new/dir/file.conf")
    assert fs.read_text("/etc/new/dir/file.conf") == "x = 1\n" and mode_of(full) == 0o640
    assert fs.isdir("/etc/new/dir")
    assert os.listdir(os.path.dirname(full)) == ["file.conf"]


def test_write_atomic_replaces_and_mode_none_keeps_the_old_mode(tmp_path):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/etc/a", "old\n", mode=0o600)
    fs.write_atomic("/etc/a", "new\n", mode=None)
    assert fs.read_text("/etc/a") == "new\n" and mode_of(fs.path("/etc/a")) == 0o600
    fs.write_atomic("/etc/b", "b\n", mode=None)
    assert mode_of(fs.path("/etc/b")) == 0o644


def test_the_mode_is_set_before_the_rename(tmp_path, monkeypatch):
    fs = HostFS(root=str(tmp_path))
    seen = []
    real_rename = os.rename

    def rename(source, target):
        seen.append(mode_of(source))
        real_rename(source, target)

    monkeypatch.setattr(hostfs.os, "rename", rename)
    fs.write_atomic("/etc/secret", "s\n", mode=0o600)
    assert seen == [0o600]


def test_a_failed_rename_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/etc/a", "old\n")

    def refuse(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hostfs.os, "rename", refuse)
    with pytest.raises(WriteError) as caught:
        fs.write_atomic("/etc/a", "new\n")
    assert str(caught.value).startswith("no space left on device writing %s: 4 bytes needed, " % fs.path("/etc/a"))
    assert " bytes free on /" in str(caught.value) and str(caught.value).endswith("; nothing of the new version was kept")
    assert caught.value.no_space and not caught.value.read_only
    assert os.listdir(fs.path("/etc")) == ["a"] and fs.read_text("/etc/a") == "old\n"


def test_a_read_only_file_system_is_a_write_error_that_says_so(tmp_path, monkeypatch):
    # Root writes into a 0555 directory, so the read-only file system is the kernel's answer
    # to creating the temporary file (EROFS), as on an overlayroot board.
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/etc/a", "old\n")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(hostfs.tempfile, "mkstemp", read_only)
    with pytest.raises(WriteError) as caught:
        fs.write_atomic("/etc/a", "new\n")
    assert str(caught.value) == "read-only %s: cannot persist %s (the file system mounted at %s is read-only)" % (
        fs.path("/etc"), fs.path("/etc/a"), hostfs.mount_point(str(tmp_path)))
    assert caught.value.errno == errno.EROFS and caught.value.read_only
    assert os.listdir(fs.path("/etc")) == ["a"] and fs.read_text("/etc/a") == "old\n"


def test_a_failed_write_of_the_content_leaves_no_temporary_file(tmp_path, monkeypatch):
    fs = HostFS(root=str(tmp_path))
    os.makedirs(fs.path("/etc"))

    def fail_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(hostfs.os, "fsync", fail_fsync)
    with pytest.raises(WriteError):
        fs.write_atomic("/etc/a", "new\n")
    assert os.listdir(fs.path("/etc")) == []


def test_remove_files_trees_and_missing_paths(tmp_path):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/etc/a", "a\n")
    fs.write_atomic("/etc/tree/sub/b", "b\n")
    fs.remove("/etc/a")
    fs.remove("/etc/tree")
    fs.remove("/etc/missing")
    assert fs.listdir("/etc") == []


def test_remove_with_prune_parent_removes_an_emptied_directory_only(tmp_path):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/etc/x.d/only.conf", "")
    fs.write_atomic("/etc/y.d/one.conf", "")
    fs.write_atomic("/etc/y.d/two.conf", "")
    fs.remove("/etc/x.d/only.conf", prune_parent=True)
    fs.remove("/etc/y.d/one.conf", prune_parent=True)
    assert not fs.exists("/etc/x.d") and fs.listdir("/etc/y.d") == ["two.conf"]


def test_symlink_replaces_a_file_in_one_rename(tmp_path):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/usr/bin/app", "old\n")
    fs.symlink("/usr/bin/app", "/opt/app")
    fs.symlink("/usr/local/bin/new", "../x")
    assert fs.readlink("/usr/bin/app") == "/opt/app" and fs.readlink("/usr/local/bin/new") == "../x"
    assert sorted(fs.listdir("/usr/bin")) == ["app"]


def test_make_directory_replaces_a_file_and_sets_the_mode_of_an_existing_one(tmp_path):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/var/lib/app", "a file\n")
    fs.make_directory("/var/lib/app", 0o750, (os.getuid(), os.getgid()))
    assert fs.isdir("/var/lib/app") and mode_of(fs.path("/var/lib/app")) == 0o750
    fs.write_atomic("/var/lib/app/kept", "k\n")
    fs.make_directory("/var/lib/app", 0o700)
    assert mode_of(fs.path("/var/lib/app")) == 0o700 and fs.read_text("/var/lib/app/kept") == "k\n"


def test_make_directory_never_changes_a_linked_directory_through_the_link(tmp_path):
    # "/etc/app/" (trailing slash) used to resolve the link, and chmod/chown followed it: the
    # 0700 target became 0777. Now the link itself is replaced, and the target keeps its mode.
    fs = HostFS(root=str(tmp_path))
    fs.make_directory("/secret", 0o700)
    fs.symlink("/etc/app", "../secret")
    fs.make_directory("/etc/app/", 0o777)
    assert mode_of(fs.path("/secret")) == 0o700
    assert not fs.islink("/etc/app") and mode_of(fs.path("/etc/app")) == 0o777


def test_the_mount_point_of_a_missing_path_is_that_of_its_nearest_existing_parent(tmp_path):
    assert hostfs.mount_point("/") == "/" and hostfs.mount_point("/proc/self") == "/proc"
    assert hostfs.mount_point(str(tmp_path / "missing" / "file")) == hostfs.mount_point(str(tmp_path))


def test_fs_type_reads_statfs(tmp_path):
    assert hostfs.fs_type("/proc") == 0x9FA0  # PROC_SUPER_MAGIC
    assert hostfs.fs_type(str(tmp_path / "missing")) is None


def on_fat(monkeypatch, renames=None):
    """Make every directory look like FAT (statfs f_type 0x4d44), and record renames."""
    monkeypatch.setattr(hostfs, "fs_type", lambda path: hostfs.MSDOS_SUPER_MAGIC)
    real_rename = os.rename

    def rename(source, target):
        if renames is not None:
            renames.append((os.path.basename(source), os.path.basename(target), open(source).read()))
        real_rename(source, target)

    monkeypatch.setattr(hostfs.os, "rename", rename)


def test_on_fat_the_new_version_is_written_beside_synced_backed_up_then_renamed(tmp_path, monkeypatch):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/boot/armbianEnv.txt", "extraargs=cma=256M\n")
    renames, synced = [], []
    on_fat(monkeypatch, renames)
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink("/proc/self/fd/%d" % fd))
        real_fsync(fd)

    monkeypatch.setattr(hostfs.os, "fsync", fsync)
    fs.write_atomic("/boot/armbianEnv.txt", "extraargs=cma=256M psi=1\n", mode=None)
    boot = fs.path("/boot")
    assert fs.read_text("/boot/armbianEnv.txt") == "extraargs=cma=256M psi=1\n"
    assert fs.read_text("/boot/armbianEnv.txt.bak") == "extraargs=cma=256M\n"
    assert sorted(fs.listdir("/boot")) == ["armbianEnv.txt", "armbianEnv.txt.bak"]
    assert renames == [("armbianEnv.txt.new", "armbianEnv.txt", "extraargs=cma=256M psi=1\n")]
    # .new synced, the directory, .bak synced, the directory, then (after the rename) the file under
    # its name and the directory: vfat writes a renamed file's directory entry with the file's
    # inode, so a directory fsync alone left the entry naming the old version's freed clusters
    # (a cut then emptied the file: fault test, 2026-12-06)
    names = [os.path.basename(path) for path in synced]
    assert names == ["armbianEnv.txt.new", "boot", "armbianEnv.txt.bak", "boot", "armbianEnv.txt", "boot"], names
    assert synced[1] == boot


def test_on_fat_a_new_file_has_no_backup(tmp_path, monkeypatch):
    fs = HostFS(root=str(tmp_path))
    os.makedirs(fs.path("/boot"))
    on_fat(monkeypatch)
    fs.write_atomic("/boot/new.txt", "x\n")
    assert fs.listdir("/boot") == ["new.txt"] and fs.read_text("/boot/new.txt") == "x\n"


def test_on_fat_a_torn_new_file_of_a_cut_run_is_replaced(tmp_path, monkeypatch):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/boot/env.txt", "old\n")
    fs.write_atomic("/boot/env.txt.new", "ne")  # the cut came while step 1 wrote it
    on_fat(monkeypatch)
    fs.write_atomic("/boot/env.txt", "new\n")
    assert sorted(fs.listdir("/boot")) == ["env.txt", "env.txt.bak"]
    assert (fs.read_text("/boot/env.txt"), fs.read_text("/boot/env.txt.bak")) == ("new\n", "old\n")


def test_on_fat_a_new_file_equal_to_the_file_stops_the_write_and_asks_for_fsck(tmp_path, monkeypatch):
    # A cut between the two directory writes of vfat's rename can leave env.txt.new sharing its
    # clusters with env.txt: truncating, removing or moving it aside and then replacing env.txt
    # would free clusters a name still uses. Nothing is written; fsck.fat is the way out.
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/boot/env.txt", "new\n")
    fs.write_atomic("/boot/env.txt.new", "new\n")
    on_fat(monkeypatch)
    with pytest.raises(WriteError) as caught:
        fs.write_atomic("/boot/env.txt", "newer\n")
    message = str(caught.value)
    assert "env.txt.new reads the same as" in message and "fsck.fat -a" in message and "nothing was written" in message
    assert sorted(fs.listdir("/boot")) == ["env.txt", "env.txt.new"]
    assert fs.read_text("/boot/env.txt") == "new\n" and fs.read_text("/boot/env.txt.new") == "new\n"


def test_on_fat_no_space_is_a_write_error_and_the_file_keeps_its_old_version(tmp_path, monkeypatch):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/boot/env.txt", "old\n")
    on_fat(monkeypatch)

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hostfs.os, "write", full)
    with pytest.raises(WriteError) as caught:
        fs.write_atomic("/boot/env.txt", "new\n")
    assert caught.value.no_space and "env.txt: 4 bytes needed" in str(caught.value)
    assert fs.read_text("/boot/env.txt") == "old\n"


def test_a_backup_is_a_durable_copy_named_as_ansible_names_them_without_colons_on_fat(tmp_path, monkeypatch):
    fs = HostFS(root=str(tmp_path))
    fs.write_atomic("/etc/kernel/cmdline", "root=/dev/vda psi=0\n", mode=0o600)
    copy = fs.backup("/etc/kernel/cmdline")
    assert re.fullmatch(re.escape(fs.path("/etc/kernel/cmdline")) + r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~", copy)
    assert open(copy).read() == "root=/dev/vda psi=0\n" and mode_of(copy) == 0o600
    on_fat(monkeypatch)
    fs.write_atomic("/boot/armbianEnv.txt", "extraargs=\n")
    copy = fs.backup("/boot/armbianEnv.txt")
    assert ":" not in os.path.basename(copy) and open(copy).read() == "extraargs=\n"


def test_free_space_is_what_df_shows_available_not_the_blocks_ext4_keeps_back(monkeypatch):
    # ext4's f_bfree counts its reserved clusters, which even root cannot write: a full root
    # said "16777216 bytes free" beside ENOSPC.
    full = os.statvfs_result((4096, 4096, 100000, 4096, 0, 1000, 10, 10, 0, 255))
    monkeypatch.setattr(hostfs.os, "statvfs", lambda path: full)
    assert hostfs.free_space("/etc/sysctl.d/x.conf") == "0 bytes free on /"
