# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report as one self-contained HTML page: ``render(report) -> str``.

The page loads nothing (no CDN, fonts, images or scripts from anywhere: operators open it offline;
its Content-Security-Policy forbids it too). Pictures are inline SVG drawn here; the style sheet and
the sort/filter script are in report_page_assets.py. Every value from the report is escaped
(html.escape) and the page holds no second copy of the report (the data is report.json, written
beside it; the script works on the table's own cells). The same report always gives the same
page, byte for byte (nothing is read from the clock: "the last 7 days" end at
``report["generated"]``).

``board_problems(board)`` is the page's one definition of a problem board (and of the default
order: unreachable, drifted, critical, under pressure, recent OOM kills, then the others).
"""

from __future__ import annotations

import datetime
import html

from ansible_collections.rock5b.oom.plugins.module_utils.report_page_assets import CSS, JS

# Memory pressure from PSI: some tasks stalled >= 10 % of the last 10 s (the same figure as
# fleet_report's UNDER_PRESSURE_PSI_SOME_AVG10). The monitor's warn/critical level and MemAvailable
# below its thresholds (strictly below, as the monitor decides) count too.
PSI_SOME_AVG10_PRESSURE = 10.0
VICTIMS_SHOWN = 3
TIMELINE_DAYS = 7
TIMELINE_BUCKET_HOURS = 6

# (rank, row class, text marker): the rank is the default sort order, lowest first.
UNREACHABLE = (0, "p-unreachable", "UNREACHABLE")
# Answered, but its facts could not be collected (``reason`` says why): nothing else is known.
NOT_COLLECTED = (0, "p-unreachable", "NOT COLLECTED")
DRIFT = (1, "p-drift", "DRIFT")
CRITICAL = (2, "p-critical", "CRITICAL")
PRESSURE = (3, "p-pressure", "PRESSURE")
OOM_24H = (4, "p-oom", "OOM 24h")
OK_RANK = 5

# (data-c key, header (HTML), numeric?)
COLUMNS = [
    ("status", "Status", True), ("name", "Board", False), ("ram", "RAM", True),
    ("avail", "Mem<wbr>Available", True), ("swap", "Swap used", True), ("zram", "zram used", True),
    ("psi_some", "PSI some % 10s", True), ("psi_full", "PSI full % 10s", True),
    ("commit", "Commit<wbr>ted_AS / Commit<wbr>Limit", True), ("oom", "OOM kills boot / 24h / 7d", True),
    ("victims", "Last victims", False), ("monitor", "Monitor", False), ("drift", "Drift", True),
]


def _below(value, limit):
    return value is not None and limit is not None and value < limit


def board_problems(board):
    """The problems of one board, most serious first: [(rank, row class, marker)]; [] when fine."""
    if not board.get("reachable"):
        return [UNREACHABLE]
    if board.get("reason"):
        return [NOT_COLLECTED]
    found = []
    monitor = board.get("monitor") or {}
    if board.get("drift") or monitor.get("state") in ("inactive", "failed", "absent"):
        found.append(DRIFT)
    avail = board.get("mem_available_bytes")
    if monitor.get("level") == "critical" or _below(avail, board.get("critical_bytes")):
        found.append(CRITICAL)
    psi = board.get("psi") or {}
    if (monitor.get("level") == "warn" or _below(avail, board.get("warn_bytes"))
            or (psi.get("some_avg10") or 0) >= PSI_SOME_AVG10_PRESSURE):
        found.append(PRESSURE)
    if board.get("oom_kills_24h"):
        found.append(OOM_24H)
    return found


def _rank(board):
    problems = board_problems(board)
    return problems[0][0] if problems else OK_RANK


def _e(value):
    return html.escape("" if value is None else str(value), quote=True)


def _size(count):
    if count is None:
        return "\u2013"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024
    return "%.1f GiB" % value


def _num(value, fmt="%.1f"):
    return "\u2013" if value is None else fmt % value


def _parse_time(text):
    try:
        moment = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _time(text):
    moment = _parse_time(text)
    if moment is None:
        return _e(text)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _short_time(text):
    moment = _parse_time(text)
    return _e(text) if moment is None else moment.astimezone(datetime.timezone.utc).strftime("%m-%d %H:%M")


def _ratio(part, whole):
    return None if part is None or not whole else float(part) / float(whole)


def _cell(key, value, text, cls=""):
    sort = "" if value is None else (value if isinstance(value, str) else repr(round(value, 6)))
    klass = ' class="%s"' % cls if cls else ""
    return '<td data-c="%s" data-v="%s"%s>%s</td>' % (key, _e(sort), klass, text)


def _used(used, total):
    if total is None:
        return None, "\u2013"
    if not total:
        return None, '<span class="small">none</span>'
    return _ratio(used, total), "%s<br><span class=\"small\">of %s</span>" % (_size(used), _size(total))


def _psi_pair(psi, kind):
    if not psi:
        return None, '<span class="small">no PSI</span>'
    ten, sixty = psi.get(kind + "_avg10"), psi.get(kind + "_avg60")
    return ten, '%s<br><span class="small">60s %s</span>' % (_num(ten, "%.2f"), _num(sixty, "%.2f"))


def _victims(board):
    victims = sorted(board.get("victims") or [], key=lambda v: str(v.get("time")), reverse=True)
    if not victims:
        return None, '<span class="small">none</span>'
    items = ['<li><b>%s</b> %s &middot; RSS %s &middot; <span title="%s">%s</span><br><span class="small">%s</span></li>' % (
        _e(v.get("comm")), _e(v.get("pid")), _size(v.get("rss_bytes")), _time(v.get("time")), _short_time(v.get("time")),
        _e(v.get("cgroup") or "no cgroup")) for v in victims[:VICTIMS_SHOWN]]
    more = len(victims) - VICTIMS_SHOWN
    if more > 0:
        items.append('<li class="small">and %d earlier</li>' % more)
    return str(victims[0].get("time")), "<ul>%s</ul>" % "".join(items)


def _monitor(board):
    monitor = board.get("monitor") or {}
    state, level = monitor.get("state") or "absent", monitor.get("level")
    text = "%s%s" % (_e(state), (", level %s" % _e(level)) if level else "")
    last = monitor.get("last_action")
    if isinstance(last, dict) and last.get("action"):
        text += '<br><span class="last-action">last: <b>%s</b>%s &middot; <span title="%s">%s</span></span>' % (
            _e(last["action"]), (" " + _e(last["target"])) if last.get("target") else "", _time(last.get("time")),
            _short_time(last.get("time")))
    if monitor.get("status"):
        text += '<br><span class="small">%s</span>' % _e(monitor["status"])
    if board.get("killers"):
        text += '<br><span class="small">killers: %s</span>' % _e(", ".join(board["killers"]))
    return state + " " + (level or ""), text


def _status_cell(board, rank):
    problems = board_problems(board)
    if not problems:
        return _cell("status", rank, '<span class="mark okmark">\u2713 ok</span>')
    marks = "<br>".join('<span class="mark">\u26a0 %s</span>' % label for _r, _c, label in problems)
    return _cell("status", rank, marks)


def _row(board, order):
    problems = board_problems(board)
    rank = problems[0][0] if problems else OK_RANK
    classes = " ".join(["problem"] + [cls for _r, cls, _l in problems]) if problems else "fine"
    cells = [_status_cell(board, rank), _cell("name", str(board.get("name")), "<strong>%s</strong>" % _e(board.get("name")), "name")]
    if not board.get("reachable"):
        cells.append('<td colspan="%d" class="reason">unreachable: %s</td>' % (
            len(COLUMNS) - 2, _e(board.get("reason") or "no reason given")))
    else:
        avail_pct = board.get("mem_available_percent")
        commit = _ratio(board.get("committed_as_bytes"), board.get("commit_limit_bytes"))
        oom = [board.get(k) for k in ("oom_kills_since_boot", "oom_kills_24h", "oom_kills_7d")]
        drift = board.get("drift") or []
        cells += [
            _cell("ram", board.get("ram_bytes"), _size(board.get("ram_bytes")), "num"),
            _cell("avail", avail_pct, "%s %%<br><span class=\"small\">%s</span>" % (
                _num(avail_pct), _size(board.get("mem_available_bytes"))), "num"),
            _cell("swap", *_used(board.get("swap_used_bytes"), board.get("swap_total_bytes")), cls="num"),
            _cell("zram", *_used(board.get("zram_used_bytes"), board.get("zram_total_bytes")), cls="num"),
            _cell("psi_some", *_psi_pair(board.get("psi"), "some"), cls="num"),
            _cell("psi_full", *_psi_pair(board.get("psi"), "full"), cls="num"),
            _cell("commit", commit, "%s %%<br><span class=\"small\">%s of<br>%s</span>" % (
                _num(None if commit is None else commit * 100, "%.0f"), _size(board.get("committed_as_bytes")),
                _size(board.get("commit_limit_bytes"))), "num"),
            _cell("oom", oom[0], " / ".join(_num(n, "%d") for n in oom), "num"),
            _cell("victims", *_victims(board)),
            _cell("monitor", *_monitor(board)),
            _cell("drift", len(drift), "<ul>%s</ul>" % "".join("<li>%s</li>" % _e(d) for d in drift)
                  if drift else '<span class="small">none</span>'),
        ]
    return '<tr class="%s" data-order="%d">%s</tr>' % (classes, order, "".join(cells))


def _table(boards):
    heads = []
    for key, title, numeric in COLUMNS:
        heads.append('<th scope="col" data-c="%s" data-type="%s" aria-sort="%s"><button type="button">%s</button></th>' % (
            key, "num" if numeric else "text", "ascending" if key == "status" else "none", title))
    rows = [_row(board, i) for i, board in enumerate(boards)]
    return '<table id="boards"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % ("".join(heads), "\n".join(rows))


def _summary(report):
    summary = report.get("summary") or {}
    cards = [("Boards", "boards", False), ("Drifted", "drifted", True), ("Unreachable", "unreachable", True),
             ("Under memory pressure", "under_pressure", True), ("OOM kills, last 24 h", "oom_kills_24h", True),
             ("OOM kills, last 7 days", "oom_kills_7d", True), ("Boards without PSI", "without_psi", True)]
    out = []
    for title, key, bad in cards:
        value = summary.get(key)
        klass = "card bad" if bad and value else "card"
        out.append('<div class="%s" id="sum-%s"><dt>%s</dt><dd>%s</dd></div>' % (klass, key, title, _e(_num(value, "%d"))))
    killers = summary.get("killers") or {}
    text = ", ".join("%s \u00d7 %s" % (_e(name), _e(killers[name])) for name in sorted(killers)) or "none"
    out.append('<div class="card killers" id="sum-killers"><dt>Killers in use (boards)</dt><dd>%s</dd></div>' % text)
    return '<dl class="cards">%s</dl>' % "".join(out)


def _headroom_svg(boards):
    """MemAvailable as a share of RAM per board, with its warn (dashed) and critical (solid) lines."""
    left, width, row_h, top = 190, 700, 20, 24
    height = top + row_h * len(boards) + 24
    parts = ['<svg role="img" aria-labelledby="headroom-title" width="%d" height="%d" viewBox="0 0 %d %d">' % (
        left + width + 270, height, left + width + 270, height),
        '<title id="headroom-title">MemAvailable per board against its warn and critical thresholds</title>']
    for pct in (0, 25, 50, 75, 100):
        x = left + width * pct / 100
        parts.append('<line class="axis" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/><text x="%.1f" y="%d" text-anchor="middle">%d %%</text>' % (
            x, top - 4, x, height - 20, x, height - 6, pct))
    for i, board in enumerate(boards):
        y = top + i * row_h
        parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + 14, _e(board.get("name"))))
        ram, avail = board.get("ram_bytes"), board.get("mem_available_bytes")
        if not board.get("reachable") or not ram or avail is None:
            parts.append('<text x="%d" y="%d" fill="#5f6368">%s</text>' % (
                left + 4, y + 14, "unreachable" if not board.get("reachable") else "no data"))
            continue
        share = max(0.0, min(1.0, float(avail) / ram))
        problems = [cls for _r, cls, _l in board_problems(board)]
        level = "crit" if "p-critical" in problems else "warn" if _below(avail, board.get("warn_bytes")) else "ok"
        parts.append('<rect class="track" x="%d" y="%d" width="%d" height="%d"/>' % (left, y + 3, width, row_h - 6))
        parts.append('<rect class="bar-%s" x="%d" y="%d" width="%.1f" height="%d"><title>%s: %s available of %s</title></rect>' % (
            level, left, y + 3, width * share, row_h - 6, _e(board.get("name")), _size(avail), _size(ram)))
        for key, klass in (("warn_bytes", "th-warn"), ("critical_bytes", "th-crit")):
            if board.get(key) is not None:
                x = left + width * max(0.0, min(1.0, float(board[key]) / ram))
                parts.append('<line class="%s" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>' % (klass, x, y + 1, x, y + row_h - 1))
        label = {"crit": " CRITICAL", "warn": " WARN", "ok": ""}[level]
        parts.append('<text x="%d" y="%d">%s of %s (%.0f %%)%s</text>' % (
            left + width + 8, y + 14, _size(avail), _size(ram), share * 100, label))
    parts.append("</svg>")
    return "".join(parts)


def _buckets(report):
    """OOM kills across the fleet per TIMELINE_BUCKET_HOURS, over the TIMELINE_DAYS before ``generated``."""
    end = _parse_time(report.get("generated"))
    count = TIMELINE_DAYS * 24 // TIMELINE_BUCKET_HOURS
    if end is None:
        return None, [0] * count
    step = datetime.timedelta(hours=TIMELINE_BUCKET_HOURS)
    start = end - step * count
    buckets = [0] * count
    for board in report.get("boards") or []:
        for text in board.get("kill_times") or []:
            moment = _parse_time(text)
            if moment is not None and start <= moment < end:
                buckets[int((moment - start) / step)] += 1
            elif moment == end:
                buckets[-1] += 1
    return start, buckets


def _oom_svg(report):
    start, buckets = _buckets(report)
    left, width, height, top = 50, 1100, 180, 16
    peak = max(buckets) or 1
    bucket_width = width / len(buckets)
    parts = ['<svg role="img" aria-labelledby="oom-title" width="%d" height="%d" viewBox="0 0 %d %d">' % (
        left + width + 20, height + top + 36, left + width + 20, height + top + 36),
        '<title id="oom-title">OOM kills across the fleet per %d h, last %d days: %d in all</title>' % (
            TIMELINE_BUCKET_HOURS, TIMELINE_DAYS, sum(buckets)),
        '<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>' % (left, top + height, left + width, top + height),
        '<text x="%d" y="%d" text-anchor="end">%d</text><text x="%d" y="%d" text-anchor="end">0</text>' % (
            left - 6, top + 10, peak, left - 6, top + height)]
    for i, n in enumerate(buckets):
        x = left + i * bucket_width
        if n:
            h = height * n / peak
            when = (start + datetime.timedelta(hours=TIMELINE_BUCKET_HOURS * i)).strftime("%Y-%m-%d %H:%M") if start else ""
            parts.append('<rect class="bar-oom" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s UTC +%d h: %d kills</title></rect>' % (
                x + 1, top + height - h, bucket_width - 2, h, when, TIMELINE_BUCKET_HOURS, n))
            parts.append('<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>' % (x + bucket_width / 2, top + height - h - 3, n))
        if start and (i * TIMELINE_BUCKET_HOURS) % 24 == 0:
            day = start + datetime.timedelta(hours=TIMELINE_BUCKET_HOURS * i)
            parts.append('<line class="axis" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/><text x="%.1f" y="%d">%s</text>' % (
                x, top + height, x, top + height + 6, x + 2, top + height + 20, day.strftime("%a %d %b %H:%M")))
    parts.append("</svg>")
    return "".join(parts)


def render(report):
    """The whole page for a fleet report dict (see docs/report_page.md for the schema and the page)."""
    boards = sorted(report.get("boards") or [], key=lambda b: (_rank(b), str(b.get("name"))))
    title = "Fleet memory report: %s" % (report.get("inventory") or "fleet")
    csp = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % csp,
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title>" % _e(title),
        "<style>%s</style></head><body>" % CSS,
        "<h1>%s</h1>" % _e(title),
        '<p class="meta">Generated %s &middot; inventory %s &middot; rock5b.oom %s</p>' % (
            _time(report.get("generated")), _e(report.get("inventory")), _e(report.get("collection_version"))),
        '<section aria-labelledby="h-summary"><h2 id="h-summary">Fleet summary</h2>%s</section>' % _summary(report),
        '<section aria-labelledby="h-headroom"><h2 id="h-headroom">Memory headroom</h2><figure>%s'
        '<figcaption>Bar: MemAvailable as a share of RAM. Dashed line: warn threshold; solid line: critical threshold.'
        '</figcaption></figure></section>' % _headroom_svg(boards),
        '<section aria-labelledby="h-oom"><h2 id="h-oom">OOM kills over time</h2><figure>%s'
        '<figcaption>Kills across the fleet per %d hours over the %d days before the report was generated.'
        '</figcaption></figure></section>' % (_oom_svg(report), TIMELINE_BUCKET_HOURS, TIMELINE_DAYS),
        '<section aria-labelledby="h-boards"><h2 id="h-boards">Boards</h2>',
        '<div class="controls" id="controls" hidden><label>Filter <input type="search" id="filter" '
        'placeholder="board, process, drift item&hellip;"></label><label><input type="checkbox" id="problems-only"> '
        'Problems only</label><span id="shown" aria-live="polite"></span></div>',
        _table(boards), "</section>",
        "<script>%s</script>" % JS,
        "</body></html>", ""])
