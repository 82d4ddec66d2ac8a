"""`postmast notify`: the notification channels, a test message, and the incidents so far."""

from __future__ import annotations

import uuid

import click

from postmast.cli.layout import echo_table
from postmast.cli.output import emit_json, json_option
from postmast.context import Context
from postmast.scheduler.errors import UserError
from postmast.scheduler.incidents import open_incidents
from postmast.scheduler.models import Incident, Notification
from postmast.scheduler.notify import Channels, Sender, new_secret
from postmast.scheduler.timespec import local, zone


@click.group("notify")
def notify() -> None:
    """Notifications by signed webhook and e-mail (sent by the scheduler, one per incident)."""


@notify.command("secret")
def notify_secret() -> None:
    """Print a new signing secret for POSTMAST_NOTIFY_WEBHOOK_SECRET (share it with the receiver).

    \b
    Example:
      export POSTMAST_NOTIFY_WEBHOOK_SECRET=$(postmast notify secret)
    """
    click.echo(new_secret())


@notify.command("test")
@json_option
def notify_test(as_json: bool) -> None:
    """Send a test notification on every configured channel now, and say how each went.

    \b
    Example:
      POSTMAST_NOTIFY_WEBHOOK_URL=https://example.org/hook postmast notify test
    """
    ctx = Context.from_env()
    channels = Channels.from_env()
    if not channels.names:
        raise UserError(
            "no channel is configured: set POSTMAST_NOTIFY_WEBHOOK_URL or POSTMAST_NOTIFY_SMTP_URL"
        )
    now = ctx.store.now()
    incident = Incident(
        id=0,
        key="test",
        kind="test",
        subject="postmast",
        summary="a test notification from postmast",
        opened_at=now,
        last_seen_at=now,
        count=1,
        detail={"fix": "nothing to fix", "deliveries": []},
    )
    sender = Sender(ctx.store, channels)
    results = {}
    for channel in channels.names:
        note = Notification(channel=channel, message_id=f"msg_{uuid.uuid4().hex}", tries=0)
        try:
            getattr(sender, channel)(note, incident)
            results[channel] = "sent"
        except Exception as exc:
            results[channel] = f"failed: {type(exc).__name__}: {str(exc)[:120]}"
    if as_json:
        emit_json(results)
    else:
        for channel, result in results.items():
            click.echo(f"{channel}: {result}")
    if any(r != "sent" for r in results.values()):
        raise SystemExit(1)


@notify.command("incidents")
@click.option("--tz", "tz_name", metavar="ZONE", help="Show times in this zone.")
@json_option
def notify_incidents(tz_name: str | None, as_json: bool) -> None:
    """List the latest incidents (open first) and what was sent about them.

    \b
    Example:
      postmast notify incidents --json
    """
    tz = zone(tz_name)
    found = open_incidents(Context.from_env().store)
    if as_json:
        emit_json(
            [
                {
                    "id": i.id,
                    "kind": i.kind,
                    "subject": i.subject,
                    "summary": i.summary,
                    "count": i.count,
                    "opened_at": i.opened_at.isoformat(),
                    "last_seen_at": i.last_seen_at.isoformat(),
                    "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
                    "detail": i.detail,
                }
                for i in found
            ]
        )
        return
    if not found:
        click.echo("no incidents")
        return
    rows = [
        (i.id, i.kind, local(i.opened_at, tz), local(i.resolved_at, tz) or "open", i.count, i.summary)
        for i in found
    ]
    echo_table(["id", "kind", "opened", "resolved", "count", "summary"], rows, flexible=["summary"])


COMMANDS = [notify]
