"""`postmast db | key | config | demo`: set-up, inspection and the guided demo."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from postmast.cli.output import console, emit_json, json_option
from postmast.cli.reporting import render
from postmast.context import Context
from postmast.scheduler.deliveries import Filters
from postmast.scheduler.errors import ConfigError, UserError
from postmast.scheduler.files import modes
from postmast.scheduler.migrations import current_revision, head_revision, upgrade
from postmast.scheduler.report import build
from postmast.scheduler.timespec import zone
from postmast.scheduler.vault import generate_key


def safe_url(url: str) -> str:
    """A database or broker URL with any password masked."""
    prefix = "sqla+" if url.startswith("sqla+") else ""  # kombu's transport prefix stays in what is shown
    try:
        return (
            prefix + make_url(url.removeprefix(prefix)).render_as_string(hide_password=True)
            if "://" in url
            else url
        )
    except Exception:
        return url.split("@")[-1]


@click.group("db")
def db() -> None:
    """The job store's schema."""


@db.command("upgrade")
@json_option
def db_upgrade(as_json: bool) -> None:
    """Apply pending migrations (also done automatically on first use).

    \b
    Example:
      POSTMAST_DATABASE_URL=postgresql://postmast@db/postmast postmast db upgrade
    """
    ctx = Context.from_env()
    from postmast.scheduler.store import Store, first_line

    store = Store(ctx.settings.database_url, migrate=False)
    try:
        applied = upgrade(store.engine)
        with store.engine.connect() as connection:
            revision = current_revision(connection)
    except DatabaseError as exc:  # unreachable server, unusable file: the user's to fix
        raise ConfigError(f"cannot open the database: {first_line(exc)}") from None
    if as_json:
        emit_json({"database": safe_url(ctx.settings.database_url), "revision": revision, "applied": applied})
    else:
        click.echo(
            f"{safe_url(ctx.settings.database_url)}: at revision {revision}"
            + (" (upgraded)" if applied else " (already up to date)")
        )


@click.group("key")
def key() -> None:
    """The key that encrypts account secrets."""


@key.command("generate")
def key_generate() -> None:
    """Print a new key for POSTMAST_SECRET_KEY (keep it out of version control).

    \b
    Example:
      export POSTMAST_SECRET_KEY=$(postmast key generate)
    """
    click.echo(generate_key())


@click.command("config")
@json_option
def config(as_json: bool) -> None:
    """Show the effective configuration (passwords and keys masked), and the modes of the data
    directory and its files, with a warning for any that others could read.

    \b
    Example:
      postmast config --json
    """
    settings = Context.from_env().settings
    files = modes(settings.data_dir)
    data = {
        "data_dir": str(settings.data_dir),
        "database_url": safe_url(settings.database_url),
        "broker_url": safe_url(settings.broker_url),
        "queue": settings.queue,
        "secret_key": settings.secret_key_source,
        "schema_head": head_revision(),
        "max_attempts": settings.max_attempts,
        "timings_seconds": vars(settings.timings),
        "files": [found.as_dict() for found in files],
    }
    for found in files:
        if found.loose:
            wanted = "700" if found.path.is_dir() else "600"
            click.echo(
                f"postmast: warning: {found.path} is open to other users (mode {found.mode:04o}); "
                f"run: chmod {wanted} {found.path}",
                err=True,
            )
    if as_json:
        emit_json(data)
        return
    for name, value in data.items():
        if name != "files":
            click.echo(f"{name:>16}: {value}")
    for number, found in enumerate(files):
        label = "files" if number == 0 else ""
        note = "  (open to other users)" if found.loose else ""
        click.echo(f"{label:>16}: {found.mode:04o} {found.path}{note}")


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the demo's store (default: a new temporary directory).",
)
def demo(data_dir: Path | None) -> None:
    """Run the whole path on this machine: queue posts to a local webhook, publish, report.

    \b
    Example:
      postmast demo
    """
    from postmast.demo import run_demo

    directory = data_dir or Path(tempfile.mkdtemp(prefix="postmast-demo-"))
    if data_dir and data_dir.exists() and any(data_dir.iterdir()):
        raise UserError(f"{data_dir} is not empty; the demo needs a fresh directory")
    out = console()
    out.print(f"[bold]postmast demo[/bold]: store, broker and logs in {directory}")
    out.print("starting a local webhook receiver, two webhook accounts and one on the fake network")
    out.print("(it fails once, on purpose), 4 posts (8 deliveries) due over 8 seconds, then a real")
    out.print("worker and scheduler on SQLite (no servers)...")
    with Progress(
        TextColumn("publishing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task("deliveries", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_demo(directory, progress=progress)
    render(build(Context(result.settings).store, Filters()), zone(None))
    keys = {r.idempotency_key for r in result.received}
    signed = sum(r.signature_ok for r in result.received)
    out.print()
    out.print(
        f"webhook receiver: {len(result.received)} requests for {result.webhook_deliveries} deliveries, "
        f"{len(keys)} distinct idempotency keys, {signed} valid signatures"
    )
    out.print(
        f"fake network: {len(result.outbox)} posts in its outbox for {result.fake_deliveries} deliveries "
        "(one after a retry: its script rehearses an outage)"
    )
    out.print(f"explore: POSTMAST_DATA_DIR={directory} postmast report --json")
    arrived = len(result.received) + len(result.outbox)
    if not result.finished or arrived != result.deliveries:
        raise UserError(f"demo did not finish cleanly ({result.statuses}); see {directory}/services.log")


COMMANDS = [db, key, config, demo]
