"""The fleet report page in a real browser (Debian's headless chromium, tools/setup.sh installs it):
the synthetic 25-board report loads with no console error or exception (a CSP violation counts), shows
25 rows, sorts on a header click, filters, marks problem rows, and its load event comes within 2 s
(the issue's hard limit); the page stays under 1 MB. The screenshot is written to a tmp dir.

Needs no lab: ``python -m pytest -s tests/integration/test_report_page_browser.py``.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, os.path.join(REPO, "tests", "unit")]
COLLECTIONS = os.path.join(REPO, ".cache", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

import browser  # noqa: E402
from report_data import synthetic_report  # noqa: E402

from ansible_collections.rock5b.oom.plugins.module_utils.report_page import render  # noqa: E402

ROWS = "#boards tbody tr"
VISIBLE = "Array.from(document.querySelectorAll('%s')).filter(r => !r.hidden)" % ROWS
NAMES = "%s.map(r => r.querySelector('[data-c=name]').textContent)" % VISIBLE


def column(page, key):
    """The visible rows' sort values of one column (null where a row has none)."""
    return page.evaluate("%s.map(r => { var c = r.querySelector('[data-c=%s]'); return c ? c.dataset.v : null; })"
                         % (VISIBLE, key))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not browser.chromium_path():
        pytest.fail("chromium is not installed: tools/setup.sh installs it (apt-get install chromium)")
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render(synthetic_report(boards=25)), encoding="utf-8")
    with browser.Browser() as opened:
        opened.wall_s = opened.open("file://%s" % path)
        opened.path = path
        yield opened


def test_loads_without_errors_under_2_s_and_1_mb(page):
    timing = page.timing()
    size = os.path.getsize(page.path)
    print("\nreport page, 25 boards: %d bytes; DOMContentLoaded %.0f ms, load %.0f ms (navigate to load, wall: %.0f ms)"
          % (size, timing["dom_content_loaded"], timing["load"], page.wall_s * 1000))
    assert page.errors() == []
    assert page.evaluate("document.querySelectorAll('%s').length" % ROWS) == 25
    assert 0 < timing["load"] < 2000  # the issue's hard limit
    assert size < 1024 * 1024
    # The script ran: it shows the controls (hidden without it) and the count.
    assert page.evaluate("document.getElementById('controls').hidden") is False
    assert page.evaluate("document.getElementById('shown').textContent") == "25 of 25 boards shown"


def test_problem_rows_are_marked_and_first(page):
    marked = page.evaluate("%s.map(r => [r.classList.contains('problem'), r.querySelector('.mark').textContent])" % VISIBLE)
    flags = [flag for flag, _text in marked]
    assert any(flags) and not all(flags)  # the synthetic fleet has problem rows and fine rows
    assert flags == sorted(flags, reverse=True)  # every problem row before every other row
    assert all(text.startswith("\u26a0") for flag, text in marked if flag)
    assert all(text == "\u2713 ok" for flag, text in marked if not flag)
    colours = page.evaluate("%s.map(r => getComputedStyle(r).backgroundColor)" % VISIBLE)
    assert colours[0] != colours[-1]  # and by colour
    assert page.evaluate("document.querySelector('%s.p-unreachable').textContent" % ROWS).count("unreachable:") == 1


