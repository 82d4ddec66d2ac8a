"""`postmast report`: what happened to every delivery, and a summary per network and account."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from postmast.cli.layout import echo_table, output_width
from postmast.cli.output import emit_csv, emit_json, excerpt
from postmast.context import Context
from postmast.scheduler import report as reports
from postmast.scheduler.deliveries import DeliveryRow, Filters
from postmast.scheduler.errors import UserError
from postmast.scheduler.page import write_page
from postmast.scheduler.states import Status
from postmast.scheduler.summary import Stats
from postmast.scheduler.timespec import duration, local, parse_since, zone

CSV_COLUMNS = [
    "id",
    "post",
    "target",
    "status",
    "due_at",
    "published_at",
    "lateness_seconds",
    "attempts",
    "url",
    "error_class",
    "error",
    "text",
]


def filter_options(func: click.decorators.FC) -> click.decorators.FC:
    """The filters `report` shares with the commands that select deliveries the same way."""
    for option in reversed(
        [
            click.option("--since", metavar="WHEN", help="Due since then: '24h', '7d' or a time."),
            click.option("--until", metavar="WHEN", help="Due before then: '1h' (ago), 'now' or a time."),
            click.option("--network", help="Only this network."),
            click.option("--account", "target", metavar="NETWORK:NAME", help="Only this account."),
            click.option(
                "--status",
                "statuses",
                multiple=True,
                type=click.Choice([s.value for s in Status]),
                help="Only these states (repeatable).",
            ),
            click.option("--post", "post_id", type=int, help="Only this post."),
            click.option("--import", "import_id", type=int, help="Only posts of this import run."),
            click.option("--limit", type=click.IntRange(1), help="At most this many rows."),
            click.option("--tz", "tz_name", metavar="ZONE", help="Times in this zone."),
        ]
    ):
        func = option(func)
    return func


def build_filters(
    ctx: Context,
    tz: ZoneInfo,
    *,
    since: str | None,
    until: str | None,
    network: str | None,
    target: str | None,
    statuses: tuple[str, ...],
    post_id: int | None,
    import_id: int | None,
    limit: int | None,
) -> Filters:
    now = ctx.store.now()
    start = parse_since(since, tz, now) if since else None
    end = (now if until.strip().lower() == "now" else parse_since(until, tz, now)) if until else None
    return Filters([Status(s) for s in statuses], network, target, post_id, start, limit, end, import_id)


@click.command("report")
@filter_options
@click.option("--wide", is_flag=True, help="Show long cells whole instead of fitting the terminal.")
@click.option("--json", "as_json", is_flag=True, help="Print deliveries and summaries as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the deliveries as CSV.")
@click.option(
    "--html",
    "html_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML page with charts and a link to every published post.",
)
def report(
    since: str | None,
    until: str | None,
    network: str | None,
    target: str | None,
    statuses: tuple[str, ...],
    post_id: int | None,
    import_id: int | None,
    limit: int | None,
    tz_name: str | None,
    wide: bool,
    as_json: bool,
    as_csv: bool,
    html_file: Path | None,
) -> None:
    """Report every delivery (due, published, lateness, attempts, link or error) and summarise
    them per network and per account: delivered, failed, unknown, missed, success rate, lateness
    p50/p95/max, attempts per delivery and the top error causes with whether a retry can help.

    \b
    Example:
      postmast report --since 24h
      postmast report --since 7d --until 1d --network mastodon --json
      postmast report --since 30d --html report.html
    """
    if sum([as_json, as_csv, html_file is not None]) > 1:
        raise click.UsageError("choose one of --json, --csv and --html")
    ctx = Context.from_env()
    tz = zone(tz_name)
    filters = build_filters(
        ctx,
        tz,
        since=since,
        until=until,
        network=network,
        target=target,
        statuses=statuses,
        post_id=post_id,
        import_id=import_id,
        limit=limit,
    )
    result = reports.build(ctx.store, filters)
    if as_json:
        emit_json(result.as_dict())
    elif as_csv:
        emit_csv(
            CSV_COLUMNS, [[row[c] for c in CSV_COLUMNS] for row in (d.as_dict() for d in result.deliveries)]
        )
    elif html_file is not None:
        try:
            write_page(result, html_file, tz, ctx.store.now())
        except OSError as exc:
            raise UserError(f"cannot write {str(html_file)[:80]}: {exc.strerror}") from None
        n = len(result.deliveries)
        click.echo(f"wrote {html_file} ({n} {'delivery' if n == 1 else 'deliveries'})")
    else:
        render(result, tz, wide=wide)


def _outcome(row: DeliveryRow) -> str:
    """The link (with thread progress when there are several items), else the error."""
    thread = f" (thread: {len(row.items)} of {row.items_total} items)" if row.items_total > 1 else ""
    if row.public_url:
        return row.public_url + thread + (f" (note: {row.error})" if row.error else "")
    if row.status == Status.PUBLISHED:  # e.g. a Slack incoming webhook: it answers only "ok"
        return "delivered, no link" + thread
    return (f"{row.error_class}: " if row.error_class else "") + (row.error or "") + thread


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"


def _late(value: float | None) -> str:
    return "" if value is None else duration(value)


SUMMARY_HEADERS = ["total", "ok", "failed", "unknown", "missed", "pending", "success", "p50", "p95", "max"]


def _summary_row(name: str, s: Stats) -> list[object]:
    per = s.attempts_per_delivery
    return [
        name,
        s.total,
        s.delivered,
        s.counts["failed"],
        s.counts["unknown"],
        s.counts["missed"],
        s.pending,
        _rate(s.success_rate),
        _late(s.late(50)),
        _late(s.late(95)),
        _late(s.lateness[-1] if s.lateness else None),
        "" if per is None else f"{per:.2f}",
    ]


def render(result: reports.Report, tz: tzinfo, *, wide: bool = False) -> None:
    """The report as text: deliveries, a summary per network and per account, then the causes."""
    if not result.deliveries and not result.summary.overall.total:
        click.echo("no deliveries match")
        return
    limit = None if wide else output_width()
    rows = [
        (
            d.id,
            d.post_id,
            d.target,
            local(d.due_at, tz),
            _late(d.lateness),
            d.attempts,
            d.status.value,
            _outcome(d),
            " ".join(d.text.split()) if wide else excerpt(d.text, 200),
        )
        for d in result.deliveries
    ]
    total = result.summary.overall.total
    shown = f"{len(rows)} of {total}" if len(rows) < total else str(total)
    click.echo(f"{shown} {'delivery' if total == 1 else 'deliveries'} (times in {getattr(tz, 'key', tz)})")
    # no `published` column: due + late says it, and the room goes to links and errors
    headers = ["id", "post", "target", "due", "late", "tries", "status", "link / error", "text"]
    echo_table(
        headers, rows, flexible=["link / error", "text"], right=["id", "post", "late", "tries"], limit=limit
    )
    right = [*SUMMARY_HEADERS, "tries/delivery"]
    summary = result.summary
    for title, groups in (
        ("network", [(s.network or "", s) for s in summary.networks]),
        ("account", [(s.target or "", s) for s in summary.accounts]),
    ):
        click.echo()
        echo_table(
            [title, *SUMMARY_HEADERS, "tries/delivery"],
            [_summary_row(n, s) for n, s in groups],
            right=right,
            limit=limit,
        )
    causes = [(s.target or "", c) for s in summary.accounts for c in s.top_causes()]
    if causes:
        click.echo()
        echo_table(
            ["account", "cause", "deliveries", "retry helps", "fix"],
            [(t, c["cause"], c["deliveries"], c["retry"].replace("_", " "), c["fix"]) for t, c in causes],
            flexible=["fix"],
            right=["deliveries"],
            limit=limit,
        )


COMMANDS = [report]
