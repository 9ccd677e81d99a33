"""The docsite's HTML build (tools/docs.sh build; slow: docs venv + Sphinx): a page for every
module, role and guide, the collection index links them all, and no local link of the site is
broken. Run by `make docs`; prints the build time and size."""

from __future__ import annotations

import os
import re
import subprocess
import time
from urllib.parse import unquote, urlsplit

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = os.path.join("collections", "rock5b", "oom")


@pytest.fixture(name="site", scope="module")
def fixture_site():
    start = time.monotonic()
    proc = subprocess.run(["bash", os.path.join(REPO, "tools", "docs.sh"), "build"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = proc.stdout.strip().splitlines()[-1]
    html = os.path.dirname(index)
    assert index == os.path.join(REPO, ".cache", "docsite", "build", "html", "index.html")
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _dirs, files in os.walk(html) for f in files)
    print("\ndocsite build: %.1f s, %.1f MiB in %s" % (seconds, size / 2 ** 20, html))
    return html


def names(folder, suffix):
    return sorted(f[:-len(suffix)] for f in os.listdir(os.path.join(REPO, folder))
                  if f.endswith(suffix) and not f.startswith("_"))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def expected_pages():
    pages = ["%s_module.html" % m for m in names("plugins/modules", ".py")]
    pages += ["%s_role.html" % r for r in sorted(os.listdir(os.path.join(REPO, "roles")))]
    pages += ["docsite/%s.html" % g for g in names("docs", ".md")]
    return pages


def test_a_page_for_every_module_role_and_guide_linked_from_the_collection_index(site):
    pages = expected_pages()
    assert any(p.startswith("docsite/") for p in pages) and any(p.endswith("_role.html") for p in pages)
    index = read(os.path.join(site, COLLECTION, "index.html"))
    for page in pages:
        assert os.path.isfile(os.path.join(site, COLLECTION, page)), page
        assert re.search(r'href="%s(#[^"]*)?"' % re.escape(page), index), page


def test_guides_are_the_markdown_rendered(site):
    for guide in names("docs", ".md"):
        md = read(os.path.join(REPO, "docs", guide + ".md"))
        title = re.search(r"^# (.+)$", md, re.M).group(1).replace("`", "")
        page = read(os.path.join(site, COLLECTION, "docsite", guide + ".html"))
        text = re.sub(r"<[^>]+>", "", page)
        assert title.replace("&", "&amp;") in text, guide
        assert "The text of this guide is" not in text, guide  # the stub is not what is shown


def test_every_local_link_and_image_of_the_site_resolves(site):
    checked = 0
    ids_cache = {}
    for folder, _dirs, files in os.walk(site):
        for name in files:
            if not name.endswith(".html"):
                continue
            page = os.path.join(folder, name)
            for attr, value in re.findall(r'\s(href|src)="([^"]*)"', read(page)):
                parts = urlsplit(value)
                if parts.scheme or parts.netloc or value.startswith("/") or not (parts.path or parts.fragment):
                    continue
                target = os.path.normpath(os.path.join(folder, unquote(parts.path))) if parts.path else page
                assert os.path.exists(target), "%s: %s %s" % (page, attr, value)
                if parts.fragment and target.endswith(".html"):
                    if target not in ids_cache:
                        ids_cache[target] = set(re.findall(r'\sid="([^"]*)"', read(target)))
                    assert unquote(parts.fragment) in ids_cache[target], "%s: %s" % (page, value)
                checked += 1
    assert checked > 100
    assert os.path.isfile(os.path.join(site, "_images", "report.png"))
