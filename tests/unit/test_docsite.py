"""tools/docs.sh lint finds what breaks the docsite (that it is clean on the collection is
checked by `make lint`, tools/lint.sh, which runs it).

The lint is antsibull-docs lint-collection-docs (plugin, role and extra docs) plus
tools/docs_guides.py check (the guides docs/*.md, their generated RST stubs and
docs/docsite/extra-docs.yml in step). The full HTML build is tests/docs/test_docsite_build.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

import docs_guides  # noqa: E402  pylint: disable=wrong-import-position


def run_lint(*args):
    proc = subprocess.run(["bash", os.path.join(REPO, "tools", "docs.sh"), "lint", *args],
                          capture_output=True, text=True, check=False, cwd=REPO)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(name="collection_copy")
def fixture_collection_copy(tmp_path):
    """The working tree's files (tracked and untracked, not ignored) in a temporary directory."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    dest = tmp_path / "oom"
    for rel in filter(None, files):
        src = os.path.join(REPO, rel)
        if os.path.isfile(src):
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel))
    return dest


def test_lint_reports_a_bad_option_reference_and_guides_out_of_step_with_the_docsite(collection_copy):
    # One lint run (antsibull-docs costs 15 s) over a copy broken in four ways: a module's docs
    # naming an option that does not exist, a page listed in extra-docs.yml that does not exist,
    # a guide with no stub, and a guide whose title changed after its stub was generated.
    module = collection_copy / "plugins" / "modules" / "fleet_report.py"
    text = module.read_text(encoding="utf-8")
    assert "O(dest)" in text
    module.write_text(text.replace("O(dest)", "O(destination)", 1), encoding="utf-8")
    index_path = collection_copy / "docs" / "docsite" / "extra-docs.yml"
    index = yaml.safe_load(index_path.read_text(encoding="utf-8"))
    index["sections"][0]["toctree"].append("no_such_page")
    index_path.write_text(yaml.safe_dump(index), encoding="utf-8")
    (collection_copy / "docs" / "new_guide.md").write_text("# A new guide\n\nText.\n", encoding="utf-8")
    monitor = collection_copy / "docs" / "monitor.md"
    monitor.write_text("# Renamed\n" + monitor.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    code, out = run_lint(str(collection_copy))
    assert code != 0, out
    assert "fleet_report.py" in out and "O(destination)" in out, out
    assert "'no_such_page') does not reference an existing file" in out, out
    assert "docs/new_guide.md has no stub" in out, out
    assert "lists guide new_guide 0 times" in out, out
    assert "docs/docsite/rst/monitor.rst is not the stub of docs/monitor.md" in out, out


def test_every_guide_has_its_stub_and_one_extra_docs_entry():
    names = docs_guides.guides(REPO)
    assert {"fleet", "monitor", "report"} <= set(names)
    assert docs_guides.problems(REPO) == []
    for name in names:
        with open(docs_guides.stub_path(REPO, name), encoding="utf-8") as f:
            assert ".. _ansible_collections.rock5b.oom.docsite.%s:" % name in f.read()


def test_links_on_the_site():
    names = ["fleet", "monitor"]
    assets = ["report.png", "awx/survey.json"]
    text = ("[m](monitor.md#what-it-does) ![shot](report.png) [s](awx/survey.json) [a](#x) [w](https://example.org/a.md) "
            "[README](../README.md#install) [vm](../tools/vm/README.md) [g](./fleet.md)")
    assert docs_guides.rewrite_links(text, names, assets) == (
        "[m](monitor.md#what-it-does) ![shot](report.png) [s](awx/survey.json) [a](#x) [w](https://example.org/a.md) "
        "README (`README.md` in the repository) vm (`tools/vm/README.md` in the repository) [g](fleet.md)")
    with pytest.raises(ValueError):
        docs_guides.rewrite_links("![x](../files/x.png)", names, assets)


def test_unlabelled_code_fences_become_text_and_closing_fences_stay():
    text = "```\nplain\n```\n\n```yaml\na: 1\n```\n````\n```\nnested\n```\n````\n"
    assert docs_guides.text_fences(text) == "```text\nplain\n```\n\n```yaml\na: 1\n```\n````text\n```\nnested\n```\n````\n"


def test_references_into_the_ansible_docs_resolve_to_docs_ansible_com_and_nothing_else_does():
    base = "https://docs.ansible.com/projects/ansible/devel/"
    assert docs_guides.ansible_docs_url("common_return_values") == base + "reference_appendices/common_return_values.html"
    assert docs_guides.ansible_docs_url("ansible_collections.ansible.builtin.git_module__parameter-key_file") == \
        base + "collections/ansible/builtin/git_module.html#parameter-key_file"
    assert docs_guides.ansible_docs_url("ansible_collections.ansible.builtin.combine_filter") == \
        base + "collections/ansible/builtin/combine_filter.html"
    # this collection's own labels and unknown ones stay unresolved (Sphinx warns, -W fails)
    assert docs_guides.ansible_docs_url("ansible_collections.rock5b.oom.monitor_role") is None
    assert docs_guides.ansible_docs_url("ansible_collections.rock5b.oom.docsite.fleet") is None
    assert docs_guides.ansible_docs_url("no_such_label") is None
