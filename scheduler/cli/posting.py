"""`postmast post`: queue one post for several targets, or show what would be sent."""

from __future__ import annotations

import sys

import click

from scheduler.cli.output import console, emit_json, json_option, table
from scheduler.config import parse_duration
from scheduler.context import Context
from scheduler.errors import UserError
from scheduler.posts import PostRequest, Posts, Rejected
from scheduler.timespec import local, parse_when, zone


def read_text(text: str) -> str:
    if text != "-":
        return text
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        raise UserError("the text on stdin is not valid UTF-8") from None


@click.command("post")
@click.argument("text")
@click.option(
    "--to",
    "targets",
    multiple=True,
    required=True,
    metavar="NETWORK:NAME",
    help="An account to post to (repeatable).",
)
@click.option(
    "--at", "when", metavar="WHEN", help="ISO 8601, 'YYYY-MM-DD HH:MM' (in --tz) or 'in 10m'. Default: now."
)
@click.option(
    "--tz", "tz_name", metavar="ZONE", help="Time zone of --at, e.g. Europe/Berlin. Default: this machine's."
)
@click.option(
    "--max-lateness",
    metavar="DURATION",
    help="Give up if it cannot go out within this long after --at (default POSTMAST_MAX_LATENESS, 1h).",
)
@click.option("--dry-run", is_flag=True, help="Store nothing; show each target's payload, length and limit.")
@json_option
def post(
    text: str,
    targets: tuple[str, ...],
    when: str | None,
    tz_name: str | None,
    max_lateness: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Queue TEXT for every --to account. Use - as TEXT to read it from stdin.

    Every target is validated before anything is stored; if one fails, none is queued.

    \b
    Example:
      postmast post "Doors open at 9!" --to mastodon:brand --to webhook:team \\
          --at "2026-12-01 09:00" --tz Europe/Berlin
      postmast post "Draft" --to mastodon:brand --dry-run --json
    """
    ctx = Context.from_env()
    tz = zone(tz_name)
    now = ctx.store.now()
    lateness = None
    if max_lateness is not None:
        try:
            lateness = parse_duration(max_lateness)
        except ValueError:
            raise UserError(f"--max-lateness {max_lateness!r} is not a duration (e.g. 30m, 2h)") from None
    request = PostRequest(
        text=read_text(text),
        targets=list(targets),
        due_at=parse_when(when, tz, now),
        timezone=tz.key,
        max_lateness=lateness,
    )
    posts = Posts(ctx.store, default_max_lateness=ctx.settings.timings.max_lateness)
    if dry_run:
        plans = posts.plan(request)
        if as_json:
            emit_json({"due_at": request.due_at.isoformat(), "targets": [p.as_dict() for p in plans]})
        else:
            for plan in plans:
                mark = "ok" if plan.ok else "REJECTED"
                size = f", length {plan.length} of {plan.limit}" if plan.length is not None else ""
                click.echo(f"{plan.target}: {mark}{size}")
                for problem in plan.problems:
                    click.echo(f"  problem: {problem}")
                if plan.payload is not None:
                    click.echo(f"  payload: {plan.payload}")
        if not all(p.ok for p in plans):
            bad = next(p for p in plans if not p.ok)
            raise Rejected(f"{bad.target}: {bad.problems[0]} (dry run; nothing stored)")
        return
    queued = posts.queue(request)
    if as_json:
        emit_json(queued.as_dict())
        return
    rows = [(d.id, d.target, local(d.due_at, tz), "scheduled") for d in queued.deliveries]
    console().print(
        table(f"post {queued.id} queued ({tz.key})", ["delivery", "target", "due", "status"], rows)
    )
    click.echo("it goes out when a worker and the scheduler run (postmast run).")


COMMANDS = [post]