def test_clicking_a_header_sorts_numerically_both_ways(page):
    before = page.evaluate(NAMES)
    page.click("th[data-c=ram] button")
    assert page.evaluate("document.querySelector('th[data-c=ram]').getAttribute('aria-sort')") == "ascending"
    assert page.evaluate("document.querySelector('th[data-c=status]').getAttribute('aria-sort')") == "none"
    values = column(page, "ram")
    present = [float(v) for v in values if v is not None]
    assert present == sorted(present) and len(set(present)) > 1
    assert values[len(present):] == [None] * (len(values) - len(present))  # unreachable boards last
    assert page.evaluate(NAMES) != before
    page.click("th[data-c=ram] button")
    assert page.evaluate("document.querySelector('th[data-c=ram]').getAttribute('aria-sort')") == "descending"
    present = [float(v) for v in column(page, "ram") if v is not None]
    assert present == sorted(present, reverse=True)
    # Numbers, not text: 9.5 % sorts before 10.0 % on the MemAvailable column.
    page.click("th[data-c=avail] button")
    avail = [float(v) for v in column(page, "avail") if v is not None]
    assert avail == sorted(avail) and [str(v) for v in avail] != sorted(str(v) for v in avail)
    page.click("th[data-c=status] button")  # back to the default order: problems first
    assert page.evaluate(NAMES) == before


def test_the_filter_and_problems_only_hide_rows(page):
    def shown():
        return page.evaluate("document.getElementById('shown').textContent")
    page.evaluate("(function(){var f=document.getElementById('filter'); f.value='rock5b-1'; "
                  "f.dispatchEvent(new Event('input'));}())")
    names = page.evaluate(NAMES)
    assert names and all(name.startswith("rock5b-1") for name in names) and len(names) < 25
    assert shown() == "%d of 25 boards shown" % len(names)
    page.evaluate("(function(){var f=document.getElementById('filter'); f.value='no board has this';"
                  "f.dispatchEvent(new Event('input'));}())")
    assert page.evaluate(NAMES) == [] and shown() == "0 of 25 boards shown"
    page.evaluate("(function(){var f=document.getElementById('filter'); f.value='';"
                  "f.dispatchEvent(new Event('input'));}())")
    page.click("#problems-only")
    problems = page.evaluate("%s.map(r => r.classList.contains('problem'))" % VISIBLE)
    assert problems and all(problems) and len(problems) < 25
    page.click("#problems-only")
    assert len(page.evaluate(NAMES)) == 25
    assert page.errors() == []


def test_screenshot_at_1280_px(page, tmp_path):
    png = page.screenshot()
    path = tmp_path / "report.png"
    path.write_bytes(png)
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    print("\nscreenshot: %s (%d x %d px, %d bytes)" % (path, width, height, len(png)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width == browser.WIDTH and height > browser.HEIGHT
    # Nothing wider than the 1280 px viewport: no horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= browser.WIDTH


def test_check_page_reports_a_wrong_row_count(page):
    result = browser.check_page(str(page.path), expect_rows=3)
    assert result["rows"] == 25 and result["console_errors"] == []
    assert result["problems"] == ["25 board rows, expected 3"]
    assert result["screenshot"][:8] == b"\x89PNG\r\n\x1a\n" and result["load_ms"] < 2000


def test_the_browser_is_killed_even_when_a_test_fails():
    with pytest.raises(RuntimeError):
        with browser.Browser() as opened:
            group = opened.pid
            assert opened.evaluate("1 + 1") == 2
            raise RuntimeError("a failing test")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)  # any process (even a zombie not yet reaped) left in its group?
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("chromium's process group %d is still there" % group)


def test_print_has_no_controls_and_does_not_cut_rows(page):
    page.send("Emulation.setEmulatedMedia", {"media": "print"}, session=True)
    try:
        assert page.evaluate("getComputedStyle(document.getElementById('controls')).display") == "none"
        assert page.evaluate("getComputedStyle(document.querySelector('%s')).breakInside" % ROWS) == "avoid"
        assert page.evaluate("getComputedStyle(document.querySelector('#boards thead')).display") == "table-header-group"
        pdf = page.send("Page.printToPDF", {"printBackground": True}, session=True)["data"]
        print("\nprinted: %d bytes of PDF (base64)" % len(pdf))
        assert pdf.startswith("JVBERi")  # %PDF
    finally:
        page.send("Emulation.setEmulatedMedia", {"media": ""}, session=True)
    assert page.evaluate("getComputedStyle(document.getElementById('controls')).display") == "flex"
