"""The built collection artifact (ansible-galaxy collection build) holds what a user needs and
nothing of the development test bed or of the caches tools leave in the working tree.

ansible-galaxy packs the working tree as it is, untracked files included, filtered only by
galaxy.yml's build_ignore (fnmatch on the path relative to the collection root). So the test
builds from a copy of the repository's files (git ls-files: tracked plus untracked-not-ignored)
into which it plants the junk a developer's tree really collects (nested .pytest_cache,
__pycache__, .ansible/, changelogs/.plugin-cache.yaml, .hypothesis, .cache, tests/output, editor
files, an old tarball), then opens the tarball and checks its members, FILES.json and
MANIFEST.json. It prints the artifact's size and file count (run with -s to see them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from urllib.parse import urlsplit

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What tools drop into a working tree; each must stay out of the artifact.
PLANTED_JUNK = (
    ".pytest_cache/v/cache/lastfailed",
    "tests/unit/.pytest_cache/v/cache/nodeids",
    "tests/unit/plugins/.pytest_cache/README.md",
    "roles/monitor/files/rock5b_oom_monitor/__pycache__/loop.cpython-311.pyc",
    "plugins/modules/__pycache__/vm_sysctl.cpython-311.pyc",
    "plugins/module_utils/__pycache__/stray.cpython-313.pyc",
    "plugins/filter/stray.pyc",
    ".ansible/collections/ansible_collections/rock5b/oom/MANIFEST.json",
    "roles/monitor/.ansible/tmp/ansible-local-1/x",
    "changelogs/.plugin-cache.yaml",
    ".hypothesis/examples/0123456789abcdef/x",
    "tests/unit/.hypothesis/constants/0123456789abcdef",
    ".cache/sanity/ansible_collections/rock5b/oom/README.md",
    "roles/monitor/files/.cache/x",
    "tests/output/junit/python3.11-units.xml",
    "tests/output/.tmp/sanity/x.txt",
    ".venv/bin/python3",
    "tests/unit/.venv/pyvenv.cfg",
    ".mypy_cache/3.11/x.json",
    ".coverage",
    "docs/alerts.md.tmp",
    "docs/.DS_Store",
    "roles/monitor/tasks/.main.yml.swp",
    "README.md~",
    "playbooks/site.yml.orig",
    ".vscode/settings.json",
    ".idea/workspace.xml",
    ".git/HEAD",
    "rock5b-oom-0.0.1.tar.gz",
)
# Path components and suffixes that mark junk wherever they appear in the artifact.
JUNK_NAMES = frozenset((
    "__pycache__", ".pytest_cache", ".hypothesis", ".cache", ".ansible", ".venv", ".git", ".mypy_cache",
    ".idea", ".vscode", ".DS_Store", ".plugin-cache.yaml", ".coverage",
))
JUNK_SUFFIXES = (".pyc", ".pyo", ".swp", "~", ".orig", ".rej", ".tmp", ".tar.gz")
# The development test bed: the lab, benchmarks, CI, molecule, dev pins and lint configuration.
DEV_BED = (
    "tools", "bench", ".ci", "extensions", "inventory/lab", "Makefile", "ansible.cfg", ".ansible-lint", ".yamllint",
    ".gitignore", ".git", "galaxy.yml",
)
DEV_BED_PATTERNS = ("requirements-*.txt", "tests/requirements-*.txt")
# Hosts that are not a project's public home.
PLACEHOLDER_HOST = re.compile(r"(^|\.)(example\.(com|org|net)|example|invalid|test|localhost)$")
LINK_FIELDS = ("repository", "documentation", "issues", "homepage")
GALAXY_TAG = re.compile(r"^[a-z][a-z0-9_]*$")


def source_files():
    """The repository's files as ansible-galaxy would see them in a clean checkout: tracked plus
    untracked-but-not-ignored, relative to the root (deleted-but-tracked files left out)."""
    proc = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          capture_output=True, check=True)
    names = {name for name in proc.stdout.decode("utf-8").split("\0") if name}
    return sorted(name for name in names if os.path.lexists(os.path.join(REPO, name)))


def make_tree(dest, galaxy_yml=None):
    """Copy the repository's files to ``dest`` and plant PLANTED_JUNK; ``galaxy_yml`` (text)
    replaces the copy's galaxy.yml. Returns the copied source files."""
    files = source_files()
    for name in files:
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(REPO, name), target, follow_symlinks=False)
    for name in PLANTED_JUNK:
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write("planted by tests/unit/test_collection_build.py\n")
    if galaxy_yml is not None:
        with open(os.path.join(dest, "galaxy.yml"), "w", encoding="utf-8") as handle:
            handle.write(galaxy_yml)
    return files


