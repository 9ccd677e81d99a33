# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The changelog is antsibull-changelog's output, current, and names every module, filter and role.

CHANGELOG.md is generated from changelogs/changelog.yaml (docs/releasing.md). These tests run
antsibull-changelog itself: its linters on the fragments and on changelog.yaml, and ``generate``
in a copy of changelogs/ whose output must equal the committed CHANGELOG.md, so a hand edit or a
changelog.yaml changed without regenerating fails. A module, filter plugin or role added without
a changelog entry fails too.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "rock5b.oom"


def changelog_tool():
    """antsibull-changelog of the interpreter running the tests (.venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("antsibull-changelog")
    found = str(beside) if beside.is_file() else shutil.which("antsibull-changelog")
    assert found, "antsibull-changelog is not installed (requirements-dev.txt pins it; run tools/setup.sh)"
    return found


def run_tool(cwd, *args):
    return subprocess.run([changelog_tool(), *args], cwd=str(cwd), capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture(name="copy")
def fixture_copy(tmp_path):
    """changelogs/ and galaxy.yml in a temporary directory: all that lint and generate read."""
    shutil.copytree(REPO / "changelogs", tmp_path / "changelogs", ignore=shutil.ignore_patterns(".plugin-cache.yaml"))
    shutil.copy2(REPO / "galaxy.yml", tmp_path / "galaxy.yml")
    return tmp_path


def unescape(markdown):
    """The text of antsibull-changelog's Markdown, whose punctuation is backslash-escaped (rock5b\\.oom\\.file\\_set)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def new_entries(markdown):
    """FQCNs listed under every release's New Modules, New Roles and New Plugins / <type> headings."""
    entries = {}
    section = subsection = None
    for line in unescape(markdown).splitlines():
        if line.startswith("## "):
            section = subsection = None
        elif line.startswith("### "):
            section, subsection = line[4:].strip(), None
        elif line.startswith("#### "):
            subsection = line[5:].strip()
        else:
            match = re.match(r"^[*-] (%s\.[A-Za-z0-9_.]+) - \S" % re.escape(COLLECTION), line)
            if match and section:
                key = "%s/%s" % (section, subsection) if subsection else section
                entries.setdefault(key, set()).add(match.group(1))
    return entries


def version_added(path):
    """The version_added of a plugin file (its DOCUMENTATION, which a filter file keeps in a
    YAML string too) or of a role directory (meta/argument_specs.yml, entry point main)."""
    if path.is_dir():
        specs = yaml.safe_load((path / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
        return str(specs["argument_specs"]["main"]["version_added"])
    match = re.search(r"^version_added: *['\"]?([0-9][0-9.]*)", path.read_text(encoding="utf-8"), re.M)
    assert match, "%s has no version_added" % path
    return match.group(1)


def as_tuple(version):
    return tuple(int(part) for part in version.split("."))


def latest_release():
    changes = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))
    return max(changes["releases"], key=as_tuple)


def released(path):
    """True when the plugin or role says it came with a version that is released already; a
    newer version_added is what the next release adds (antsibull-changelog lists it then)."""
    return as_tuple(version_added(path)) <= as_tuple(latest_release())


def plugin_paths(directory):
    return sorted(path for path in (REPO / directory).glob("*.py") if path.name != "__init__.py")


def role_paths():
    return sorted(path for path in (REPO / "roles").iterdir() if path.is_dir())


def plugin_fqcns(directory, only_released=True):
    return sorted("%s.%s" % (COLLECTION, path.stem) for path in plugin_paths(directory) if released(path) or not only_released)


def role_fqcns(only_released=True):
    return sorted("%s.%s" % (COLLECTION, path.name) for path in role_paths() if released(path) or not only_released)


def test_fragments_lint_clean():
    result = run_tool(REPO, "lint")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stdout + result.stderr


def test_changelog_yaml_lint_clean():
    result = run_tool(REPO, "lint-changelog-yaml", "changelogs/changelog.yaml")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stdout + result.stderr


