"""`postmast status`: is the service well? Exits non-zero when it is not (a Docker health check)."""

from __future__ import annotations

import contextlib
import sys

import click

from postmast.cli.admin import safe_url
from postmast.cli.layout import echo_table
from postmast.cli.output import emit_json, json_option
from postmast.context import Context
from postmast.scheduler.config import parse_duration
from postmast.scheduler.errors import UserError
from postmast.scheduler.health import ROLES, Broker, Health, check
from postmast.scheduler.timespec import duration, local, zone


def probe_broker(ctx: Context) -> Broker:
    from postmast.workers.metrics import queue_depth

    url = safe_url(ctx.settings.broker_url)
    try:
        return Broker(url, True, queue_depth(ctx.settings))
    except Exception as exc:
        return Broker(url, False, error=(str(exc).strip().splitlines() or [type(exc).__name__])[0][:120])


@click.command("status")
@click.option("--role", type=click.Choice(ROLES), help="Check only this kind of process.")
@click.option("--here", is_flag=True, help="Only processes on this host (a container's own health check).")
@click.option(
    "--overdue",
    "overdue_limit",
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="Unwell when a delivery is overdue by more than this.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing; only the exit code says.")
@json_option
def status(role: str | None, here: bool, overdue_limit: str, quiet: bool, as_json: bool) -> None:
    """Say what runs where (from the heartbeats), whether the broker answers and how many messages
    wait in it, and the oldest overdue delivery. Exits 1 when something is wrong.

    \b
    Example:
      postmast status
      postmast status --role worker --here --quiet   # a worker container's health check
    """
    try:
        limit = parse_duration(overdue_limit)
    except ValueError:
        raise UserError(f"--overdue: {overdue_limit[:40]!r} is not a duration (e.g. 90s, 5m)") from None
    ctx = Context.from_env()
    with contextlib.suppress(Exception):  # opening the store makes the data directory the broker file needs
        ctx.store.engine  # noqa: B018
    broker = None if role else probe_broker(ctx)
    health = check(ctx.store, broker=broker, overdue_limit=limit, role=role, here=here)
    if as_json:
        emit_json(health.as_dict())
    elif not quiet:
        _render(health)
    if not health.healthy:
        sys.exit(1)


def _render(health: Health) -> None:
    tz = zone(None)
    now = health.checked_at
    click.echo("postmast is " + ("well" if health.healthy else "UNWELL"))
    for problem in health.problems:
        click.echo(f"  problem: {problem}")
    for note in health.notes:
        click.echo(f"  note: {note}")
    if health.processes:
        click.echo()
        rows = [
            (
                p.role,
                p.host,
                p.pid,
                p.state,
                duration((now - p.seen_at).total_seconds()) + " ago",
                local(p.started_at, tz),
                p.detail.get("concurrency") or "",
                p.detail.get("metrics_port") or "",
            )
            for p in health.processes
        ]
        echo_table(["role", "host", "pid", "state", "last beat", "started", "concurrency", "metrics"], rows)
    if health.broker is not None:
        b = health.broker
        depth = f"{b.depth} waiting" if b.reachable else f"unreachable: {b.error}"
        click.echo(f"\nbroker {b.url}: {depth}")
    if health.oldest_overdue is not None:
        click.echo(f"overdue: {health.overdue}, the oldest due {local(health.oldest_overdue, tz)}")
    else:
        click.echo("overdue: none")


COMMANDS = [status]
