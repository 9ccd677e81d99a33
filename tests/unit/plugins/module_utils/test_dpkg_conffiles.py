"""dpkg_conffiles: a conffile as its package shipped it, from dpkg's recorded md5sums."""

from __future__ import annotations

import hashlib

from ansible_collections.rock5b.oom.plugins.module_utils import dpkg_conffiles
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from unit_helpers import write

STATUS = ("Package: a\nConffiles:\n /etc/a.conf 11111111111111111111111111111111\n"
          " /etc/old.conf 22222222222222222222222222222222 obsolete\n\nPackage: b\nDescription: x\n /etc/a.conf is named here\n")


def test_recorded_md5_reads_conffile_lines_only():
    assert dpkg_conffiles.recorded_md5(STATUS, "/etc/a.conf") == "1" * 32
    assert dpkg_conffiles.recorded_md5(STATUS, "/etc/old.conf") is None  # obsolete: no package ships it any more
    assert dpkg_conffiles.recorded_md5(STATUS, "/etc/none.conf") is None
    assert dpkg_conffiles.recorded_md5(None, "/etc/a.conf") is None


def test_a_file_is_the_package_default_only_while_its_md5_matches(tmp_path):
    fs = HostFS(str(tmp_path))
    text = "[zram0]\n"
    write(fs.path(dpkg_conffiles.DPKG_STATUS), "Package: g\nConffiles:\n /etc/g.conf %s\n" % hashlib.md5(text.encode()).hexdigest())
    assert dpkg_conffiles.is_package_default(fs, "/etc/g.conf", text)
    assert not dpkg_conffiles.is_package_default(fs, "/etc/g.conf", text + "zram-size = ram\n")
    assert not dpkg_conffiles.is_package_default(fs, "/etc/g.conf", None)


def test_a_usr_file_of_the_package_counts_by_its_md5sums_list(tmp_path):
    """trixie's systemd-zram-generator ships its default in /usr/lib/systemd (no conffile)."""
    fs = HostFS(str(tmp_path))
    text = "[zram0]\n"
    write(fs.path("/var/lib/dpkg/info/systemd-zram-generator.md5sums"),
          "%s  usr/lib/systemd/zram-generator.conf\n0123  usr/lib/systemd/system-generators/zram-generator\n"
          % hashlib.md5(text.encode()).hexdigest())
    path = "/usr/lib/systemd/zram-generator.conf"
    assert dpkg_conffiles.is_package_default(fs, path, text, "systemd-zram-generator")
    assert not dpkg_conffiles.is_package_default(fs, path, text)  # which package's list: it must be told
    assert not dpkg_conffiles.is_package_default(fs, path, "[zram0]\nzram-size = ram\n", "systemd-zram-generator")
