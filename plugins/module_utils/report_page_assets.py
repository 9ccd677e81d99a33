# -*- coding: utf-8 -*-
# Copyright: rock5b.oom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report page's inline style sheet and script (report_page.py puts them in the page).

Nothing here loads anything: operators open the page offline, and the page's Content-Security-Policy
forbids every external resource. The script only enhances the table (sort, filter); without it the
page still shows every board in the default order (problems first), which is also what prints.
"""

from __future__ import annotations

CSS = """
:root { --ok: #2e7d32; --warn: #b26a00; --crit: #c62828; --grey: #5f6368; --line: #d0d4d9; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 16px; color: #1f2328; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 22px 0 8px; }
.meta { color: var(--grey); margin: 0 0 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin: 0; padding: 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 120px; }
.card dt { font-size: 12px; color: var(--grey); }
.card dd { margin: 0; font-size: 20px; font-weight: 600; }
.card.bad dd { color: var(--crit); }
.card.killers dd { font-size: 14px; font-weight: 400; }
.controls { display: flex; gap: 16px; align-items: center; margin: 8px 0; }
.controls input[type=search] { width: 320px; padding: 4px 6px; font: inherit; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; position: sticky; top: 0; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th button:focus-visible { outline: 2px solid #1a73e8; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
td.num { text-align: right; white-space: nowrap; }
td.name { white-space: nowrap; }
td[data-c=victims] { min-width: 210px; }
td[data-c=drift] { min-width: 170px; overflow-wrap: anywhere; }
td[data-c=monitor] { min-width: 100px; overflow-wrap: anywhere; }
th { font-size: 11.5px; }
td ul { margin: 0; padding-left: 12px; }
.small { color: var(--grey); font-size: 11px; }
tr.problem td:first-child { border-left: 6px solid var(--warn); }
tr.p-unreachable { background: #eceff1; }
tr.p-unreachable td:first-child, tr.p-critical td:first-child { border-left-color: var(--crit); }
tr.p-drift { background: #fff4e5; }
tr.p-critical { background: #fdecea; }
tr.p-pressure, tr.p-oom { background: #fffbe6; }
.mark { font-weight: 700; white-space: nowrap; font-size: 11px; }
tr.problem .mark { color: var(--crit); }
.okmark { color: var(--ok); }
[hidden] { display: none !important; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #1f2328; }
svg .bar-ok { fill: var(--ok); } svg .bar-warn { fill: var(--warn); } svg .bar-crit { fill: var(--crit); }
svg .bar-oom { fill: #6a1b9a; } svg .track { fill: #eef0f2; }
svg .th-warn { stroke: var(--warn); stroke-width: 2; stroke-dasharray: 4 2; }
svg .th-crit { stroke: var(--crit); stroke-width: 2; }
svg .axis { stroke: #9aa0a6; stroke-width: 1; }
figure { margin: 0 0 12px; }
figcaption { color: var(--grey); font-size: 12px; }
@media print {
  body { margin: 0; font-size: 11px; }
  .controls, th button::after { display: none !important; }
  th { position: static; }
  thead { display: table-header-group; }
  tr, figure, .card { break-inside: avoid; page-break-inside: avoid; }
  tr.problem, .mark { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

# Sorting reads each cell's data-v (numbers for columns marked data-type="num"); a row without the
# cell (an unreachable board) or with an empty value sorts last in both directions; ties keep the
# default order (data-order), so the output is stable.
JS = """
(function () {
  'use strict';
  var table = document.getElementById('boards');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var filter = document.getElementById('filter');
  var only = document.getElementById('problems-only');
  var shown = document.getElementById('shown');
  function value(row, col, numeric) {
    var cell = row.querySelector('[data-c="' + col + '"]');
    var v = cell ? cell.getAttribute('data-v') : null;
    if (v === null || v === '') { return null; }
    return numeric ? parseFloat(v) : v.toLowerCase();
  }
  function order(row) { return parseInt(row.getAttribute('data-order'), 10); }
  function sortBy(th) {
    var col = th.getAttribute('data-c');
    var numeric = th.getAttribute('data-type') === 'num';
    var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
    var sign = dir === 'ascending' ? 1 : -1;
    heads.forEach(function (h) { if (h.hasAttribute('data-c')) { h.setAttribute('aria-sort', 'none'); } });
    th.setAttribute('aria-sort', dir);
    rows.sort(function (a, b) {
      var x = value(a, col, numeric), y = value(b, col, numeric);
      if (x === null || y === null || x === y) {
        if (x === null && y !== null) { return 1; }
        if (y === null && x !== null) { return -1; }
        return order(a) - order(b);
      }
      return (x < y ? -1 : 1) * sign;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function applyFilter() {
    var q = filter.value.trim().toLowerCase();
    var n = 0;
    rows.forEach(function (r) {
      var show = (!only.checked || r.classList.contains('problem')) &&
                 (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.hidden = !show;
      if (show) { n += 1; }
    });
    shown.textContent = n + ' of ' + rows.length + ' boards shown';
  }
  heads.forEach(function (th) {
    var button = th.querySelector('button');
    if (button) { button.addEventListener('click', function () { sortBy(th); }); }
  });
  filter.addEventListener('input', applyFilter);
  only.addEventListener('change', applyFilter);
  document.getElementById('controls').hidden = false;
  applyFilter();
}());
"""
