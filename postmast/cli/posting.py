"""`postmast post` and `postmast import`: queue posts, or show exactly what would be sent."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from postmast.cli.output import console, emit_json, json_option, table
from postmast.context import Context
from postmast.scheduler.drafts import Draft, build, load_file, shortcut
from postmast.scheduler.errors import UserError
from postmast.scheduler.posts import PostRequest, Posts, QueuedPost, Rejected, TargetPlan
from postmast.scheduler.timespec import local, zone


def read_text(text: str) -> str:
    if text != "-":
        return text
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        raise UserError("the text on stdin is not valid UTF-8") from None


def shown(payload: object, limit: int = 200) -> str:
    """A payload as JSON for the terminal, long strings cut (`--json` prints them whole)."""

    def clip(value: object) -> object:
        if isinstance(value, str) and len(value) > limit:
            return f"{value[: limit - 1]}… ({len(value)} characters)"
        if isinstance(value, dict):
            return {k: clip(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clip(v) for v in value]
        return value

    return json.dumps(clip(payload), ensure_ascii=False, default=str)


def show_plans(plans: Sequence[TargetPlan], due: str, as_json: bool) -> None:
    """Print a dry run; a rejected target makes it an error after the output."""
    if as_json:
        emit_json({"due_at": due, "targets": [p.as_dict() for p in plans]})
    else:
        for plan in plans:
            size = f", length {plan.length} of {plan.limit}" if plan.length is not None else ""
            click.echo(f"{plan.target}: {'ok' if plan.ok else 'REJECTED'}{size}")
            for problem in plan.problems:
                click.echo(f"  problem: {problem}")
            for number, item in enumerate(plan.items or [{"payload": plan.payload}], 1):
                if item.get("payload") is not None:
                    label = f"item {number} payload" if len(plan.items) > 1 else "payload"
                    click.echo(f"  {label}: {shown(item['payload'])}")
    bad = next((p for p in plans if not p.ok), None)
    if bad is not None:
        raise Rejected(f"{bad.target}: {bad.problems[0]} (dry run; nothing stored)")


def show_queued(queued: Sequence[QueuedPost], tz_name: str | None, as_json: bool) -> None:
    tz = zone(tz_name)
    if as_json:
        emit_json(queued[0].as_dict() if len(queued) == 1 else {"posts": [q.as_dict() for q in queued]})
        return
    rows = [(q.id, d.id, d.target, local(d.due_at, tz), "scheduled") for q in queued for d in q.deliveries]
    title = f"post {queued[0].id} queued" if len(queued) == 1 else f"{len(queued)} posts queued"
    console().print(table(f"{title} ({tz.key})", ["post", "delivery", "target", "due", "status"], rows))
    click.echo("they go out while a worker and the scheduler run (postmast run).")


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
    "--then",
    "then",
    multiple=True,
    metavar="TEXT",
    help="A further item of the thread, replying to the previous one (repeatable).",
)
@click.option(
    "--media",
    multiple=True,
    metavar="[N:]PATH",
    help="Attach an image or video to the first item, or to item N (repeatable).",
)
@click.option("--alt", multiple=True, metavar="TEXT", help="Alt text of the --media at the same position.")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="[SCOPE.]NAME=VALUE",
    help="A post option of the target networks (see: postmast account networks). NAME=VALUE applies to "
    "every target that takes NAME; NETWORK.NAME=VALUE to one network; NETWORK:ACCOUNT.NAME=VALUE to one "
    "account (repeatable).",
)
@click.option("--cw", metavar="TEXT", help="Shortcut for --option spoiler_text=TEXT (a content warning).")
@click.option("--lang", metavar="CODE", help="Shortcut for --option language=CODE.")
@click.option("--visibility", metavar="WHO", help="Shortcut for --option visibility=WHO.")
@click.option(
    "--reply-to",
    "reply_to",
    multiple=True,
    metavar="NETWORK:NAME=ID",
    help="Make the first item a reply to that post on that account (repeatable).",
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
    then: tuple[str, ...],
    media: tuple[str, ...],
    alt: tuple[str, ...],
    options: tuple[str, ...],
    cw: str | None,
    lang: str | None,
    visibility: str | None,
    reply_to: tuple[str, ...],
    max_lateness: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Queue TEXT for every --to account. Use - as TEXT to read it from stdin.

    Every item of the post is validated for every target network before anything is
    stored; if one fails, none is queued.

    \b
    Example:
      postmast post "Doors open at 9!" --to mastodon:brand --to webhook:team \\
          --at "2026-12-01 09:00" --tz Europe/Berlin
      postmast post "Our new logo" --media logo.png --alt "A blue fox" --to mastodon:brand
      postmast post "1/ A thread" --then "2/ and more" --to mastodon:brand --dry-run --json
      postmast post "Spoilers!" --to mastodon:brand --to bluesky:brand \\
          --option mastodon.spoiler_text="season finale" --option language=en
    """
    ctx = Context.from_env()
    shortcuts = shortcut("cw", cw) + shortcut("lang", lang) + shortcut("visibility", visibility)
    draft = Draft(
        read_text(text),
        list(targets),
        when,
        tz_name,
        list(media),
        list(alt),
        list(then),
        [*shortcuts, *options],
        max_lateness,
        list(reply_to),
    )
    request = build(draft, ctx.store.now())
    posts = Posts(ctx.store, default_max_lateness=ctx.settings.timings.max_lateness)
    if dry_run:
        show_plans(posts.plan(request), request.due_at.isoformat(), as_json)
        return
    show_queued([posts.queue(request)], tz_name, as_json)


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate every post and store nothing.")
@click.option("--tz", "tz_name", metavar="ZONE", help="Show times in this zone.")
@json_option
def import_posts(file: Path, dry_run: bool, tz_name: str | None, as_json: bool) -> None:
    """Queue every post of a .csv or .json file: all of them, or none if one is wrong.

    CSV columns (first line): text, to (space-separated targets), at, tz, media, alt and
    options (';'-separated; options as [SCOPE.]NAME=VALUE, see post --option), then, cw,
    lang, visibility (shortcuts for options), max_lateness, reply_to. JSON: a list of
    objects with the same fields (to, then and media as lists; media as [{"path", "alt"}];
    options as a list or an object). Media paths are relative to the file.

    \b
    Example:
      postmast import december.csv --dry-run
      postmast import december.csv
    """
    ctx = Context.from_env()
    requests: list[PostRequest] = load_file(file, ctx.store.now())
    posts = Posts(ctx.store, default_max_lateness=ctx.settings.timings.max_lateness)
    if dry_run:
        plans = [plan for request in requests for plan in posts.plan(request)]
        bad = next((p for p in plans if not p.ok), None)
        if as_json:
            emit_json({"posts": len(requests), "targets": [p.as_dict() for p in plans]})
        elif bad is None:
            click.echo(f"{len(requests)} posts, {len(plans)} deliveries: all valid (dry run; nothing stored)")
        if bad is not None:
            raise Rejected(f"{bad.target}: {bad.problems[0]} (dry run; nothing stored)")
        return
    show_queued(posts.queue_many(requests), tz_name, as_json)


COMMANDS = [post, import_posts]
