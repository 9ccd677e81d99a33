"""The lru_gen module's domain (module_utils/lru_gen_settings.py): the tmpfiles.d text and its
path rule, the read-back rule of min_ttl_ms."""

from __future__ import annotations

import pytest

from ansible_collections.rock5b.oom.plugins.module_utils import lru_gen_settings as settings


def test_render_and_parse_round_trip_in_a_fixed_order():
    text = settings.render({"min_ttl_ms": 0, "enabled": False})
    assert text.endswith("w /sys/kernel/mm/lru_gen/enabled - - - - n\nw /sys/kernel/mm/lru_gen/min_ttl_ms - - - - 0\n")
    assert settings.file_values(text) == {"enabled": False, "min_ttl_ms": 0}
    assert settings.managed(text)
    assert settings.render({"enabled": None, "min_ttl_ms": None}) is None


def test_parse_takes_the_first_line_of_a_setting_as_systemd_tmpfiles_does():
    text = ("# vendor\nw /sys/kernel/mm/lru_gen/min_ttl_ms - - - - 5000\nw- /sys/kernel/mm/lru_gen/min_ttl_ms - - - - 0\n"
            "w /sys/kernel/mm/transparent_hugepage/enabled - - - - never\nw /sys/kernel/mm/lru_gen/enabled\n")
    assert settings.parse(text) == {"min_ttl_ms": "5000", "enabled": ""}
    assert settings.file_values(text) == {"enabled": "", "min_ttl_ms": 5000}
    assert not settings.managed(text) and not settings.managed(None)


@pytest.mark.parametrize("path", ["/etc/tmpfiles.d/rock5b-oom-lru-gen.conf", "/run/tmpfiles.d/x.conf",
                                  "/usr/local/lib/tmpfiles.d/x.conf", "/usr/lib/tmpfiles.d/x.conf"])
def test_a_conf_file_in_a_tmpfiles_directory_is_a_place_for_the_file(path):
    assert settings.tmpfiles_path_problem(path) is None


@pytest.mark.parametrize("path", ["/etc/tmpfiles.d/.conf", "/etc/tmpfiles.d/.x.conf", "/etc/tmpfiles.d", "/lib/tmpfiles.d/x.conf",
                                  "/etc/tmpfiles.d//x.conf", "/etc/tmpfiles.d/x.conf\n", 5, None])
def test_other_paths_are_refused_naming_the_option(path):
    assert settings.tmpfiles_path_problem(path, "mglru_path").startswith("mglru_path must be")


@pytest.mark.parametrize("desired, live, holds", [
    (1000, 1000, True), (1001, 1004, True), (1001, 1010, True), (1001, 1011, False), (1000, 999, False),
    (0, 0, True), (0, 4, False), (1000, None, False), (None, 5, True),
])
def test_min_ttl_ms_holds_up_to_a_tick_above(desired, live, holds):
    assert settings.holds("min_ttl_ms", desired, live) is holds


def test_enabled_holds_only_the_same_switch():
    assert settings.holds("enabled", True, True) and not settings.holds("enabled", True, None)
    assert not settings.holds("enabled", False, True) and settings.holds("enabled", None, False)
