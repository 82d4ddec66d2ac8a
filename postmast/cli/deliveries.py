"""`postmast queue | cancel | reschedule | retry`: the upcoming schedule and changes to it."""

from __future__ import annotations

import sys

import click

from postmast.cli.output import emit_json, json_option
from postmast.context import Context
from postmast.scheduler.deliveries import RETRYABLE, Deliveries, parse_ids
from postmast.scheduler.errors import UserError
from postmast.scheduler.states import Status
from postmast.scheduler.timespec import local, parse_when, zone

STATUS_CHOICE = click.Choice([s.value for s in Status])


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
@json_option
def cancel(ids: tuple[str, ...], post_id: int | None, as_json: bool) -> None:
    """Cancel deliveries that have not started (all or none).

    \b
    Example:
      postmast cancel 12 13
      postmast cancel --post 4
    """
    service = Deliveries(Context.from_env().store)
    done = service.cancel(_ids(service, ids, post_id))
    if as_json:
        emit_json({"cancelled": done})
    else:
        click.echo(f"cancelled {', '.join(map(str, done))}")


@click.command("reschedule")
@click.argument("ids", nargs=-1)
@click.option("--post", "post_id", type=int, help="Reschedule every delivery of this post.")
@click.option("--at", "when", required=True, metavar="WHEN", help="The new time (as for postmast post).")
@click.option("--tz", "tz_name", metavar="ZONE", help="Time zone of --at.")
@json_option
def reschedule(
    ids: tuple[str, ...], post_id: int | None, when: str, tz_name: str | None, as_json: bool
) -> None:
    """Move deliveries that have not started to a new time (all or none).

    \b
    Example:
      postmast reschedule 12 --at "2026-12-02 10:30" --tz Europe/Berlin
    """
    ctx = Context.from_env()
    tz = zone(tz_name)
    service = Deliveries(ctx.store)
    at = parse_when(when, tz, ctx.store.now())
    done = service.reschedule(_ids(service, ids, post_id), at)
    if as_json:
        emit_json({"rescheduled": done, "due_at": at.isoformat()})
    else:
        click.echo(f"rescheduled {', '.join(map(str, done))} to {local(at, tz)} ({tz.key})")


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


COMMANDS = [cancel, reschedule, retry]
