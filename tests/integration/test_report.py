"""playbooks/report.yml on the lab: one run writes one page and its JSON for a fleet with a
drifted board, a board that is down and a clean one (issue #17).

Needs the lab (`tools/lab.sh up`): boards lab-board-1..3, converged. lab-board-1 gets a
drifted sysctl drop-in, lab-board-2 is stopped (unreachable), lab-board-3 stays as it is.
Afterwards lab-board-2 is started again (and waited for, over SSH, as tools/lab.sh does) and
lab-board-1 is converged again with site.yml, so the lab is left as it was found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402  pylint: disable=wrong-import-position
import lab  # noqa: E402  pylint: disable=wrong-import-position

REPO = lab.REPO

# The lab page's screenshot, made by every run, labelled (PNG tEXt) with what the test checked.
# With ROCK5B_DOCS_PICTURE=1 the run also writes it as docs/report.png, the README's picture;
# tests/unit/test_docs_picture.py checks that the checked-in picture carries those labels.
SCREENSHOT = os.path.join(REPO, "tests", "output", "report-lab.png")
DOCS_PICTURE = os.path.join(REPO, "docs", "report.png")
PICTURE_SOURCE = "tests/integration/test_report.py::test_the_lab_page_in_a_browser"
DRIFTED, DOWN, CLEAN = "lab-board-1", "lab-board-2", "lab-board-3"
SYSCTL_FILE, DRIFT, SSH_PORTS = lab.SYSCTL_FILE, lab.SYSCTL_DRIFT, lab.SSH_PORTS
playbook, podman, wait_for_ssh = lab.playbook, lab.podman, lab.wait_for_ssh


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Drift board 1, stop board 2, run report.yml; restore both afterwards, whatever happened."""
    out = tmp_path_factory.mktemp("report") / "fleet"
    podman("exec", DRIFTED, "sh", "-ec", DRIFT)
    try:
        podman("stop", DOWN)
        try:
            run = playbook("report.yml", "-e", "rock5b_oom_report_dir=%s" % out)
            data = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
            yield run, out, data
        finally:
            podman("start", DOWN)
            wait_for_ssh(DOWN)
    finally:
        restore = playbook("site.yml", "--limit", DRIFTED)
        assert restore.returncode == 0, "re-converging %s failed:\n%s" % (DRIFTED, restore.stdout[-3000:])


def test_one_run_writes_the_page_and_its_json(report):
    run, out, data = report
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert data is not None, "no report.json in %s:\n%s" % (out, run.stdout[-4000:])
    assert str(out / "index.html") in run.stdout  # the last task says where the page is
    page = (out / "index.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html")
    assert all(board in page for board in SSH_PORTS)
    assert data["inventory"] and data["collection_version"] and data["generated"].endswith("+00:00")


def test_boards_drifted_unreachable_and_clean(report):
    _run, _out, data = report
    boards = dict((board["name"], board) for board in data["boards"])
    assert [board["name"] for board in data["boards"]] == [DRIFTED, DOWN, CLEAN]

    drifted = boards[DRIFTED]
    assert drifted["reachable"] is True and drifted["reason"] is None
    assert any(SYSCTL_FILE in finding for finding in drifted["drift"]), drifted["drift"]

    down = boards[DOWN]
    assert down["reachable"] is False and down["reason"], down
    assert down["ram_bytes"] is None and down["drift"] == []

    clean = boards[CLEAN]
    assert clean["reachable"] is True and clean["reason"] is None and clean["drift"] == []
    assert clean["ram_bytes"] > 0 and 0 <= clean["mem_available_percent"] <= 100
    assert clean["monitor"]["state"] == "active" and clean["monitor"]["level"] in ("ok", "warn", "critical")
    assert "rock5b-oom-monitor" in clean["killers"]
    assert clean["warn_bytes"] > clean["critical_bytes"] > 0
    assert clean["oom_kills_since_boot"] is not None


def test_summary_counts(report):
    _run, _out, data = report
    summary = data["summary"]
    assert (summary["boards"], summary["drifted"], summary["unreachable"]) == (3, 1, 1), summary
    assert summary["killers"].get("rock5b-oom-monitor") == 2, summary
    assert summary["oom_kills_7d"] >= summary["oom_kills_24h"] >= 0


def test_the_lab_page_in_a_browser(report):
    """The page as a person sees it (Debian's chromium, headless): no console errors, 3 rows, the
    drifted and the unreachable board marked, sorting by a column works; writes the screenshot."""
    _run, out, data = report
    if not browser.chromium_path():
        pytest.fail("chromium is not installed: tools/setup.sh installs it (apt-get install chromium)")
    rows = "Array.from(document.querySelectorAll('#boards tbody tr'))"
    names = "%s.filter(r => !r.hidden).map(r => r.querySelector('[data-c=name]').textContent)" % rows
    with browser.Browser() as page:
        page.open("file://%s" % (out / "index.html"))
        assert page.errors() == []
        assert page.evaluate("%s.length" % rows) == 3
        classes = page.evaluate("Object.fromEntries(%s.map(r => [r.querySelector('[data-c=name]').textContent, r.className]))" % rows)
        assert "p-drift" in classes[DRIFTED] and "p-unreachable" in classes[DOWN], classes
        assert "problem" not in classes[CLEAN].split(), classes
        default = page.evaluate(names)
        assert default[:2] == [DOWN, DRIFTED], default  # problems first: unreachable, then drifted
        page.click("th[data-c=name] button")
        assert page.evaluate(names) == [DRIFTED, DOWN, CLEAN]
        page.click("th[data-c=name] button")
        assert page.evaluate(names) == [CLEAN, DOWN, DRIFTED]
        page.click("th[data-c=status] button")
        assert page.evaluate(names) == default
        png = page.screenshot()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # Written only once everything above held: the labels say what this picture shows.
    marked = {DRIFTED: "drifted", DOWN: "unreachable", CLEAN: "clean"}
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    png = browser.png_with_text(png, [
        ("Title", "rock5b.oom fleet report of the lab"), ("Source", PICTURE_SOURCE),
        ("Boards", str(len(classes))), ("Marked", json.dumps(marked, sort_keys=True)),
        ("Report-Generated", data["generated"]), ("Commit", commit or "unknown"), ("Width", str(browser.WIDTH))])
    targets = [SCREENSHOT] + ([DOCS_PICTURE] if os.environ.get("ROCK5B_DOCS_PICTURE") == "1" else [])
    for path in targets:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(png)
    print("\nlab report page: screenshot %s (%d bytes)%s" % (" and ".join(targets), len(png), "" if len(targets) > 1 else
          "; ROCK5B_DOCS_PICTURE=1 writes it as docs/report.png too (the README's picture)"))
