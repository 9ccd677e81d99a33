"""Which sysctl files a board applies at boot (sysctl.boot_reader, boot_files), decided from its
files: systemd-sysctl's search path, /etc/sysctl.conf only where something reads it (Debian 12's
/etc/sysctl.d/99-sysctl.conf link, or procps' init script), masking by name and by /dev/null.
Fake trees of both board generations; the properties run many drawn trees."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils import sysctl
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS

MANAGED = "/etc/sysctl.d/99-oom-rock5b.conf"
DESIRED = {"vm.panic_on_oom": "0", "vm.oom_dump_tasks": "1"}
UNITS = "/usr/lib/systemd/system"
# What Debian 12's procps ships as /etc/sysctl.conf: comments only (an admin adds the last line).
SYSCTL_CONF = "#\n# /etc/sysctl.conf - Configuration file for setting system variables\n#kernel.printk = 3 4 1 3\n"


def make(root, path, text=""):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def link(root, path, target):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def systemd_board(root, procps_script=True):
    """What both generations share: merged /usr, systemd-sysctl.service, Debian systemd's
    procps.service alias of it, procps' init script, a vendor file and the managed profile."""
    link(root, "/lib", "usr/lib")
    make(root, UNITS + "/systemd-sysctl.service", "[Service]\nExecStart=/usr/lib/systemd/systemd-sysctl\n")
    link(root, UNITS + "/procps.service", "systemd-sysctl.service")
    if procps_script:
        make(root, "/etc/init.d/procps", "#!/bin/sh\n")
    make(root, "/usr/lib/sysctl.d/99-protect-links.conf", "fs.protected_fifos = 1\n")
    make(root, MANAGED, "vm.oom_dump_tasks = 1\nvm.panic_on_oom = 0\n")
    return HostFS(root)


def bookworm(root, admin_line="vm.panic_on_oom = 1\n"):
    """Debian 12: /etc/sysctl.conf, and the link that makes systemd-sysctl read it."""
    fs = systemd_board(root)
    make(root, "/etc/sysctl.conf", SYSCTL_CONF + admin_line)
    link(root, "/etc/sysctl.d/99-sysctl.conf", "../sysctl.conf")
    make(root, "/etc/sysctl.d/README.sysctl", "vm.panic_on_oom = 2\n")
    return fs


def trixie(root, admin_line="vm.panic_on_oom = 1\n", procps_script=True):
    """Debian 13: no link; an /etc/sysctl.conf an admin left behind (or wrote by habit)."""
    fs = systemd_board(root, procps_script)
    make(root, "/etc/sysctl.conf", admin_line)
    return fs


def by_path(files):
    return dict((entry["path"], entry) for entry in files)


# --- (1) trixie: /etc/sysctl.conf is not read at boot: no override, a note -------------------

@pytest.mark.parametrize("procps_script", [True, False])
def test_trixie_sysctl_conf_is_no_override_but_a_note(tmp_path, procps_script):
    fs = trixie(str(tmp_path), procps_script=procps_script)
    files, reader = sysctl.boot_files(fs, MANAGED)
    assert reader["reader"] == "systemd-sysctl" and reader["reads_sysctl_conf"] is False
    legacy = by_path(files)["/etc/sysctl.conf"]
    assert legacy["applied"] is False
    assert "not in systemd-sysctl's search path on this board" in legacy["why"]
    assert [entry["path"] for entry in files if entry["applied"]] == [MANAGED, "/usr/lib/sysctl.d/99-protect-links.conf"]
    assert sysctl.find_overrides(fs, MANAGED, DESIRED) == []
    fields, warnings = sysctl.boot_report(fs, MANAGED, DESIRED)
    assert fields["overrides"] == [] and fields["boot_drift"] == []
    assert fields["boot_ignored"] == [
        "ignored at boot: /etc/sysctl.conf line 1 sets vm.panic_on_oom = 1, but /etc/sysctl.conf is not in "
        "systemd-sysctl's search path on this board: no file in the sysctl.d directories links to it, and "
        "systemd-sysctl.service applies the sysctl.d files; it does not read /etc/sysctl.conf itself"]
    assert warnings == fields["boot_ignored"]
    assert fields["boot_reader"] == reader


def test_trixie_fail_on_override_does_not_fail_on_an_ignored_file(tmp_path):
    fs = trixie(str(tmp_path))
    fields, _warnings = sysctl.boot_report(fs, MANAGED, DESIRED, fail_on_override=True)
    assert fields["boot_drift"] == [] and len(fields["boot_ignored"]) == 1


