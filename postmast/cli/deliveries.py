"""`postmast cancel | reschedule | retry`: changes to the schedule, one delivery or many."""

from __future__ import annotations

import sys

import click

from postmast.cli.output import emit_json, json_option
from postmast.context import Context
from postmast.scheduler import imports, queueing, recovery, shifting
from postmast.scheduler.attention import plural
from postmast.scheduler.deliveries import RETRYABLE, Deliveries, Filters, parse_ids
from postmast.scheduler.errors import UserError
from postmast.scheduler.states import Status
from postmast.scheduler.timespec import accepted, parse_shift, parse_since, parse_when, zone


def _ids(service: Deliveries, ids: tuple[str, ...], post_id: int | None) -> list[int]:
    chosen = parse_ids(ids)
    if post_id is not None:
        chosen += service.ids_of_post(post_id)
    if not chosen:
        raise UserError("give delivery ids (see: postmast queue) or --post ID")
    return sorted(set(chosen))


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


def _confirm_unknown(unknown: list[int]) -> None:
    """Unknown outcomes are re-sent only when a person types that they checked."""
    listed = ", ".join(map(str, unknown[:20])) + (
        f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
    )
    if not sys.stdin.isatty():
        noun, verb = ("delivery", "has") if len(unknown) == 1 else ("deliveries", "have")
        raise UserError(
            f"{noun} {listed} {verb} an unknown outcome and may already be published; "
            "re-sending may post twice: confirm with --resend-unknown"
        )
    click.echo(
        f"{'Delivery' if len(unknown) == 1 else 'Deliveries'} {listed} may already be published: "
        "check the network first.",
        err=True,
    )
    answer = click.prompt("Type 'resend' to send them again anyway", default="", show_default=False, err=True)
    if answer.strip() != "resend":
        raise UserError("not confirmed; nothing changed")


@click.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--post", "post_id", type=int, help="Retry every failed delivery of this post.")
@click.option("--failed", is_flag=True, help="Every failed delivery (with the filters below).")
@click.option("--missed", is_flag=True, help="Every missed delivery (with the filters below).")
@click.option("--unknown", is_flag=True, help="Every unknown delivery (asks for confirmation).")
@click.option("--cause", "cause_name", metavar="CLASS", help="Only this error class, e.g. TransientError.")
@click.option("--network", help="Only this network.")
@click.option("--account", "target", metavar="NETWORK:NAME", help="Only this account.")
@click.option("--since", metavar="WHEN", help="Only deliveries due since then: '24h', '7d' or a time.")
@click.option("--dry-run", is_flag=True, help="Show what would be retried, grouped by cause; change nothing.")
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Also re-send deliveries whose outcome is unknown (they may already be published).",
)
@json_option
def retry(
    ids: tuple[str, ...],
    post_id: int | None,
    failed: bool,
    missed: bool,
    unknown: bool,
    cause_name: str | None,
    network: str | None,
    target: str | None,
    since: str | None,
    dry_run: bool,
    resend_unknown: bool,
    as_json: bool,
) -> None:
    """Send failed or missed deliveries again, now. Unknown ones only after you confirm.

    With --failed, --missed or --unknown: every such delivery the filters select, shown
    grouped by cause (and whether a retry can help) before anything is done.

    \b
    Example:
      postmast retry 12
      postmast retry 15 --resend-unknown
      postmast retry --failed --cause TransientError --network mastodon --since 24h --dry-run
    """
    ctx = Context.from_env()
    service = Deliveries(ctx.store)
    bulk = [
        s for s, on in ((Status.FAILED, failed), (Status.MISSED, missed), (Status.UNKNOWN, unknown)) if on
    ]
    if bulk:
        if ids or post_id is not None:
            raise UserError("give delivery ids or --failed/--missed/--unknown, not both")
        start = parse_since(since, zone(None), ctx.store.now()) if since else None
        chosen = recovery.plan(
            ctx.store, bulk, Filters((), network, target, None, start), cause_name=cause_name
        )
        _show_plan(chosen, dry_run=dry_run, as_json=as_json)
        if dry_run or not chosen.ids:
            return
        if chosen.unknown and not resend_unknown:
            _confirm_unknown(chosen.unknown)
        done = recovery.carry_out(ctx.store, chosen, resend_unknown=True)
        if as_json:
            emit_json({"retried": done})
        else:
            click.echo(f"retrying {plural(len(done), 'delivery', 'deliveries')} now")
        return
    if cause_name or network or target or since or dry_run:
        raise UserError(
            "--cause, --network, --account, --since and --dry-run go with --failed, --missed or --unknown"
        )
    if post_id is None:
        chosen_ids = _ids(service, ids, None)
    else:
        # every failed, missed or unknown delivery of the post; published or pending ones are left alone
        retryable = [i for i in service.ids_of_post(post_id) if service.status(i) in RETRYABLE]
        if not retryable:
            raise UserError(f"nothing to retry in post {post_id}: no delivery of it failed or was missed")
        chosen_ids = sorted({*parse_ids(ids), *retryable})
    unknown_ids = [i for i in chosen_ids if service.status(i) == Status.UNKNOWN]
    if unknown_ids and not resend_unknown:
        _confirm_unknown(unknown_ids)
        resend_unknown = True
    done = service.retry(chosen_ids, resend_unknown=resend_unknown)
    if as_json:
        emit_json({"retried": done})
    else:
        click.echo(f"retrying {', '.join(map(str, done))} now")


def refill(ctx: Context, cancelled: list[int]) -> None:
    """After a cancel: later posts of the same slot queues move up into the freed slots."""
    queueing.refill(ctx.store, cancelled)


def _show_plan(chosen: recovery.Plan, *, dry_run: bool, as_json: bool) -> None:
    if as_json:
        if dry_run or not chosen.ids:
            emit_json({"dry_run": dry_run, "groups": [g.as_dict() for g in chosen.groups], "retried": []})
        return
    if not chosen.ids:
        click.echo("nothing to retry: no delivery matches")
        return
    verb = "would retry" if dry_run else "will retry"
    click.echo(f"{verb} {plural(len(chosen.ids), 'delivery', 'deliveries')}:")
    for group in chosen.groups:
        accounts = ", ".join(group.targets[:3]) + (" …" if len(group.targets) > 3 else "")
        click.echo(
            f"  {len(group.ids):>5}  {group.status.value} · {group.cause} ({accounts}): {group.verdict}"
        )
    if dry_run:
        click.echo("dry run: nothing changed")


COMMANDS = [cancel, reschedule, retry]
