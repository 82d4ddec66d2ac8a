"""`postmast report`: what happened to every delivery, and a summary per network."""

from __future__ import annotations

from datetime import tzinfo

import click

from postmast.cli.output import console, emit_csv, emit_json, excerpt, table
from postmast.context import Context
from postmast.scheduler import report as reports
from postmast.scheduler.deliveries import DeliveryRow, Filters
from postmast.scheduler.states import Status
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


@click.command("report")
@click.option("--since", metavar="WHEN", help="Deliveries due since then: '24h', '7d' or a time.")
@click.option("--network", help="Only this network.")
@click.option("--account", "target", metavar="NETWORK:NAME", help="Only this account.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in Status]),
    help="Only these states (repeatable).",
)
@click.option("--post", "post_id", type=int, help="Only this post.")
@click.option("--tz", "tz_name", metavar="ZONE", help="Show times in this zone.")
@click.option("--json", "as_json", is_flag=True, help="Print {deliveries: [...], summary: [...]} as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the deliveries as CSV.")
def report(
    since: str | None,
    network: str | None,
    target: str | None,
    statuses: tuple[str, ...],
    post_id: int | None,
    tz_name: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Report every delivery: due, published, lateness, attempts, status, link or error.

    \b
    Example:
      postmast report --since 24h
      postmast report --network mastodon --status failed --json
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    ctx = Context.from_env()
    tz = zone(tz_name)
    start = parse_since(since, tz, ctx.store.now()) if since else None
    result = reports.build(ctx.store, Filters([Status(s) for s in statuses], network, target, post_id, start))
    if as_json:
        emit_json(result.as_dict())
        return
    if as_csv:
        emit_csv(
            CSV_COLUMNS, [[row[c] for c in CSV_COLUMNS] for row in (d.as_dict() for d in result.deliveries)]
        )
        return
    render(result, tz)


def _outcome(row: DeliveryRow) -> str:
    """The link (with thread progress when there are several items), else the error."""
    thread = f" (thread: {len(row.items)} of {row.items_total} items)" if row.items_total > 1 else ""
    if row.public_url:
        return row.public_url + thread
    if row.status == Status.PUBLISHED:  # e.g. a Slack incoming webhook: it answers only "ok"
        return "delivered, no link" + thread
    return (row.error or "") + thread


def render(result: reports.Report, tz: tzinfo) -> None:
    """The report as two tables: deliveries, then the summary per network."""
    if not result.deliveries:
        click.echo("no deliveries match")
        return
    rows = [
        (
            d.id,
            d.post_id,
            d.target,
            local(d.due_at, tz),
            local(d.published_at, tz),
            duration(d.lateness),
            d.attempts,
            d.status.value,
            _outcome(d),
            excerpt(d.text, 30),
        )
        for d in result.deliveries
    ]
    out = console()
    out.print(
        table(
            f"deliveries ({getattr(tz, 'key', tz)})",
            ["id", "post", "target", "due", "published", "late", "tries", "status", "link / error", "text"],
            rows,
            wide=["link / error", "text"],
        )
    )
    summary_rows = [
        (
            s.network,
            s.total,
            s.counts["published"],
            s.pending,
            s.counts["unknown"],
            s.counts["failed"],
            s.counts["missed"],
            s.counts["cancelled"],
            duration(sum(s.lateness) / len(s.lateness)) if s.lateness else "",
            duration(max(s.lateness)) if s.lateness else "",
        )
        for s in result.summary
    ]
    out.print()
    out.print(
        table(
            "per network",
            [
                "network",
                "total",
                "published",
                "pending",
                "unknown",
                "failed",
                "missed",
                "cancelled",
                "avg late",
                "max late",
            ],
            summary_rows,
        )
    )


COMMANDS = [report]
