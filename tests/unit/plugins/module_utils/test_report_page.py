"""report_page.render: one self-contained page (nothing loaded from anywhere), every value from the
report escaped, problem boards first and marked in text, unreachable boards as rows with their reason,
inline SVG pictures, the same bytes for the same report, and a 25-board page well under 1 MB."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

from report_data import synthetic_report

from ansible_collections.rock5b.oom.plugins.module_utils import report_page
from ansible_collections.rock5b.oom.plugins.module_utils.report_page import board_problems, render

EVIL = "<script>alert(1)</script>"


class Page(HTMLParser):
    """The page's elements: tags (with attributes), script bodies, table rows (attributes, text)."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self.rows = [], [], []
        self._script = None
        self._row = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = (dict(attrs), [])
        if tag == "tr":
            self._row = (dict(attrs), [])

    def handle_endtag(self, tag):
        if tag == "script" and self._script:
            self.scripts.append((self._script[0], "".join(self._script[1])))
            self._script = None
        if tag == "tr" and self._row:
            self.rows.append((self._row[0], " ".join(self._row[1])))
            self._row = None

    def handle_data(self, data):
        if self._script:
            self._script[1].append(data)
        if self._row:
            self._row[1].append(data)

    def board_rows(self):
        return [(attrs, text) for attrs, text in self.rows if "data-order" in attrs]


def _evil_report():
    report = synthetic_report(boards=6, names=[EVIL, 'quote"board\'&amp;'])
    board = report["boards"][0]
    board["drift"] = ["</script><img src=x onerror=alert(2)>"]
    board["victims"][:0] = [{"comm": "<u>under</u>", "pid": 1, "rss_bytes": 1, "time": "2026-12-05T11:00:00Z",
                             "cgroup": "/x/</script><script>alert(3)</script>"}]
    board["monitor"]["status"] = "</style><script>alert(4)</script>"
    board["monitor"]["last_action"] = {"action": "<b>kill</b>", "target": "</td><script>alert(6)</script>", "time": "x<y"}
    report["inventory"] = "<!-- --><script>alert(5)</script>"
    report["summary"]["killers"] = {"<i>killer</i>": 1}
    return report


def test_values_from_the_report_do_not_inject_markup():
    report = _evil_report()
    text = render(report)
    page = Page(text)
    # Only the script the page writes itself, and no copy of the report's data (report.json is beside the page).
    assert [attrs.get("type") for attrs, _body in page.scripts] == [None]
    assert "alert(" not in page.scripts[0][1]
    assert not [tag for tag, _attrs in page.tags if tag in ("img", "u", "i")]
    assert "&lt;u&gt;under&lt;/u&gt;" in text and "&lt;i&gt;killer&lt;/i&gt;" in text
    assert EVIL not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    names = [text for attrs, text in page.board_rows()]
    assert any(EVIL in row for row in names)  # shown as text
    assert any("quote\"board'&amp;" in row for row in names)


