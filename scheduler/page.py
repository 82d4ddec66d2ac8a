"""The report as one self-contained HTML page: charts, summaries and a link to every post.

Nothing is loaded from anywhere: styles are inline, the charts are inline SVG
(`charts`), and there is no script. A Content-Security-Policy forbids any fetch, so
a page opened from an e-mail or a shared drive cannot call out. Every value from the
store is escaped; only http(s) links become links.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, tzinfo
from html import escape
from pathlib import Path

from postmast.scheduler import charts
from postmast.scheduler.deliveries import DeliveryRow
from postmast.scheduler.report import Report
from postmast.scheduler.states import Status
from postmast.scheduler.summary import Stats
from postmast.scheduler.timespec import duration, local

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.n{text-align:right}.chart{width:100%;max-width:720px;height:auto;display:block}
.s-published{color:#2e7d32}.s-failed{color:#c62828}.s-unknown{color:#ef6c00}.s-missed{color:#6a1b9a}
.muted{color:#777}
"""
LATENESS_BINS: list[tuple[str, float]] = [
    ("early", 0),
    ("<10s", 10),
    ("10-30s", 30),
    ("30s-1m", 60),
    ("1-5m", 300),
    ("5-15m", 900),
    ("15m-1h", 3600),
    (">1h", float("inf")),
]


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _link(url: str | None, text: str | None = None) -> str:
    if not url or not url.startswith(("https://", "http://")):
        return _e(text or url)
    return f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(text or url)}</a>'


def over_time(rows: list[DeliveryRow], tz: tzinfo) -> list[tuple[str, dict[str, int]]]:
    """Deliveries per hour (spans up to 3 days), per day (up to 120) or per week, by status."""
    if not rows:
        return []
    first, last = min(r.due_at for r in rows), max(r.due_at for r in rows)
    span = last - first
    if span <= timedelta(days=3):
        key, step = "%m-%d %H:00", timedelta(hours=1)
    elif span <= timedelta(days=120):
        key, step = "%Y-%m-%d", timedelta(days=1)
    else:
        key, step = "%G-W%V", timedelta(days=7)
    counts: dict[str, Counter[str]] = {}
    at = first.astimezone(tz)
    while at <= last.astimezone(tz) + step:  # empty buckets too, so gaps show as gaps
        counts.setdefault(at.strftime(key), Counter())
        at += step
    for row in rows:
        counts.setdefault(row.due_at.astimezone(tz).strftime(key), Counter())[row.status.value] += 1
    return [(label, dict(c)) for label, c in counts.items()]


def lateness_bins(values: list[float]) -> list[tuple[str, int]]:
    counts = Counter[str]()
    for value in values:
        for label, upper in LATENESS_BINS:
            if (label == "early" and value < 0) or (label != "early" and 0 <= value < upper):
                counts[label] += 1
                break
    return [(label, counts[label]) for label, _ in LATENESS_BINS]


def _stats_table(title: str, groups: list[tuple[str, Stats]]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in [
            title,
            "total",
            "delivered",
            "failed",
            "unknown",
            "missed",
            "pending",
            "success",
            "p50",
            "p95",
            "max",
            "attempts/delivery",
        ]
    )
    body = []
    for name, s in groups:
        rate = "" if s.success_rate is None else f"{s.success_rate:.1%}"
        per = "" if s.attempts_per_delivery is None else f"{s.attempts_per_delivery:.2f}"
        cells = [
            s.total,
            s.delivered,
            s.counts["failed"],
            s.counts["unknown"],
            s.counts["missed"],
            s.pending,
            rate,
            duration(s.late(50)),
            duration(s.late(95)),
            duration(s.lateness[-1] if s.lateness else None),
            per,
        ]
        body.append(
            f"<tr><td>{_e(name)}</td>" + "".join(f'<td class="n">{_e(c)}</td>' for c in cells) + "</tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _causes(report: Report) -> str:
    rows = [
        f'<tr><td>{_e(s.target)}</td><td>{_e(c["cause"])}</td><td class="n">{c["deliveries"]}</td>'
        f"<td>{_e(c['retry'].replace('_', ' '))}</td><td>{_e(c['meaning'])}</td><td><code>{_e(c['fix'])}"
        "</code></td></tr>"
        for s in report.summary.accounts
        for c in s.top_causes()
    ]
    if not rows:
        return '<p class="muted">No failed, unknown or missed deliveries.</p>'
    head = "".join(
        f"<th>{h}</th>" for h in ["account", "cause", "deliveries", "retry helps", "meaning", "fix"]
    )
    head = f"<tr>{head}</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _deliveries(rows: list[DeliveryRow], tz: tzinfo) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in [
            "id",
            "post",
            "account",
            "due",
            "published",
            "late",
            "tries",
            "status",
            "link / error",
            "text",
        ]
    )
    body = []
    for r in rows:
        outcome = (
            _link(r.public_url) if r.public_url else _e(f"{r.error_class or ''} {r.error or ''}".strip())
        )
        if len(r.items) > 1:
            outcome += " " + " ".join(_link(i.get("url"), f"[{i['position']}]") for i in r.items)
        text = r.text if len(r.text) <= 140 else r.text[:139] + "…"
        body.append(
            f'<tr><td class="n">{r.id}</td><td class="n">{r.post_id}</td><td>{_e(r.target)}</td>'
            f"<td>{_e(local(r.due_at, tz))}</td><td>{_e(local(r.published_at, tz))}</td>"
            f'<td class="n">{_e(duration(r.lateness))}</td><td class="n">{r.attempts}</td>'
            f'<td class="s-{r.status.value}">{r.status.value}</td><td>{outcome}</td><td>{_e(text)}</td></tr>'
        )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_page(report: Report, tz: tzinfo, now: datetime) -> str:
    summary = report.summary
    overall = summary.overall
    rows = report.deliveries
    zone_name = getattr(tz, "key", str(tz))
    shown = "" if len(rows) == overall.total else f" (the {len(rows)} rows shown)"
    order = [s.value for s in Status]
    success = [
        (
            s.network or "",
            s.success_rate or 0.0,
            f"{s.delivered}/{s.ended}" + (f" ({s.success_rate:.1%})" if s.success_rate is not None else ""),
        )
        for s in summary.networks
    ]
    rate = "" if overall.success_rate is None else f", {overall.success_rate:.1%} success"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>postmast delivery report</title><style>{STYLE}</style></head>
<body>
<h1>postmast delivery report</h1>
<p>{overall.total} deliveries: {overall.delivered} delivered, {overall.counts["failed"]} failed,
{overall.counts["unknown"]} unknown, {overall.counts["missed"]} missed, {overall.pending} pending{rate}.
Made {_e(local(now, tz))} ({_e(zone_name)}).</p>
<h2>Deliveries over time, by status{_e(shown)}</h2>
{charts.stacked_columns(over_time(rows, tz), order, "Deliveries over time by status")}
<h2>Lateness of delivered posts</h2>
{charts.columns(lateness_bins(overall.lateness), "Lateness distribution")}
<h2>Success by network</h2>
{charts.bars(success, "Success by network")}
<h2>Per network</h2>
{_stats_table("network", [(s.network or "", s) for s in summary.networks])}
<h2>Per account</h2>
{_stats_table("account", [(s.target or "", s) for s in summary.accounts])}
<h2>Top causes</h2>
{_causes(report)}
<h2>Deliveries</h2>
{_deliveries(rows, tz)}
</body></html>
"""


def write_page(report: Report, path: Path, tz: tzinfo, now: datetime) -> None:
    path.write_text(render_page(report, tz, now), encoding="utf-8")