def test_trixie_sysctl_conf_with_the_profile_values_is_no_note(tmp_path):
    fs = trixie(str(tmp_path), admin_line="vm.panic_on_oom = 0\n")
    fields, warnings = sysctl.boot_report(fs, MANAGED, DESIRED)
    assert fields["boot_ignored"] == [] and warnings == [] and fields["boot_drift"] == []


# --- (2) bookworm: the link makes it an override, reported as before ----------------------------

def test_bookworm_sysctl_conf_through_the_link_is_an_override(tmp_path):
    fs = bookworm(str(tmp_path))
    files, reader = sysctl.boot_files(fs, MANAGED)
    assert reader["reads_sysctl_conf"] is False  # systemd-sysctl reads it only through the link
    assert [entry["path"] for entry in files if entry["applied"]] == [
        MANAGED, "/usr/lib/sysctl.d/99-protect-links.conf", "/etc/sysctl.d/99-sysctl.conf"]
    assert by_path(files)["/etc/sysctl.d/99-sysctl.conf"]["target"] == "/etc/sysctl.conf"
    assert "/etc/sysctl.conf" not in by_path(files)  # read once, at the link's place
    fields, warnings = sysctl.boot_report(fs, MANAGED, DESIRED)
    assert fields["overrides"] == [{
        "path": "/etc/sysctl.d/99-sysctl.conf", "line": 4, "key": "vm.panic_on_oom", "value": "1",
        "reason": "applied after /etc/sysctl.d/99-oom-rock5b.conf, sets vm.panic_on_oom = 1"}]
    assert fields["boot_drift"] == [
        "vm.panic_on_oom is overridden at boot: /etc/sysctl.d/99-sysctl.conf line 4 sets vm.panic_on_oom = 1 "
        "after /etc/sysctl.d/99-oom-rock5b.conf"]
    assert fields["boot_ignored"] == []
    assert warnings == ["other files override the profile at boot: /etc/sysctl.d/99-sysctl.conf: applied after "
                        "/etc/sysctl.d/99-oom-rock5b.conf, sets vm.panic_on_oom = 1"]
    with pytest.raises(sysctl.ModuleError) as failure:
        sysctl.boot_report(fs, MANAGED, DESIRED, fail_on_override=True)
    assert "/etc/sysctl.d/99-sysctl.conf" in failure.value.msg


def test_an_absolute_link_is_read_on_the_board_not_on_this_host(tmp_path):
    root = str(tmp_path)
    fs = trixie(root)
    link(root, "/etc/sysctl.d/99-sysctl.conf", "/etc/sysctl.conf")
    assert [item["path"] for item in sysctl.find_overrides(fs, MANAGED, DESIRED)] == ["/etc/sysctl.d/99-sysctl.conf"]


def test_a_masked_link_to_sysctl_conf_does_not_read_it(tmp_path):
    root = str(tmp_path)
    fs = trixie(root)
    link(root, "/usr/lib/sysctl.d/99-sysctl.conf", "../../../etc/sysctl.conf")
    make(root, "/etc/sysctl.d/99-sysctl.conf", "")
    files, _reader = sysctl.boot_files(fs, MANAGED)
    assert by_path(files)["/usr/lib/sysctl.d/99-sysctl.conf"]["masked_by"] == "/etc/sysctl.d/99-sysctl.conf"
    assert by_path(files)["/etc/sysctl.conf"]["applied"] is False
    assert sysctl.find_overrides(fs, MANAGED, DESIRED) == []


# --- (3) masking by name and by /dev/null --------------------------------------------------------

@pytest.mark.parametrize("mask", ["file", "relative /dev/null link", "absolute /dev/null link"])
def test_a_vendor_file_masked_from_etc_is_not_counted(tmp_path, mask):
    root = str(tmp_path)
    fs = trixie(root, admin_line="")
    make(root, "/usr/lib/sysctl.d/99-zz-vendor.conf", "vm.panic_on_oom = 1\n")
    if mask == "file":
        make(root, "/etc/sysctl.d/99-zz-vendor.conf", "# nothing here\n")
    else:
        link(root, "/etc/sysctl.d/99-zz-vendor.conf", "/dev/null" if mask.startswith("absolute") else "../../dev/null")
    assert sysctl.find_overrides(fs, MANAGED, DESIRED) == []
    files, _reader = sysctl.boot_files(fs, MANAGED)
    masked = by_path(files)["/usr/lib/sysctl.d/99-zz-vendor.conf"]
    assert masked["applied"] is False and masked["masked_by"] == "/etc/sysctl.d/99-zz-vendor.conf"
    assert by_path(files)["/etc/sysctl.d/99-zz-vendor.conf"]["applied"] is (mask == "file")
    assert sysctl.boot_report(fs, MANAGED, DESIRED)[0]["boot_ignored"] == []