def test_the_page_loads_nothing_from_anywhere():
    text = render(synthetic_report())
    assert "http://" not in text and "https://" not in text
    references = re.findall(r"""\b(?:src|href|action|srcset|xlink:href)\s*=\s*["']?([^"'\s>]*)""", text, re.I)
    assert all(ref.startswith("#") for ref in references), references
    assert "@import" not in text and "url(" not in text
    page = Page(text)
    assert not [tag for tag, attrs in page.tags if tag in ("link", "img", "iframe", "object", "embed")]
    assert all("src" not in attrs for tag, attrs in page.tags if tag == "script")
    csp = [attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none'")


def test_unreachable_boards_are_rows_with_their_reason_and_come_first():
    report = synthetic_report()
    rows = Page(render(report)).board_rows()
    assert len(rows) == 25
    unreachable = [b for b in report["boards"] if not b["reachable"]]
    assert len(unreachable) == 2
    for position, board in enumerate(sorted(unreachable, key=lambda b: b["name"])):
        attrs, text = rows[position]
        assert "p-unreachable" in attrs["class"].split() and "problem" in attrs["class"].split()
        assert board["name"] in text and board["reason"] in text and "UNREACHABLE" in text


def test_problem_rows_carry_the_marker_class_and_text_and_sort_first():
    report = synthetic_report()
    rows = Page(render(report)).board_rows()
    by_name = {b["name"]: b for b in report["boards"]}
    ranks = []
    for attrs, text in rows:
        name = re.search(r"rock5b-\d\d", text).group(0)
        problems = board_problems(by_name[name])
        classes = attrs["class"].split()
        if problems:
            assert "problem" in classes and problems[0][1] in classes
            assert all("\u26a0 " + label in text for _rank, _cls, label in problems)  # not colour alone
        else:
            assert "problem" not in classes and "\u2713 ok" in text
        ranks.append(problems[0][0] if problems else report_page.OK_RANK)
    assert ranks == sorted(ranks)
    assert {0, 1, 2, 3, 4, 5} <= set(ranks)  # the synthetic fleet has every kind


def test_the_monitor_cell_shows_its_last_action_target_and_time_then_its_status():
    report = synthetic_report(boards=3)
    board = report["boards"][0]
    board["name"] = "board-x"
    board["monitor"] = {"state": "active", "level": "critical", "status": "critical: 90 MiB available; actions since start: kill ok 1",
                        "last_action": {"action": "kill", "target": "hog (pid 4242)", "time": "2026-12-05T10:58:00+00:00"}}
    row = " ".join(next(text for attrs, text in Page(render(report)).board_rows() if "board-x" in text).split())
    assert "active, level critical" in row and "last: kill hog (pid 4242) \u00b7 12-05 10:58" in row
    assert row.index("last: kill") < row.index("actions since start: kill ok 1")
    board["monitor"] = {"state": "active", "level": "ok", "status": "ok: 3 GiB available", "last_action": None}
    row = next(text for attrs, text in Page(render(report)).board_rows() if "board-x" in text)
    assert "last:" not in row and "ok: 3 GiB available" in row


def test_what_makes_a_problem():
    base = synthetic_report(boards=1)["boards"][0]
    base.update(drift=[], oom_kills_24h=0, psi={"some_avg10": 0.0, "some_avg60": 0.0, "full_avg10": 0.0, "full_avg60": 0.0},
                mem_available_bytes=base["ram_bytes"] // 2, monitor={"state": "active", "level": None, "last_action": None})
    assert board_problems(base) == []

    def labels(**change):
        board = copy.deepcopy(base)
        board.update(change)
        return [label for _r, _c, label in board_problems(board)]
    assert labels(drift=["x"]) == ["DRIFT"]
    assert labels(monitor={"state": "failed", "level": None, "last_action": None}) == ["DRIFT"]
    assert labels(mem_available_bytes=base["critical_bytes"] - 1) == ["CRITICAL", "PRESSURE"]
    assert labels(mem_available_bytes=base["warn_bytes"] - 1) == ["PRESSURE"]
    assert labels(psi=dict(base["psi"], some_avg10=10.0)) == ["PRESSURE"]
    assert labels(psi=dict(base["psi"], some_avg10=9.99, full_avg10=50.0)) == []
    assert labels(mem_available_bytes=base["warn_bytes"]) == []  # below, as the monitor decides
    assert labels(oom_kills_24h=1) == ["OOM 24h"]
    assert labels(reachable=False) == ["UNREACHABLE"]


def test_summary_and_pictures():
    report = synthetic_report()
    text = render(report)
    summary = report["summary"]
    for key in ("boards", "drifted", "unreachable", "under_pressure", "oom_kills_24h", "oom_kills_7d", "without_psi"):
        assert re.search(r'id="sum-%s"><dt>[^<]*</dt><dd>%d</dd>' % (key, summary[key]), text), key
    for killer, count in summary["killers"].items():
        assert "%s \u00d7 %d" % (killer, count) in text
    svgs = re.findall(r"<svg .*?</svg>", text, re.S)
    assert len(svgs) == 2
    headroom, timeline = svgs
    # One bar per reachable board, a warn and a critical line for each.
    reachable = [b for b in report["boards"] if b["reachable"]]
    assert headroom.count('<rect class="bar-') == len(reachable)
    assert headroom.count('class="th-warn"') == len(reachable) == headroom.count('class="th-crit"')
    # Every kill of the last 7 days is in one 6-hour bucket, none twice.
    bars = [int(n) for n in re.findall(r"<title>[^<]* (\d+) kills</title>", timeline)]
    assert sum(bars) == sum(len(b["kill_times"]) for b in report["boards"]) and max(bars) > 1
    assert "in all" in timeline and len(re.findall(r'class="bar-oom"', timeline)) <= 28


def test_the_timeline_ends_at_generated_and_drops_older_kills():
    report = synthetic_report(boards=2)
    report["boards"][0]["kill_times"] = ["2026-11-28T11:59:59Z", "2026-11-28T12:00:00Z", "2026-12-05T11:59:59Z",
                                         "2026-12-05T12:00:00Z", "2026-12-05T12:00:01Z", "not a time"]
    report["boards"][1]["kill_times"] = []
    start, buckets = report_page._buckets(report)
    assert start.isoformat() == "2026-11-28T12:00:00+00:00"
    assert len(buckets) == 28 and buckets[0] == 1 and buckets[-1] == 2 and sum(buckets) == 3


def test_the_same_report_gives_the_same_page():
    first = render(synthetic_report())
    assert render(synthetic_report()) == first
    shuffled = synthetic_report()
    shuffled["boards"].reverse()
    shuffled["summary"] = dict(reversed(list(shuffled["summary"].items())))
    assert render(shuffled) == first


def test_a_25_board_page_is_well_under_1_mb():
    size = len(render(synthetic_report(boards=25)).encode("utf-8"))
    print("\nreport page, 25 boards: %d bytes (%.0f KiB)" % (size, size / 1024.0))
    assert size < 1024 * 1024


def test_a_board_whose_facts_were_not_collected_is_marked_so_not_as_drifted():
    # Reachable, but the audit failed on it: the schema fills monitor.state "absent" (unknown).
    board = {"name": "b", "reachable": True, "reason": "the audit failed: ...", "drift": [],
             "monitor": {"state": "absent", "level": None, "last_action": None}}
    assert report_page.board_problems(board) == [report_page.NOT_COLLECTED]