def ansible_galaxy():
    path = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    if not os.path.exists(path):
        path = shutil.which("ansible-galaxy")
    if path is None:
        pytest.fail("ansible-galaxy is not installed next to %s nor on PATH (`make setup` installs ansible-core)" % sys.executable)
    return path


def build_artifact(workdir, galaxy_yml=None):
    """Build the collection from a planted copy of the repository under ``workdir``; the
    artifact as a dict: tarball, size, members (name -> TarInfo), files, dirs, manifest,
    files_json, raw_manifest, data (name -> bytes of each regular file), sources."""
    tree = os.path.join(workdir, "tree")
    out = os.path.join(workdir, "dist")
    os.makedirs(out)
    sources = make_tree(tree, galaxy_yml)
    proc = subprocess.run([ansible_galaxy(), "collection", "build", "--output-path", out, tree],
                          cwd=workdir, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, "ansible-galaxy collection build failed:\n%s%s" % (proc.stdout, proc.stderr)
    tarballs = [name for name in os.listdir(out) if name.endswith(".tar.gz")]
    assert len(tarballs) == 1, "expected one tarball in %s, found %s" % (out, tarballs)
    tarball = os.path.join(out, tarballs[0])
    with tarfile.open(tarball, "r:gz") as tar:
        members = {member.name: member for member in tar.getmembers()}
        data = {name: tar.extractfile(member).read() for name, member in members.items() if member.isfile()}
    return {
        "tarball": tarball,
        "size": os.path.getsize(tarball),
        "members": members,
        "files": set(data),
        "dirs": {name for name, member in members.items() if member.isdir()},
        "manifest": json.loads(data["MANIFEST.json"]),
        "raw_manifest": data["MANIFEST.json"].decode("utf-8"),
        "files_json": json.loads(data["FILES.json"]),
        "data": data,
        "sources": sources,
    }


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return build_artifact(str(tmp_path_factory.mktemp("collection-build")))


def listing(paths):
    return "\n  ".join(sorted(paths)) or "(none)"


def is_dev_bed(path):
    return any(path == top or path.startswith(top + "/") for top in DEV_BED) or \
        any(re.fullmatch(pattern.replace(".", r"\.").replace("*", "[^/]*"), path) for pattern in DEV_BED_PATTERNS)


def is_junk(path):
    return bool(JUNK_NAMES & set(path.split("/"))) or path.endswith(JUNK_SUFFIXES) or path.startswith("tests/output/")


def test_no_planted_junk_or_cache_in_the_artifact(artifact):
    planted = sorted(set(PLANTED_JUNK) & artifact["files"])
    assert not planted, "planted junk packed into the artifact (add it to galaxy.yml build_ignore):\n  " + listing(planted)
    junk = [name for name in artifact["members"] if is_junk(name) or name == "tests/output"]
    assert not junk, "cache/editor/build leftovers in the artifact:\n  " + listing(junk)
    # Every file of the artifact is one of the repository's own files (or ansible-galaxy's two).
    strays = artifact["files"] - set(artifact["sources"]) - {"MANIFEST.json", "FILES.json"}
    assert not strays, "files in the artifact that are not files of the repository:\n  " + listing(strays)


def test_no_dev_bed_in_the_artifact(artifact):
    dev = [name for name in artifact["members"] if is_dev_bed(name)]
    assert not dev, "development test bed packed into the artifact (add it to galaxy.yml build_ignore):\n  " + listing(dev)
    # The check itself sees the dev bed: the copy the artifact was built from has it.
    assert {"Makefile", "tools/sanity.sh", "inventory/lab/hosts.yml"} <= set(artifact["sources"])


def required_files(sources):
    """What a user of the installed collection needs, from the repository's own layout (junk an
    untracked tool cache left in the working tree does not count)."""
    sources = [name for name in sources if not is_junk(name) and not is_dev_bed(name)]
    with open(os.path.join(REPO, "roles", "monitor", "files", "manifest.json"), encoding="utf-8") as handle:
        monitor = [entry["src"] for entry in json.load(handle)["files"]]
    roles = sorted({name.split("/")[1] for name in sources if name.startswith("roles/") and name.count("/") >= 2})
    assert len(roles) >= 6, "roles found in the repository: %s" % roles
    modules = [name for name in sources if re.fullmatch(r"plugins/modules/[^/]+\.py", name)]
    assert modules, "no plugins/modules/*.py in the repository"
    docs = [name for name in sources if name.startswith("docs/") and not name.endswith(".tmp")]
    assert any(name.endswith(".md") for name in docs), "no docs/*.md in the repository"
    plugins = [name for name in sources if name.startswith("plugins/") and name.endswith(".py")]
    playbooks = [name for name in sources if name.startswith("playbooks/")]
    changelogs = [name for name in sources if name.startswith("changelogs/")]
    example = [name for name in sources if name.startswith("inventory/example/")]
    return sorted(set(
        ["MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md", "CHANGELOG.md", "files/prometheus/rock5b-oom.rules.yml",
         "changelogs/changelog.yaml", "inventory/example/hosts.yml"]
        + ["roles/%s/tasks/main.yml" % role for role in roles]
        + ["roles/%s/meta/argument_specs.yml" % role for role in roles]
        + [name for name in sources if name.startswith("roles/")]
        + modules + plugins + monitor + docs + playbooks + changelogs + example
    ))


def test_what_a_user_needs_is_in_the_artifact(artifact):
    needed = required_files(artifact["sources"])
    missing = [name for name in needed if name not in artifact["files"]]
    assert not missing, "files a user needs are missing from the artifact:\n  " + listing(missing)
    for name in needed:
        if name not in ("MANIFEST.json", "FILES.json"):
            with open(os.path.join(REPO, name), "rb") as handle:
                assert artifact["data"][name] == handle.read(), "%s differs from the repository's copy" % name


def test_files_json_lists_exactly_the_packed_files(artifact, capsys):
    listed = {entry["name"]: entry for entry in artifact["files_json"]["files"]}
    packed = artifact["files"] | artifact["dirs"]
    expected = packed - {"MANIFEST.json", "FILES.json"}
    assert set(listed) - {"."} == expected, "FILES.json and the tarball disagree:\n only in FILES.json:\n  %s\n only in the tarball:\n  %s" % (
        listing(set(listed) - {"."} - expected), listing(expected - set(listed)))
    wrong = [name for name, entry in listed.items() if entry["ftype"] == "file"
             and entry["chksum_sha256"] != hashlib.sha256(artifact["data"][name]).hexdigest()]
    assert not wrong, "FILES.json checksums that do not match the packed file:\n  " + listing(wrong)
    with capsys.disabled():
        print("\n[collection build] %s: %d bytes (%.0f KiB), %d files, %d directories" % (
            os.path.basename(artifact["tarball"]), artifact["size"], artifact["size"] / 1024.0, len(artifact["files"]),
            len(artifact["dirs"])))


def test_manifest_has_no_placeholder_links(artifact):
    assert "example.invalid" not in artifact["raw_manifest"], "MANIFEST.json mentions example.invalid"
    info = artifact["manifest"]["collection_info"]
    bad = []
    for field in LINK_FIELDS:
        url = info.get(field)
        if url is None:
            continue
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not host or "." not in host or PLACEHOLDER_HOST.search(host):
            bad.append("%s: %r" % (field, url))
    assert not bad, "MANIFEST.json links that are not a real https home (leave the field out of galaxy.yml instead):\n  " + listing(bad)


def test_manifest_tags_follow_galaxy_rules(artifact):
    tags = artifact["manifest"]["collection_info"]["tags"]
    assert tags, "galaxy.yml has no tags: Galaxy search cannot find the collection"
    assert len(tags) <= 20, "Galaxy accepts at most 20 tags, galaxy.yml has %d" % len(tags)
    assert len(set(tags)) == len(tags), "duplicate tags: %s" % sorted(tag for tag in set(tags) if tags.count(tag) > 1)
    bad = [tag for tag in tags if not GALAXY_TAG.match(tag) or len(tag) > 64]
    assert not bad, "tags Galaxy refuses (lowercase letters, digits, underscores; a letter first): %s" % bad


def test_the_artifact_installs(artifact, tmp_path):
    # --force and a collections path of its own: the dev bed's .cache/collections links rock5b.oom
    # to the repository, and ansible-galaxy would call that "already installed".
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
    proc = subprocess.run([ansible_galaxy(), "collection", "install", "--offline", "--no-deps", "--force", "-p", str(tmp_path), artifact["tarball"]],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, "ansible-galaxy collection install failed:\n%s%s" % (proc.stdout, proc.stderr)
    root = tmp_path / "ansible_collections" / "rock5b" / "oom"
    installed = {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}
    missing = sorted(artifact["files"] - installed)
    assert not missing, "packed but not installed:\n  " + listing(missing)
