"""--check (rock5b_oom_monitor/check.py): the state for a person, and the installed files
against manifest.json."""

from __future__ import annotations

import os

import pytest

from monitor_helpers import INSTALL_DIR, MIB, install, load_manifest, make_config
from rock5b_oom_monitor.check import check_report, files_line, installed_files


@pytest.mark.parametrize("available_mb, status, level", [(3000, 0, "ok"), (150, 1, "warn"), (50, 2, "critical")])
def test_check_report_for_people(fake_proc, available_mb, status, level):
    fake_proc.set_meminfo(total=3995120, available=available_mb * MIB)
    fake_proc.add_process(501, "node", rss_pages=100000, oom_score=800)
    text, code = check_report(make_config(), fake_proc.root, "/nonexistent")
    assert code == status and "level:      %s" % level in text
    assert "PSI:        " in text and "victim:     node (pid 501" in text
    assert "files:      %s as manifest.json lists them" % INSTALL_DIR in text


def test_installed_files_against_the_manifest(tmp_path):
    install_dir = install(str(tmp_path / "lib"))
    assert installed_files(install_dir) == ([], [])
    os.makedirs(os.path.join(install_dir, "procfs", "__pycache__"))
    with open(os.path.join(install_dir, "procfs", "__pycache__", "sizes.cpython-311.pyc"), "wb") as handle:
        handle.write(b"bytecode is not counted")
    os.remove(os.path.join(install_dir, "procfs", "sizes.py"))
    with open(os.path.join(install_dir, "rock5b_oom_monitor.py"), "w") as handle:
        handle.write("# left over\n")
    assert installed_files(install_dir) == (["procfs/sizes.py"], ["rock5b_oom_monitor.py"])
    assert files_line(install_dir) == ("files:      %s: missing procfs/sizes.py; not in manifest.json: "
                                       "rock5b_oom_monitor.py" % install_dir)
    os.remove(os.path.join(install_dir, "manifest.json"))
    assert "manifest.json cannot be read" in files_line(install_dir)


def test_the_manifest_ships_every_file_of_the_program():
    """Each file under roles/monitor/files is in the manifest, once, and every source exists."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    files = os.path.join(repo, "roles", "monitor", "files")
    on_disk = set()
    for directory, subdirectories, names in os.walk(files):
        subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
        on_disk.update(os.path.relpath(os.path.join(directory, name), repo) for name in names)
    entries = load_manifest()["files"]
    sources = [entry["src"] for entry in entries]
    destinations = [entry["dest"] for entry in entries]
    assert on_disk <= set(sources), on_disk - set(sources)
    assert len(set(sources)) == len(sources) and len(set(destinations)) == len(destinations)
    assert all(os.path.isfile(os.path.join(repo, source)) for source in sources)
    assert all(not os.path.isabs(dest) and ".." not in dest.split("/") for dest in destinations)
