"""`postmast post` and `postmast import`: queue posts, or show exactly what would be sent."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from postmast.cli.output import console, emit_json, json_option, table
from postmast.context import Context
from postmast.scheduler.drafts import Draft, build, shortcut
from postmast.scheduler.errors import UserError
from postmast.scheduler.imports import Importer, ImportProblems, Progress
from postmast.scheduler.posts import Posts, QueuedPost, Rejected, TargetPlan
from postmast.scheduler.timespec import accepted, local, zone


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
            for warning in plan.warnings:
                click.echo(f"  warning: {warning}")
            for number, item in enumerate(plan.items or [{"payload": plan.payload}], 1):
                if item.get("payload") is not None:
                    label = f"item {number} payload" if len(plan.items) > 1 else "payload"
                    click.echo(f"  {label}: {shown(item['payload'])}")
    bad = next((p for p in plans if not p.ok), None)
    if bad is not None:
        raise Rejected(f"{bad.target}: {bad.problems[0]} (dry run; nothing stored)")


def posts_service(ctx: Context) -> Posts:
    timings = ctx.settings.timings
    return Posts(
        ctx.store,
        default_max_lateness=timings.max_lateness,
        duplicate_window=timings.duplicate_window,
        horizon=timings.horizon,
    )


def show_queued(queued: Sequence[QueuedPost], tz_name: str | None, as_json: bool) -> None:
    tz = zone(tz_name)
    if as_json:
        emit_json(queued[0].as_dict() if len(queued) == 1 else {"posts": [q.as_dict() for q in queued]})
        return
    dues = sorted({d.due_at for q in queued for d in q.deliveries})
    title = f"post {queued[0].id} queued" if len(queued) == 1 else f"{len(queued)} posts queued"
    if queued[0].series is not None and len(queued) == 1:
        title += f" (recurring: series {queued[0].series}, {len(dues)} occurrence(s) planned so far)"
    if dues:
        first = f"due {accepted(dues[0], tz)}"
        click.echo(f"{title}: {first}" + (f" (first of {len(dues)} times)" if len(dues) > 1 else ""))
    else:
        click.echo(f"{title}: nothing due within the planning horizon yet")
    rows = [(q.id, d.id, d.target, local(d.due_at, tz), "scheduled") for q in queued for d in q.deliveries]
    if len(rows) <= 50:
        console().print(table(f"({tz.key})", ["post", "delivery", "target", "due", "status"], rows))
    click.echo("they go out while a worker and the scheduler run (postmast run).")


SCOPED = "SCOPE TEXT"


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
    "--at",
    "when",
    metavar="WHEN",
    help="ISO 8601, 'YYYY-MM-DD HH:MM' (in --tz), 'in 1h30m', '+2h', 'tomorrow 09:00', "
    "'next monday 10:00', or 'next slot'. Default: now.",
)
@click.option(
    "--tz", "tz_name", metavar="ZONE", help="Time zone of --at, e.g. Europe/Berlin. Default: this machine's."
)
@click.option(
    "--next-slot", is_flag=True, help="Put each target in its next free posting slot (postmast slots)."
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
    "--text-for",
    "text_for",
    multiple=True,
    nargs=2,
    metavar=SCOPED,
    help="Another text for one network (bluesky) or account (mastodon:brand), checked for it (repeatable).",
)
@click.option(
    "--then-for", "then_for", multiple=True, nargs=2, metavar=SCOPED, help="A thread item of a variant."
)
@click.option(
    "--media-for", "media_for", multiple=True, nargs=2, metavar="SCOPE [N:]PATH", help="Media of a variant."
)
@click.option(
    "--alt-for", "alt_for", multiple=True, nargs=2, metavar=SCOPED, help="Alt text of a variant's media."
)
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
    "--first-comment",
    metavar="TEXT",
    help="Shortcut for --option first_comment=TEXT: a reply by the same account, right after the post.",
)
@click.option(
    "--reply-to",
    "reply_to",
    multiple=True,
    metavar="NETWORK:NAME=ID",
    help="Make the first item a reply to that post on that account (repeatable).",
)
@click.option(
    "--repeat",
    metavar="RULE",
    help="Repeat from --at: an RRULE (FREQ=WEEKLY;BYDAY=MO), a cron expression (0 9 * * 1-5), "
    "'daily', 'weekly', 'every 3 days', 'every 2 weeks', 'monthly'.",
)
@click.option("--until", metavar="WHEN", help="The last time a --repeat may fall on (as --at).")
@click.option("--count", metavar="N", help="How many times a --repeat posts.")
@click.option(
    "--evergreen",
    metavar="DURATION",
    help="Queue it again into a free slot at least this long after each time it went out (e.g. 30d).",
)
@click.option(
    "--max-lateness",
    metavar="DURATION",
    help="Give up if it cannot go out within this long after --at (default POSTMAST_MAX_LATENESS, 1h).",
)
@click.option(
    "--allow-duplicate",
    is_flag=True,
    help="Queue it even if the same text goes to the same account within POSTMAST_DUPLICATE_WINDOW.",
)
@click.option("--dry-run", is_flag=True, help="Store nothing; show each target's payload, length and limit.")
@json_option
def post(
    text: str,
    targets: tuple[str, ...],
    when: str | None,
    tz_name: str | None,
    next_slot: bool,
    then: tuple[str, ...],
    media: tuple[str, ...],
    alt: tuple[str, ...],
    text_for: tuple[tuple[str, str], ...],
    then_for: tuple[tuple[str, str], ...],
    media_for: tuple[tuple[str, str], ...],
    alt_for: tuple[tuple[str, str], ...],
    options: tuple[str, ...],
    cw: str | None,
    lang: str | None,
    visibility: str | None,
    first_comment: str | None,
    reply_to: tuple[str, ...],
    repeat: str | None,
    until: str | None,
    count: str | None,
    evergreen: str | None,
    max_lateness: str | None,
    allow_duplicate: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Queue TEXT for every --to account. Use - as TEXT to read it from stdin.

    Every item of the post (and of each variant) is validated for every target network
    before anything is stored; if one fails, none is queued. The accepted time is shown
    in your zone and in UTC.

    \b
    Example:
      postmast post "Doors open at 9!" --to mastodon:brand --to webhook:team \\
          --at "tomorrow 09:00" --tz Europe/Berlin
      postmast post "Our new logo" --media logo.png --alt "A blue fox" --to mastodon:brand
      postmast post "Long text for Mastodon" --text-for bluesky "Short for Bluesky" \\
          --to mastodon:brand --to bluesky:brand
      postmast post "Weekly tips" --to x:brand --at "next monday 10:00" --repeat weekly --count 8
      postmast post "From the archive" --to x:brand --next-slot --evergreen 30d
    """
    ctx = Context.from_env()
    shortcuts = (
        shortcut("cw", cw)
        + shortcut("lang", lang)
        + shortcut("visibility", visibility)
        + ([f"first_comment={first_comment}"] if first_comment else [])
    )
    scoped = [
        (scope, name, value)
        for name, pairs in (("text", text_for), ("then", then_for), ("media", media_for), ("alt", alt_for))
        for scope, value in pairs
    ]
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
        variants=scoped,
        next_slot=next_slot,
        repeat=repeat,
        until=until,
        count=count,
        evergreen=evergreen,
    )
    request = build(draft, ctx.store.now())
    posts = posts_service(ctx)
    if dry_run:
        show_plans(posts.plan(request), request.due_at.isoformat(), as_json)
        return
    show_queued([posts.queue(request, allow_duplicate=allow_duplicate)], tz_name, as_json)