def test_an_unmasked_vendor_file_is_counted(tmp_path):
    root = str(tmp_path)
    fs = trixie(root, admin_line="")
    make(root, "/usr/lib/sysctl.d/99-zz-vendor.conf", "vm.panic_on_oom = 1\n")
    assert [item["path"] for item in sysctl.find_overrides(fs, MANAGED, DESIRED)] == ["/usr/lib/sysctl.d/99-zz-vendor.conf"]


def test_a_dev_null_link_over_the_managed_name_masks_the_profile(tmp_path):
    root = str(tmp_path)
    fs = trixie(root, admin_line="")
    link(root, "/etc/sysctl.d/60-oom.conf", "/dev/null")
    [item] = sysctl.find_overrides(fs, "/usr/lib/sysctl.d/60-oom.conf", DESIRED)
    assert item["path"] == "/etc/sysctl.d/60-oom.conf" and item["key"] == "*"


def test_hidden_files_directories_and_other_suffixes_are_not_read(tmp_path):
    root = str(tmp_path)
    fs = trixie(root, admin_line="")
    make(root, "/etc/sysctl.d/.zz-hidden.conf", "vm.panic_on_oom = 1\n")
    make(root, "/etc/sysctl.d/zz.conf.dpkg-old", "vm.panic_on_oom = 1\n")
    make(root, "/etc/sysctl.d/zz-dir.conf/x.conf", "vm.panic_on_oom = 1\n")
    assert sysctl.find_overrides(fs, MANAGED, DESIRED) == []
    files, _reader = sysctl.boot_files(fs, MANAGED)
    assert [entry["path"] for entry in files] == [MANAGED, "/usr/lib/sysctl.d/99-protect-links.conf", "/etc/sysctl.conf"]


# --- (4) every directory of the search path is scanned -------------------------------------------

def test_run_and_usr_local_lib_are_scanned(tmp_path):
    root = str(tmp_path)
    fs = trixie(root, admin_line="")
    make(root, "/run/sysctl.d/zz-run.conf", "vm.panic_on_oom = 2\n")
    make(root, "/usr/local/lib/sysctl.d/zz-local.conf", "vm.oom_dump_tasks = 0\n")
    assert [(item["path"], item["key"]) for item in sysctl.find_overrides(fs, MANAGED, DESIRED)] == [
        ("/usr/local/lib/sysctl.d/zz-local.conf", "vm.oom_dump_tasks"), ("/run/sysctl.d/zz-run.conf", "vm.panic_on_oom")]


def test_merged_lib_is_read_once_and_a_split_lib_is_read(tmp_path):
    merged = str(tmp_path / "merged")
    fs = trixie(merged, admin_line="")
    files, _reader = sysctl.boot_files(fs, MANAGED)
    assert [entry["path"] for entry in files] == [MANAGED, "/usr/lib/sysctl.d/99-protect-links.conf", "/etc/sysctl.conf"]
    split = str(tmp_path / "split")
    make(split, "/lib/sysctl.d/zz-split.conf", "vm.panic_on_oom = 1\n")
    make(split, MANAGED, "")
    assert [item["path"] for item in sysctl.find_overrides(HostFS(split), MANAGED, DESIRED)] == ["/lib/sysctl.d/zz-split.conf"]


# --- who reads /etc/sysctl.conf at boot -----------------------------------------------------------

def test_procps_script_without_systemd_sysctl_reads_sysctl_conf_last(tmp_path):
    root = str(tmp_path)
    make(root, "/etc/init.d/procps", "#!/bin/sh\n")
    make(root, "/etc/sysctl.conf", "vm.panic_on_oom = 1\n")
    make(root, "/etc/sysctl.d/zz-late.conf", "vm.panic_on_oom = 2\n")
    files, reader = sysctl.boot_files(HostFS(root), MANAGED)
    assert reader["reader"] == "procps" and reader["reads_sysctl_conf"] is True
    assert [entry["path"] for entry in files if entry["applied"]] == [MANAGED, "/etc/sysctl.d/zz-late.conf", "/etc/sysctl.conf"]
    assert [item["path"] for item in sysctl.find_overrides(HostFS(root), MANAGED, DESIRED)] == [
        "/etc/sysctl.d/zz-late.conf", "/etc/sysctl.conf"]


def test_procps_script_under_systemd_without_its_alias_reads_sysctl_conf(tmp_path):
    root = str(tmp_path)
    fs = trixie(root)
    os.unlink(os.path.join(root, UNITS.lstrip("/"), "procps.service"))
    files, reader = sysctl.boot_files(fs, MANAGED)
    assert reader["reader"] == "systemd-sysctl+procps" and reader["reads_sysctl_conf"] is True
    assert by_path(files)["/etc/sysctl.conf"]["applied"] is True
    assert [item["path"] for item in sysctl.find_overrides(fs, MANAGED, DESIRED)] == ["/etc/sysctl.conf"]


