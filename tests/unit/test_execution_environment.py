"""execution-environment.yml and meta/execution-environment.yml agree with the rest of the
repository: the EE runs the ansible-core the collection is tested with, installs the tarball
tools/ee/build.sh makes, and the collection's own EE needs point at files it ships.
(`make ee` builds the image and converges the lab from it; this catches drift in seconds.)"""

from __future__ import annotations

import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def dev_pins():
    pins = {}
    with open(os.path.join(REPO, "requirements-dev.txt"), encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"^([A-Za-z0-9_.\[\]-]+)\s*([=<>!~].*)$", line.split("#")[0].strip())
            if match:
                pins[match.group(1).lower()] = match.group(2).replace(" ", "")
    return pins


def test_the_ee_runs_the_ansible_core_the_collection_is_tested_with():
    definition = load("execution-environment.yml")
    assert definition["version"] == 3
    assert definition["dependencies"]["ansible_core"]["package_pip"] == "ansible-core" + dev_pins()["ansible-core"]
    # The same cryptography cap as the dev venv (ansible-core 2.19's DSA warning).
    assert "cryptography" + dev_pins()["cryptography"] in definition["dependencies"]["python"]


def test_the_ee_installs_the_tarball_build_sh_makes():
    definition = load("execution-environment.yml")
    (build_file,) = definition["additional_build_files"]
    (collection,) = definition["dependencies"]["galaxy"]["collections"]
    assert collection["type"] == "file"
    # ansible-builder copies additional_build_files to /build/<dest>/ in the galaxy stage.
    assert collection["name"] == "/build/%s/%s" % (build_file["dest"], os.path.basename(build_file["src"]))
    build_sh = open(os.path.join(REPO, "tools", "ee", "build.sh"), encoding="utf-8").read()
    assert 'mv "$tarball" "$work/collection/%s"' % os.path.basename(build_file["src"]) in build_sh
    assert build_file["src"] == ".cache/ee/collection/" + os.path.basename(build_file["src"])
    assert "work=$repo/.cache/ee" in build_sh


def test_the_collections_ee_needs_point_at_files_it_ships():
    meta = load("meta", "execution-environment.yml")
    assert meta["version"] == 1
    ignored = load("galaxy.yml")["build_ignore"]
    for path in meta["dependencies"].values():
        assert not os.path.isabs(path), path  # ansible-builder refuses absolute paths
        assert os.path.isfile(os.path.join(REPO, path)), path
        assert not any(path == pattern or path.startswith(pattern.rstrip("*")) for pattern in ignored if "/" in pattern), path
    bindep = open(os.path.join(REPO, meta["dependencies"]["system"]), encoding="utf-8").read()
    # The SSH client, on both families of base image (the default is CentOS, the local one Debian).
    assert re.search(r"^openssh-client \[platform:dpkg\]$", bindep, re.M)
    assert re.search(r"^openssh-clients \[platform:rpm\]$", bindep, re.M)