def progress_bar() -> tuple[Progress | None, object]:
    """A progress bar on stderr when it is a terminal (none when piped or in tests)."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress as Bar
    from rich.progress import TaskID

    bar = Bar(console=Console(stderr=True), transient=True)
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return update, bar


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every post and store nothing.")
@click.option("--tz", "tz_name", metavar="ZONE", help="Show times in this zone.")
@click.option(
    "--ignore-columns", is_flag=True, help="Skip columns postmast does not know instead of refusing."
)
@click.option(
    "--allow-duplicate",
    is_flag=True,
    help="Import even a file imported before, or texts already going to the same account.",
)
@json_option
def import_posts(
    file: Path, dry_run: bool, tz_name: str | None, ignore_columns: bool, allow_duplicate: bool, as_json: bool
) -> None:
    """Queue every post of a .csv, .tsv, .json or .jsonl file: all of them, or none.

    Every problem is reported at once, one line each: FILE:LINE: column: message.
    CSV columns (first line; any case; ',' ';' or tab): text, to (targets separated by
    spaces), at (as post --at, or 'next slot'), tz, media, alt, then, options, cw, lang,
    visibility, first_comment, max_lateness, reply_to, repeat, until, count, evergreen;
    an option of any network (visibility, mastodon.visibility, mastodon:brand.visibility);
    a variant (bluesky.text, mastodon:brand.then, x.media, x.alt). Cells holding lists
    (then, media, alt, options, reply_to) separate them with '|'. JSON: a list of objects
    with the same fields (lists as JSON lists; media also as [{"path", "alt"}]); JSON
    Lines: one object per line. Media paths are relative to the file. Every post gets
    the import's id: postmast cancel --import ID undoes it.

    \b
    Example:
      postmast import december.csv --dry-run
      postmast import december.csv
      postmast cancel --import 3
    """
    ctx = Context.from_env()
    update, bar = progress_bar()
    importer = Importer(ctx.store, posts_service(ctx), progress=update)
    try:
        if bar is not None:
            bar.start()  # type: ignore[attr-defined]
        try:
            loaded = importer.load(file, ignore_columns=ignore_columns, allow_duplicate=allow_duplicate)
            result = None if dry_run else importer.write(loaded)
        finally:
            if bar is not None:
                bar.stop()  # type: ignore[attr-defined]
    except ImportProblems as exc:
        if as_json:
            emit_json({"problems": [p.as_dict() for p in exc.problems]})
        else:
            for line in exc.lines():
                click.echo(line, err=True)
        raise
    if result is None:
        summary = {"posts": loaded.posts, "deliveries": loaded.deliveries, "recurring": loaded.recurring}
        if as_json:
            emit_json({**summary, "valid": True, "dry_run": True})
        else:
            recurring = f" ({loaded.recurring} recurring)" if loaded.recurring else ""
            click.echo(
                f"{loaded.posts} posts{recurring}, {loaded.deliveries} deliveries: all valid "
                "(dry run; nothing stored)"
            )
        return
    if as_json:
        emit_json(result.as_dict())
        return
    tz = zone(tz_name)
    dues = sorted(d.due_at for q in result.queued for d in q.deliveries)
    span = f", due {local(dues[0], tz)} to {local(dues[-1], tz)} ({tz.key})" if dues else ""
    click.echo(f"import {result.id}: {result.posts} posts, {result.deliveries} deliveries queued{span}")
    click.echo(f"undo it with: postmast cancel --import {result.id}; see them with: postmast queue")


COMMANDS = [post, import_posts]
