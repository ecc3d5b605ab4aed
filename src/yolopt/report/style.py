"""The report's inline stylesheet and its optional table-sorting script (no network, no CDN)."""

CSS = """
:root { --fg:#1d2430; --muted:#5b6675; --line:#d8dee6; --head:#f2f5f8; --hi:#fff4c2; --accent:#2457a6; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 24px 28px 48px; max-width: 1200px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
.subtitle { color: var(--muted); margin: 0 0 20px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
nav.toc { font-size: 14px; margin-bottom: 8px; }
nav.toc a { color: var(--accent); margin-right: 14px; text-decoration: none; }
.table-wrap { overflow-x: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: var(--head); position: sticky; top: 0; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 10px; }
table.sortable thead th[aria-sort=descending]::after { content: " \\25BC"; font-size: 10px; }
tr.highlight td { background: var(--hi); font-weight: 600; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 13px; padding-top: 4px; }
table.kv th { background: var(--head); font-weight: 600; white-space: nowrap; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 10px 12px; font-size: 13px;
      white-space: pre-wrap; overflow-wrap: anywhere; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
p code, li code { background: #f1f3f5; padding: 0 3px; border-radius: 3px; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""

# Click a header to sort by that column (numbers numerically, by the cell's data-v); click again to reverse.
# Without JavaScript the table is simply shown in its original order.
SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (t) {
  t.querySelectorAll('thead th').forEach(function (th, i) {
    th.addEventListener('click', function () {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      t.querySelectorAll('thead th').forEach(function (o) { o.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      function key(r) { var c = r.cells[i]; return c ? c.getAttribute('data-v') : ''; }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y), d;
        if (x === y) return 0;
        if (x === '') return 1;
        if (y === '') return -1;
        d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""
