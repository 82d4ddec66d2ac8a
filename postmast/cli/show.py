"""`postmast show`: the whole story of a post or a delivery."""

from __future__ import annotations

from datetime import datetime, tzinfo

import click

from postmast.cli.layout import echo_table
from postmast.cli.output import emit_json, json_option
from postmast.context import Context
from postmast.scheduler.story import DeliveryStory, delivery_story, parse_subject, post_story
from postmast.scheduler.timespec import duration, local, zone


def _time(value: object, tz: tzinfo) -> str:
    return local(value, tz) if isinstance(value, datetime) else ""


def _delivery(story: DeliveryStory, tz: tzinfo) -> None:
    d = story.delivery
    click.echo(f"delivery {d.id} of post {d.post_id} to {d.target}: {d.status.value}")
    moved = "" if story.original_due_at == d.due_at else f" (first due {local(story.original_due_at, tz)})"
    click.echo(f"  due        {local(d.due_at, tz)}{moved}, deadline {local(story.deadline_at, tz)}")
    if d.published_at:
        click.echo(f"  published  {local(d.published_at, tz)} ({duration(d.lateness)} late)")
    if d.public_url:
        click.echo(f"  link       {d.public_url}")
    for item in d.items if len(d.items) > 1 else ():
        click.echo(f"  item {item['position']}     {item.get('url') or item['remote_id']}")
    if d.error:
        click.echo(f"  error      {d.error_class or ''}: {d.error}")
    if not story.steps:
        click.echo("  no attempt yet")
        return
    rows = [
        (
            step.number or "",
            step.kind,
            local(step.at, tz),
            "" if step.seconds is None else f"{step.seconds:.1f}s",
            step.outcome or ("running" if step.number else ""),
            step.http_status or "",
            step.error_class or "",
            step.message
            or (f"due {_time(step.due_before, tz)} → {_time(step.due_after, tz)}" if step.due_after else ""),
        )
        for step in story.steps
    ]
    echo_table(
        ["#", "what", "at", "took", "outcome", "http", "error", "message"],
        rows,
        flexible=["message"],
        right=["#", "took", "http"],
    )


@click.command("show")
@click.argument("subject", metavar="POST_OR_DELIVERY_ID")
@click.option("--tz", "tz_name", metavar="ZONE", help="Show times in this zone.")
@json_option
def show(subject: str, tz_name: str | None, as_json: bool) -> None:
    """Show the whole story of a delivery (a number, or delivery:N) or of a post (post:N): each
    delivery, each attempt with its timing, HTTP status, error class and message, each retry or
    reschedule, and the links.

    \b
    Example:
      postmast show 12
      postmast show post:4 --json
    """
    tz = zone(tz_name)
    ctx = Context.from_env()
    kind, number = parse_subject(subject)
    if kind == "delivery":
        story = delivery_story(ctx.store, number)
        if as_json:
            emit_json(story.as_dict())
            return
        _delivery(story, tz)
        return
    post = post_story(ctx.store, number)
    if as_json:
        emit_json(post.as_dict())
        return
    text = " ".join(post.text.split())
    click.echo(f"post {post.post_id} ({post.timezone}): {text[:200]}{'…' if len(text) > 200 else ''}")
    for story in post.deliveries:
        click.echo()
        _delivery(story, tz)


COMMANDS = [show]
