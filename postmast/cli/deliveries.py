"""`postmast queue | cancel | reschedule | retry`: the upcoming schedule and changes to it."""

from __future__ import annotations

import sys
from datetime import UTC

import click

from postmast.cli.output import console, emit_json, excerpt, json_option, table
from postmast.context import Context
from postmast.scheduler import imports, queueing, shifting
from postmast.scheduler.deliveries import RETRYABLE, Deliveries, Filters, parse_ids
from postmast.scheduler.errors import UserError
from postmast.scheduler.states import Status
from postmast.scheduler.timespec import accepted, local, parse_shift, parse_when, zone

STATUS_CHOICE = click.Choice([s.value for s in Status])


def _ids(service: Deliveries, ids: tuple[str, ...], post_id: int | None) -> list[int]:
    chosen = parse_ids(ids)
    if post_id is not None:
        chosen += service.ids_of_post(post_id)
    if not chosen:
        raise UserError("give delivery ids (see: postmast queue) or --post ID")
    return sorted(set(chosen))


@click.group("queue", invoke_without_command=True)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=STATUS_CHOICE,
    help="Only these states (repeatable). Default: everything not yet finished.",
)
@click.option("--network", help="Only this network.")
@click.option("--account", "target", metavar="NETWORK:NAME", help="Only this account.")
@click.option("--post", "post_id", type=int, help="Only this post's deliveries.")
@click.option("--limit", type=click.IntRange(1), help="At most this many rows.")
@click.option("--tz", "tz_name", metavar="ZONE", help="Show times in this zone.")
@json_option
@click.pass_context
def queue(
    click_ctx: click.Context,
    statuses: tuple[str, ...],
    network: str | None,
    target: str | None,
    post_id: int | None,
    limit: int | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Show upcoming deliveries and those that need attention (unknown outcome).

    A local time that happens twice (the night the clocks go back) is shown with its
    zone's abbreviation. `postmast queue move` reorders an account's posting-slot queue.

    \b
    Example:
      postmast queue
      postmast queue --status unknown --json
      postmast queue move 14 --before 12
    """
    if click_ctx.invoked_subcommand is not None:
        return
    tz = zone(tz_name)
    service = Deliveries(Context.from_env().store)
    found = service.upcoming(Filters([Status(s) for s in statuses], network, target, post_id, None, limit))
    if as_json:
        emit_json({"deliveries": [r.as_dict() for r in found]})
        return
    if not found:
        click.echo("nothing queued")
        return
    rows = [
        (
            r.id,
            r.post_id,
            r.target,
            local(r.due_at, tz),
            r.status.value,
            r.attempts,
            local(r.next_attempt_at, tz) if r.status == Status.RETRY_WAIT else "",
            excerpt(r.text),
            r.error or "",
        )
        for r in found
    ]
    console().print(
        table(
            f"{len(found)} deliveries ({tz.key})",
            ["id", "post", "target", "due", "status", "tries", "next try", "text", "note"],
            rows,
            wide=["text", "note"],
        )
    )


@click.command("cancel")
@click.argument("ids", nargs=-1)
@click.option("--post", "post_id", type=int, help="Cancel every delivery of this post.")
@click.option(
    "--import",
    "import_id",
    type=int,
    help="Undo an import: cancel every delivery of it that has not started (see postmast import).",
)
@json_option
def cancel(ids: tuple[str, ...], post_id: int | None, import_id: int | None, as_json: bool) -> None:
    """Cancel deliveries that have not started (all or none). A cancelled slot refills: later posts
    of that account's queue move up.

    \b
    Example:
      postmast cancel 12 13
      postmast cancel --post 4
      postmast cancel --import 3
    """
    ctx = Context.from_env()
    if import_id is not None:
        if ids or post_id is not None:
            raise UserError("--import cancels a whole import; give no ids or --post with it")
        undone = imports.cancel(ctx.store, import_id)
        if as_json:
            emit_json(undone.as_dict())
            return
        left = ", ".join(f"{n} {state}" for state, n in sorted(undone.left.items()))
        click.echo(
            f"import {import_id}: cancelled {undone.cancelled} deliveries"
            + (f"; not cancelled (already started or done): {left}" if left else "")
        )
        return
    service = Deliveries(ctx.store)
    done = service.cancel(_ids(service, ids, post_id))
    refill(ctx, done)
    if as_json:
        emit_json({"cancelled": done})
    else:
        click.echo(f"cancelled {', '.join(map(str, done))}")


@click.command("reschedule")
@click.argument("ids", nargs=-1)
@click.option("--post", "post_id", type=int, help="Reschedule every delivery of this post.")
@click.option("--at", "when", metavar="WHEN", help="The new time (as for postmast post).")
@click.option(
    "--by",
    "by",
    metavar="AMOUNT",
    help="Move each delivery from its own due time: +1d, -2h, +1h30m (days keep the wall-clock time).",
)
@click.option("--tz", "tz_name", metavar="ZONE", help="Time zone of --at.")
@json_option
def reschedule(
    ids: tuple[str, ...],
    post_id: int | None,
    when: str | None,
    by: str | None,
    tz_name: str | None,
    as_json: bool,
) -> None:
    """Move deliveries that have not started to a new time, or by an amount (all or none).

    \b
    Example:
      postmast reschedule 12 --at "2026-12-02 10:30" --tz Europe/Berlin
      postmast reschedule 12 13 --by +1d
    """
    ctx = Context.from_env()
    tz = zone(tz_name)
    service = Deliveries(ctx.store)
    if (when is None) == (by is None):
        raise UserError("give either --at (a new time) or --by (an amount to move each delivery by)")
    chosen = _ids(service, ids, post_id)
    if by is not None:
        moved = shifting.shift(ctx.store, chosen, parse_shift(by))
        if as_json:
            emit_json(
                {"rescheduled": [m.id for m in moved], "due_at": {m.id: m.due_at.isoformat() for m in moved}}
            )
        else:
            for m in moved:
                click.echo(f"rescheduled {m.id} to {accepted(m.due_at, tz)}")
        return
    assert when is not None
    at = parse_when(when, tz, ctx.store.now())
    done = service.reschedule(chosen, at)
    if as_json:
        emit_json({"rescheduled": done, "due_at": at.isoformat()})
    else:
        click.echo(f"rescheduled {', '.join(map(str, done))} to {accepted(at, tz)}")


@click.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--post", "post_id", type=int, help="Retry every failed delivery of this post.")
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Also re-send deliveries whose outcome is unknown (they may already be published).",
)
@json_option
def retry(ids: tuple[str, ...], post_id: int | None, resend_unknown: bool, as_json: bool) -> None:
    """Send failed or missed deliveries again, now. Unknown ones only after you confirm.

    \b
    Example:
      postmast retry 12
      postmast retry 15 --resend-unknown
    """
    service = Deliveries(Context.from_env().store)
    if post_id is None:
        chosen = _ids(service, ids, None)
    else:
        # every failed, missed or unknown delivery of the post; published or pending ones are left alone
        retryable = [i for i in service.ids_of_post(post_id) if service.status(i) in RETRYABLE]
        if not retryable:
            raise UserError(f"nothing to retry in post {post_id}: no delivery of it failed or was missed")
        chosen = sorted({*parse_ids(ids), *retryable})
    unknown = [i for i in chosen if service.status(i) == Status.UNKNOWN]
    if unknown and not resend_unknown:
        if not sys.stdin.isatty():
            raise UserError(
                f"deliveries {', '.join(map(str, unknown))} have an unknown outcome and may already be "
                "published; re-sending may post twice: confirm with --resend-unknown"
            )
        click.echo(
            f"Deliveries {', '.join(map(str, unknown))} may already be published: check the network first.",
            err=True,
        )
        answer = click.prompt(
            "Type 'resend' to send them again anyway", default="", show_default=False, err=True
        )
        if answer.strip() != "resend":
            raise UserError("not confirmed; nothing changed")
        resend_unknown = True
    done = service.retry(chosen, resend_unknown=resend_unknown)
    if as_json:
        emit_json({"retried": done})
    else:
        click.echo(f"retrying {', '.join(map(str, done))} now")


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
    ctx = Context.from_env()
    moved = queueing.move(ctx.store, delivery, before=before, after=after)
    if as_json:
        emit_json({"moved": [{"id": i, "due_at": d.isoformat()} for i, d in moved]})
        return
    for delivery_id, due in moved:
        click.echo(f"delivery {delivery_id} now due {local(due, UTC)} UTC")
    if not moved:
        click.echo("nothing moved")


def refill(ctx: Context, cancelled: list[int]) -> None:
    """After a cancel: later posts of the same slot queues move up into the freed slots."""
    queueing.refill(ctx.store, cancelled)


COMMANDS = [queue, cancel, reschedule, retry]
