"""oom_preference: which ManagedOOMPreference= a protected unit's drop-in gets, and where."""

from __future__ import annotations

import os

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import oom_preference
from ansible_collections.rock5b.oom.plugins.module_utils.hostfs import HostFS
from unit_helpers import write

LIBRARY = "/usr/lib/aarch64-linux-gnu/systemd/libsystemd-shared-%d.so"
OOMD_UNIT = "/usr/lib/systemd/system/systemd-oomd.service"


@pytest.fixture
def fs(tmp_path):
    return HostFS(root=str(tmp_path))


def put(fs, path, text=""):
    write(fs.path(path), text)


@pytest.mark.parametrize("choice, value, expected", [
    ("auto", -1000, "omit"), ("auto", -999, "avoid"), ("auto", -1, "avoid"), ("auto", 0, None), ("auto", 500, None),
    ("avoid", -1000, "avoid"), ("omit", -200, "omit"), ("omit", 0, None), ("avoid", 1, None),
    ("none", -1000, None), ("auto", None, None), ("bogus", -1000, None),
])
def test_preference_for_a_score(choice, value, expected):
    assert oom_preference.preference_for(choice, value) == expected


def test_written_where_oomd_is_installed_on_systemd_248_or_later(fs):
    put(fs, LIBRARY % 252)
    rule, warnings = oom_preference.preference_rule(fs, "auto")
    assert rule(-1000) is None and warnings == []  # no systemd-oomd.service
    put(fs, OOMD_UNIT, "[Service]\nExecStart=/usr/lib/systemd/systemd-oomd\n")
    rule, warnings = oom_preference.preference_rule(fs, "auto")
    assert (rule(-1000), rule(-500), rule(10)) == ("omit", "avoid", None) and warnings == []
    rule, warnings = oom_preference.preference_rule(fs, "none")
    assert rule(-1000) is None and warnings == []


def test_a_masked_oomd_is_not_there_unless_assumed(fs):
    put(fs, LIBRARY % 257)
    put(fs, OOMD_UNIT, "[Service]\n")
    os.makedirs(fs.path("/etc/systemd/system"))
    os.symlink("/dev/null", fs.path("/etc/systemd/system/systemd-oomd.service"))
    assert oom_preference.preference_rule(fs, "omit")[0](-100) is None
    # the run in which the monitor role installs it: check mode predicts it
    assert oom_preference.preference_rule(fs, "omit", assume_oomd=True)[0](-100) == "omit"


@pytest.mark.parametrize("version, shown", [(247, "systemd 247"), (None, "an unknown version")])
def test_older_or_unknown_systemd_leaves_it_out_with_a_warning(fs, version, shown):
    if version is not None:
        put(fs, LIBRARY % version)
    put(fs, OOMD_UNIT, "[Service]\n")
    rule, warnings = oom_preference.preference_rule(fs, "auto")
    assert rule(-1000) is None
    assert warnings == ["managed_oom_preference=auto: ManagedOOMPreference= needs systemd 248 or later and this "
                        "board runs %s; the drop-ins are written without it, so systemd-oomd may still kill the "
                        "protected units" % shown]
