"""systemd layer: the board's systemd version, read from the name of libsystemd-shared-<N>.so (nothing
run), and what that version means for a request of the cgroup v1 hierarchy."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.rock5b.oom.plugins.module_utils import systemd
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from unit_helpers import FakeModule

# Debian 12 (dpkg -L libsystemd-shared on bookworm) and Debian 13 (packages.debian.org file list).
BOOKWORM = ("/usr/lib/aarch64-linux-gnu/systemd/libsystemd-shared-252.so", "/usr/lib/aarch64-linux-gnu/systemd/libsystemd-core-252.so")
TRIXIE = ("/usr/lib/aarch64-linux-gnu/systemd/libsystemd-shared-257.so", "/usr/lib/aarch64-linux-gnu/systemd/libsystemd-core-257.so")


# What Debian 13's systemd 257 does with a cgroup v1 request, as seen in the VM test bed.
V257 = ("systemd 257 on this board does not run the cgroup v1 hierarchy (it waits 30 s at every boot, then boots cgroup v2 anyway; "
        "v1 was dropped in systemd 256 and removed in 258)")


def tree(tmp_path, *files):
    for path in files:
        full = os.path.join(str(tmp_path), path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        open(full, "w").close()
    return HostFS(root=str(tmp_path))


@pytest.mark.parametrize("files, version", [
    (BOOKWORM, 252),
    (TRIXIE, 257),
    (("/usr/lib/systemd/libsystemd-shared-256.so",), 256),                          # upstream's default place
    (("/lib/systemd/libsystemd-shared-247.so",), 247),                              # Debian 11 and older
    (("/usr/lib64/systemd/libsystemd-shared-255.4-1.fc40.so",), 255),                # a shared-lib-tag with a release
    (("/lib/arm-linux-gnueabihf/systemd/libsystemd-shared-254.so",), 254),
    (BOOKWORM + ("/usr/lib/aarch64-linux-gnu/systemd/libsystemd-shared-257.so",), 257),  # several: the highest
    (("/usr/lib/systemd/libsystemd-shared-249.so", "/usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-258.so"), 258),
])
def test_the_version_is_read_from_the_library_name(tmp_path, files, version):
    assert systemd.installed_version(tree(tmp_path, *files)) == version


@pytest.mark.parametrize("files", [
    (),
    ("/usr/lib/systemd/libsystemd-shared-.so", "/usr/lib/systemd/libsystemd-shared-abc.so",
     "/usr/lib/systemd/libsystemd-shared-257.so.dpkg-old", "/usr/lib/systemd/libsystemd-core-257.so",
     "/usr/lib/systemd/libsystemd-shared-1234567.so", "/usr/lib/systemd/xlibsystemd-shared-257.so",
     "/usr/lib/systemd/libsystemd-shared-257 .so", "/usr/lib/systemd/libsystemd-shared-0257.so"),
    ("/usr/lib/python3/systemd/libsystemd-shared-257.so",),                         # not a multiarch directory
    ("/usr/lib/aarch64-linux-gnu/libsystemd-shared-257.so",),                       # not in systemd/
    ("/usr/lib/aarch64-linux-gnu/libsystemd.so.0",),
])
def test_junk_and_other_places_say_nothing(tmp_path, files):
    assert systemd.installed_version(tree(tmp_path, *files)) is None


def test_junk_beside_the_library_does_not_hide_it(tmp_path):
    fs = tree(tmp_path, "/usr/lib/systemd/libsystemd-shared-abc.so", "/usr/lib/systemd/libsystemd-shared-257.so.bak",
              "/usr/lib/aarch64-linux-gnu/systemd/libsystemd-shared-252.so")
    assert systemd.installed_version(fs) == 252


def test_a_test_tree_never_asks_the_controllers_systemctl(tmp_path):
    module = FakeModule(out="systemd 257 (257.8-1~deb13u2)\n")
    assert systemd.board_version(tree(tmp_path), module) is None
    assert module.calls == []
    assert systemd.board_version(tree(tmp_path, *TRIXIE), module) == 257 and module.calls == []


class EmptyRoot:
    """The real root, with no libsystemd-shared anywhere (an unusual layout)."""
    root = "/"

    def listdir(self, _path):
        return []


@pytest.mark.parametrize("answer, version", [
    ((0, "systemd 257 (257.8-1~deb13u2)\n+PAM +AUDIT default-hierarchy=unified\n", ""), 257),
    ((0, "systemd 252 (252.38-1~deb12u1)\n", ""), 252),
    ((1, "", "systemctl: command not found"), None),
    ((0, "not systemd\n", ""), None),
])
def test_on_the_real_root_systemctl_is_the_fallback(answer, version):
    module = FakeModule(*answer)
    assert systemd.board_version(EmptyRoot(), module) == version
    assert module.calls == [["systemctl", "--version"]]
    assert systemd.board_version(EmptyRoot()) is None  # no module: nothing is run


@given(st.integers(0, 999999), st.sampled_from(["", ".4-1.fc40", "-1", "~rc1", "+git"]))
def test_a_library_name_gives_its_version(number, tag):
    assert systemd.version_from_library("libsystemd-shared-%d%s.so" % (number, tag)) == number


@given(st.text(max_size=40))
def test_any_name_gives_none_or_the_digits_it_starts_with(name):
    version = systemd.version_from_library(name)
    assert version is None or (name.startswith("libsystemd-shared-%d" % version) and name.endswith(".so"))
    glued = systemd.version_from_library("libsystemd-shared-%s" % name)
    assert glued is None or ("libsystemd-shared-" + name).startswith("libsystemd-shared-%d" % glued)


@given(st.integers(0, 999999), st.text(max_size=60))
def test_systemctl_version_output_gives_its_major_version(number, rest):
    assert systemd.parse_systemctl_version("systemd %d (%s)\n%s" % (number, rest, rest)) == number


@given(st.text(max_size=60))
def test_systemctl_output_that_does_not_start_with_systemd_gives_none(text):
    version = systemd.parse_systemctl_version(text)
    assert version is None or text.startswith("systemd %d" % version)


@given(st.lists(st.one_of(st.integers(0, 999999).map("libsystemd-shared-{}.so".format),
                          st.text("abcdefl-.0123456789", max_size=20)), max_size=8))
def test_the_highest_of_several_libraries_wins(names):
    class Listing:
        root = "/nonexistent"

        def listdir(self, path):
            return names if path == "/usr/lib/systemd" else []

    versions = [systemd.version_from_library(name) for name in names]
    versions = [version for version in versions if version is not None]
    assert systemd.installed_version(Listing()) == (max(versions) if versions else None)


# --- what the version means for cgroup v1 -----------------------------------------------------------

def test_systemd_before_256_may_be_asked_for_cgroup_v1():
    assert systemd.cgroup_v1_refusal(252, ["systemd.unified_cgroup_hierarchy=0"]) is None
    assert systemd.cgroup_v1_refusal(255, ["systemd.unified_cgroup_hierarchy=0"]) is None
    assert systemd.cgroup_v1_warning(252, "/boot/armbianEnv.txt", ["systemd.unified_cgroup_hierarchy=0"]) is None


def test_systemd_257_is_refused_naming_the_version_the_argument_and_why():
    message = systemd.cgroup_v1_refusal(257, ["systemd.unified_cgroup_hierarchy=0"])
    assert message == (
        V257 + ": adding systemd.unified_cgroup_hierarchy=0 asks for cgroup v1, which this board cannot give; nothing was written")


@pytest.mark.parametrize("version", [256, 258, 300])
def test_every_version_from_256_on_is_refused(version):
    message = systemd.cgroup_v1_refusal(version, ["systemd.legacy_systemd_cgroup_controller"])
    assert message.startswith("systemd %d on this board does not run the cgroup v1 hierarchy" % version)
    assert "systemd.legacy_systemd_cgroup_controller" in message and message.endswith("nothing was written")


def test_an_unknown_version_is_refused_with_its_own_message():
    message = systemd.cgroup_v1_refusal(None, ["systemd.unified_cgroup_hierarchy=false"])
    assert message.startswith("the systemd version of this board is unknown")
    assert "systemd.unified_cgroup_hierarchy=false" in message and "/usr/lib/<multiarch>/systemd" in message
    assert message.endswith("nothing was written")
    assert systemd.cgroup_v1_warning(None, "/etc/kernel/cmdline", ["systemd.unified_cgroup_hierarchy=0"]) is None


def test_nothing_asked_is_never_refused():
    assert systemd.cgroup_v1_refusal(None, []) is None and systemd.cgroup_v1_refusal(257, []) is None


def test_an_argument_already_there_is_a_warning_saying_how_to_remove_it():
    warning = systemd.cgroup_v1_warning(257, "/boot/armbianEnv.txt", ['"systemd.unified_cgroup_hierarchy=no"'])
    assert warning == (
        '/boot/armbianEnv.txt has "systemd.unified_cgroup_hierarchy=no": ' + V257 +
        "; remove it (remove: systemd.unified_cgroup_hierarchy)")
