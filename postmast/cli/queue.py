"""`postmast queue`: what needs attention, with the command that fixes it, then what is coming."""

from __future__ import annotations

import shutil
import sys
from datetime import UTC

import click
from sqlalchemy import func, select

from postmast.cli.layout import lines, output_width
from postmast.cli.output import emit_json, excerpt, json_option
from postmast.context import Context
from postmast.scheduler.attention import attention
from postmast.scheduler.deliveries import DeliveryRow, Filters, rows
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account, Delivery
from postmast.scheduler.states import PENDING, UNSETTLED, Status
from postmast.scheduler.timespec import local, parse_since, zone

STATUS_CHOICE = click.Choice([s.value for s in Status])
RECENT = [Status.FAILED, Status.MISSED]


def _page() -> int:
    """Rows that fit one screen (50 when piped)."""
    return max(10, shutil.get_terminal_size().lines - 12) if sys.stdout.isatty() else 50


def _count(ctx: Context, filters: Filters) -> int:
    with ctx.store.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .join(Account, Account.id == Delivery.account_id)
                .where(*filters.conditions())
            )
            or 0
        )


def _fetch(ctx: Context, filters: Filters) -> list[DeliveryRow]:
    with ctx.store.read() as session:
        return rows(session, filters)


@click.group("queue", invoke_without_command=True)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=STATUS_CHOICE,
    help="Only these states (repeatable). Default: what needs attention, then what is coming.",
)
@click.option("--network", help="Only this network.")
@click.option("--account", "target", metavar="NETWORK:NAME", help="Only this account.")
@click.option("--post", "post_id", type=int, help="Only this post's deliveries.")
@click.option(
    "--since", default="7d", show_default=True, metavar="WHEN", help="Failed and missed since then."
)
@click.option("--limit", type=click.IntRange(1), help="At most this many rows.")
@click.option(
    "--all", "show_all", is_flag=True, help="Every row, paged on a terminal (default: one screenful)."
)
@click.option("--tz", "tz_name", metavar="ZONE", help="Show times in this zone.")
@json_option
@click.pass_context
def queue(
    click_ctx: click.Context,
    statuses: tuple[str, ...],
    network: str | None,
    target: str | None,
    post_id: int | None,
    since: str,
    limit: int | None,
    show_all: bool,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Show what needs attention (failed, missed, unknown, accounts to re-authorise, deliveries
    overdue because nothing runs), each with the command that fixes it, then upcoming deliveries.

    A local time that happens twice (the night the clocks go back) is shown with its zone's
    abbreviation. `postmast queue move` reorders an account's posting-slot queue.

    \b
    Example:
      postmast queue
      postmast queue --all
      postmast queue --status unknown --json
      postmast queue move 14 --before 12
    """
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = Context.from_env()
    tz = zone(tz_name)
    start = parse_since(since, tz, ctx.store.now())
    base = Filters([Status(s) for s in statuses], network, target, post_id)
    items = attention(ctx.store, base, since=start, requeue_after=ctx.settings.timings.requeue_after)
    if statuses:
        sections = [base]
    else:
        sections = [
            Filters(RECENT, network, target, post_id, start),
            Filters(list(UNSETTLED), network, target, post_id),
            Filters(list(PENDING), network, target, post_id),
        ]
    totals = [_count(ctx, f) for f in sections]
    total = sum(totals)
    cap = limit or (None if show_all or as_json else _page())
    found: list[DeliveryRow] = []
    for section, count in zip(sections, totals, strict=True):
        room = None if cap is None else cap - len(found)
        if room is not None and room <= 0:
            break
        if count:  # an empty section costs no query
            found += _fetch(ctx, Filters(**{**section.__dict__, "limit": room}))
    if as_json:
        emit_json(
            {
                "attention": [i.as_dict() for i in items],
                "total": total,
                "deliveries": [r.as_dict() for r in found],
            }
        )
        return
    out: list[str] = []
    if items:
        out.append("needs attention:")
        for item in items:
            out.append(f"  {item.summary}" + (f" (oldest {local(item.oldest, tz)})" if item.oldest else ""))
            out += [f"    → {fix}" for fix in item.fixes]
        out.append("")
    if not total:
        out.append("nothing queued")
    else:
        shown = f"{len(found):,} of {total:,}" if len(found) < total else f"{total:,}"
        out.append(f"{shown} {'delivery' if total == 1 else 'deliveries'} ({tz.key})")
        table = [
            (
                r.id,
                r.post_id,
                r.target,
                local(r.due_at, tz),
                r.status.value,
                r.attempts,
                local(r.next_attempt_at, tz) if r.status == Status.RETRY_WAIT else "",
                excerpt(r.text, 200),
                (f"{r.error_class}: " if r.error_class else "") + (r.error or ""),
            )
            for r in found
        ]
        headers = ["id", "post", "target", "due", "status", "tries", "next try", "text", "note"]
        out += lines(
            headers, table, flexible=["text", "note"], right=["id", "post", "tries"], limit=output_width()
        )
        if len(found) < total and not limit:
            out.append(f"… and {total - len(found):,} more: postmast queue --all (or --status, --limit)")
    text = "\n".join(out) + "\n"
    if show_all and sys.stdout.isatty():
        click.echo_via_pager(text)
    else:
        sys.stdout.write(text)


@queue.command("move")
@click.argument("delivery", type=int)
@click.option("--before", "before", type=int, metavar="ID", help="Put it just before this delivery.")
@click.option("--after", "after", type=int, metavar="ID", help="Put it just after this delivery.")
@json_option
def queue_move(delivery: int, before: int | None, after: int | None, as_json: bool) -> None:
    """Reorder an account's posting-slot queue: the queue keeps its slots, its posts change places.

    \b
    Example:
      postmast queue move 14 --before 12
    """
    if (before is None) == (after is None):
        raise UserError("give --before ID or --after ID")
    from postmast.scheduler import queueing  # the slots machinery: `postmast queue` itself needs none

    ctx = Context.from_env()
    moved = queueing.move(ctx.store, delivery, before=before, after=after)
    if as_json:
        emit_json({"moved": [{"id": i, "due_at": d.isoformat()} for i, d in moved]})
        return
    for delivery_id, due in moved:
        click.echo(f"delivery {delivery_id} now due {local(due, UTC)} UTC")
    if not moved:
        click.echo("nothing moved")


COMMANDS = [queue]
