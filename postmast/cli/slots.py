"""`postmast slots set | show | clear`: each account's weekly posting slots."""

from __future__ import annotations

import click

from postmast.cli.output import console, emit_json, json_option, table
from postmast.context import Context
from postmast.scheduler.slot_plans import SlotPlans
from postmast.scheduler.timespec import local, zone


@click.group("slots")
def slots() -> None:
    """Weekly posting slots per account: `post --next-slot` takes each target's next free one.

    \b
    Example:
      postmast slots set x:brand "Mon-Fri 09:00,12:30,17:00; Sat 10:00" --tz Europe/Berlin
      postmast slots show
    """


@slots.command("set")
@click.argument("target", metavar="NETWORK:NAME")
@click.argument("spec", metavar="SLOTS")
@click.option("--tz", "tz_name", metavar="ZONE", help="The account's zone. Default: this machine's.")
@json_option
def set_slots(target: str, spec: str, tz_name: str | None, as_json: bool) -> None:
    """Give an account its weekly slots: DAYS TIMES groups separated by ';'.

    DAYS: Mon..Sun, ranges (Mon-Fri) and lists (Sat,Sun), or daily; TIMES: HH:MM (or
    HH:MM:SS), comma-separated.

    \b
    Example:
      postmast slots set x:brand "Mon-Fri 09:00,12:30,17:00" --tz Europe/Berlin
    """
    ctx = Context.from_env()
    view = SlotPlans(ctx.store).set(target, spec, zone(tz_name).key)
    if as_json:
        emit_json(view.as_dict())
        return
    click.echo(f"{view.target}: {view.describe} ({view.timezone}); {view.per_week} slots a week")
    if view.upcoming:
        shown = ", ".join(local(when, zone(view.timezone)) for when in view.upcoming[:3])
        click.echo(f"next free: {shown}")


@slots.command("show")
@click.option("--account", "target", metavar="NETWORK:NAME", help="Only this account.")
@json_option
def show_slots(target: str | None, as_json: bool) -> None:
    """List accounts' slots and their next free ones.

    \b
    Example:
      postmast slots show --json
    """
    views = SlotPlans(Context.from_env().store).show(target)
    if as_json:
        emit_json({"slots": [v.as_dict() for v in views]})
        return
    if not views:
        click.echo('no account has posting slots (postmast slots set NETWORK:NAME "Mon-Fri 09:00")')
        return
    rows = [
        (
            v.target,
            v.timezone,
            v.describe,
            v.queued,
            ", ".join(local(w, zone(v.timezone)) for w in v.upcoming[:3]),
        )
        for v in views
    ]
    console().print(table(None, ["account", "zone", "slots", "queued", "next free"], rows, wide=["slots"]))


@slots.command("clear")
@click.argument("target", metavar="NETWORK:NAME")
def clear_slots(target: str) -> None:
    """Remove an account's slots (its queued posts keep their times).

    \b
    Example:
      postmast slots clear x:brand
    """
    SlotPlans(Context.from_env().store).clear(target)
    click.echo(f"{target}: slots removed")


COMMANDS = [slots]