@pytest.mark.parametrize("script, reader, reads", [(True, "procps", True), (False, "systemd-sysctl", False)])
def test_masked_systemd_sysctl_leaves_procps_or_the_assumed_path(tmp_path, script, reader, reads):
    root = str(tmp_path)
    if script:
        make(root, "/etc/init.d/procps", "#!/bin/sh\n")
    link(root, "/etc/systemd/system/systemd-sysctl.service", "/dev/null")
    answer = sysctl.boot_reader(HostFS(root))
    assert (answer["reader"], answer["reads_sysctl_conf"]) == (reader, reads)
    assert "systemd-sysctl.service is masked" in answer["why"]


def test_no_reader_found_assumes_systemd_sysctl_and_says_so(tmp_path):
    answer = sysctl.boot_reader(HostFS(str(tmp_path)))
    assert answer["reader"] == "systemd-sysctl" and answer["reads_sysctl_conf"] is False
    assert "is not installed and there is no /etc/init.d/procps" in answer["why"]


# --- properties: the listing order of a directory changes nothing --------------------------------

DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
NAMES = st.sampled_from(["10-a.conf", "50-b.conf", "99-oom-rock5b.conf", "99-sysctl.conf", "99-z.conf", "zz.conf"])
KINDS = st.sampled_from(["sets 1", "sets 0", "dev null", "to sysctl.conf"])
TREES = st.fixed_dictionaries({
    "files": st.dictionaries(st.tuples(st.sampled_from(DIRS), NAMES), KINDS, max_size=10),
    "legacy": st.booleans(), "script": st.booleans(), "unit": st.booleans(), "alias": st.booleans(),
})


def plant(root, tree):
    for (directory, name), kind in sorted(tree["files"].items()):
        path = "%s/%s" % (directory, name)
        if kind == "dev null":
            link(root, path, "/dev/null")
        elif kind == "to sysctl.conf":
            link(root, path, "/etc/sysctl.conf")
        else:
            make(root, path, "vm.panic_on_oom = %s\n" % kind[-1])
    if tree["legacy"]:
        make(root, "/etc/sysctl.conf", "vm.panic_on_oom = 1\n")
    if tree["script"]:
        make(root, "/etc/init.d/procps", "#!/bin/sh\n")
    if tree["unit"]:
        make(root, UNITS + "/systemd-sysctl.service", "[Service]\n")
    if tree["alias"]:
        link(root, UNITS + "/procps.service", "systemd-sysctl.service")


class Shuffled(HostFS):
    """A board whose directories list their names in another order."""

    def __init__(self, root, random):
        super().__init__(root)
        self.random = random

    def listdir(self, path):
        names = super().listdir(path)
        self.random.shuffle(names)
        return names


@settings(max_examples=60, deadline=None)
@given(TREES, st.randoms(use_true_random=False))
def test_listing_order_changes_nothing_and_the_rules_hold(tree, random):
    with tempfile.TemporaryDirectory() as root:
        plant(root, tree)
        files, reader = sysctl.boot_files(HostFS(root), MANAGED)
        assert sysctl.boot_files(Shuffled(root, random), MANAGED) == (files, reader)
        assert sysctl.find_overrides(Shuffled(root, random), MANAGED, DESIRED) == sysctl.find_overrides(
            HostFS(root), MANAGED, DESIRED)
        applied = [entry for entry in files if entry["applied"]]
        names = [entry["name"] for entry in applied if entry["path"] != "/etc/sysctl.conf"]
        assert names == sorted(set(names))  # one file per name, applied by name
        for entry in files:
            taken_by = [d for d in DIRS if (d, entry["name"]) in tree["files"] or "%s/%s" % (d, entry["name"]) == MANAGED]
            if entry["path"] == "/etc/sysctl.conf":
                # read at boot only by procps, or through a link (then it is not listed on its own)
                assert entry["applied"] is reader["reads_sysctl_conf"]
                assert reader["reads_sysctl_conf"] is (tree["script"] and not (tree["unit"] and tree["alias"]))
            elif "masked_by" in entry:
                assert os.path.dirname(entry["masked_by"]) == taken_by[0] != os.path.dirname(entry["path"])
            else:
                assert os.path.dirname(entry["path"]) == taken_by[0]
                assert entry["applied"] is (tree["files"].get((taken_by[0], entry["name"])) != "dev null")