@pytest.mark.parametrize("content, messages", [
    ("---\nnew_features:\n  - x\n", ["invalid section: new_features"]),
    ("---\nbugfixes: not a list\n", ['section "bugfixes" must be type list not str']),
    ("---\nbugfixes:\n  - monitor - ``unclosed literal\n", ["Inline literal start-string without end-string"]),
])
def test_lint_reports_a_broken_fragment(copy, content, messages):
    """The lint the first test relies on does refuse an unknown section, a non-list and broken markup."""
    assert run_tool(copy, "lint").returncode == 0
    (copy / "changelogs" / "fragments" / "99-broken.yml").write_text(content, encoding="utf-8")
    result = run_tool(copy, "lint")
    assert result.returncode != 0
    for message in messages:
        assert "changelogs/fragments/99-broken.yml" in result.stdout and message in result.stdout, result.stdout + result.stderr


def test_committed_changelog_is_the_generated_one(copy):
    result = run_tool(copy, "generate")
    assert result.returncode == 0, result.stdout + result.stderr
    generated = (copy / "CHANGELOG.md").read_text(encoding="utf-8")
    committed = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True), "CHANGELOG.md", "generated", n=1))
    assert generated == committed, "CHANGELOG.md is not what `antsibull-changelog generate` writes from changelogs/:\n" + diff[:4000]


def test_the_version_galaxy_builds_has_a_release_entry():
    version = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    changes = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))
    release = (changes.get("releases") or {}).get(str(version))
    assert release, "galaxy.yml builds %s but changelogs/changelog.yaml has no such release (antsibull-changelog release)" % version
    assert release.get("release_date") and (release.get("changes") or {}).get("release_summary")
    unescaped = unescape((REPO / "CHANGELOG.md").read_text(encoding="utf-8"))
    assert "## v%s\n" % version in unescaped


def test_every_module_filter_and_role_is_in_the_changelog():
    entries = new_entries((REPO / "CHANGELOG.md").read_text(encoding="utf-8"))
    expected = {
        "New Modules": plugin_fqcns("plugins/modules"),
        "New Plugins/Filter": plugin_fqcns("plugins/filter"),
        "New Roles": role_fqcns(),
    }
    assert all(expected.values()), expected
    for section, fqcns in expected.items():
        missing = sorted(set(fqcns) - entries.get(section, set()))
        assert not missing, "%s without an entry under %s in CHANGELOG.md (antsibull-changelog release adds what has version_added)" % (
            missing, section)


def test_what_is_not_in_the_changelog_yet_is_for_the_next_release():
    """A plugin or role missing from CHANGELOG.md must say it comes with a version after the last
    release (so the next ``antsibull-changelog release`` lists it), never with a released one."""
    latest = latest_release()
    entries = set().union(*new_entries((REPO / "CHANGELOG.md").read_text(encoding="utf-8")).values())
    paths = plugin_paths("plugins/modules") + plugin_paths("plugins/filter") + role_paths()
    unlisted = [path for path in paths if "%s.%s" % (COLLECTION, path.stem if path.suffix else path.name) not in entries]
    stale = sorted("%s (version_added %s)" % (path.relative_to(REPO), version_added(path)) for path in unlisted
                   if as_tuple(version_added(path)) <= as_tuple(latest))
    assert not stale, "not in CHANGELOG.md but version_added says released (latest release %s): %s" % (latest, stale)


def test_released_reads_version_added_of_modules_filters_and_roles():
    assert version_added(REPO / "plugins" / "modules" / "oom_facts.py") == "0.1.0"
    assert version_added(REPO / "plugins" / "filter" / "merge_by_name.py") == "0.1.0"
    assert version_added(REPO / "roles" / "monitor") == "0.1.0"
    assert released(REPO / "roles" / "monitor")


def test_new_entries_reads_antsibull_markdown():
    """new_entries() finds the escaped FQCNs antsibull-changelog writes, by section, and nothing else."""
    text = ("## v0\\.1\\.0\n### Minor Changes\n* rock5b\\.oom\\.x \\- not new\n### New Plugins\n#### Filter\n"
            "* rock5b\\.oom\\.merge\\_by\\_name \\- Merge\\.\n### New Roles\n* rock5b\\.oom\\.self\\_heal \\- Opt\\-in\\.\n")
    assert new_entries(text) == {"Minor Changes": {"rock5b.oom.x"}, "New Plugins/Filter": {"rock5b.oom.merge_by_name"},
                                 "New Roles": {"rock5b.oom.self_heal"}}
