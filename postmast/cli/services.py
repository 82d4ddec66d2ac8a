"""`postmast worker | scheduler | run`: the long-running services."""

from __future__ import annotations

import contextlib
import os
from functools import partial

import click

from postmast.context import Context
from postmast.logs import configure
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.heartbeat import Beat, Beater
from postmast.scheduler.loop import Loop
from postmast.scheduler.notify import Channels, Notifier
from postmast.supervisor import Supervisor, die_with_parent, postmast_command

LOGLEVEL = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


def _prepare(ctx: Context) -> None:
    """Migrate and create the key file once, before any worker child could race for them."""
    ctx.store.engine  # noqa: B018  (applies migrations)
    ctx.vault  # noqa: B018  (creates the key file when needed)


@click.command("worker")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Deliveries published at the same time.",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads", "solo"]),
    default="prefork",
    show_default=True,
    help="Celery pool: prefork enforces the hard time limit.",
)
@click.option("--loglevel", type=LOGLEVEL, help="Default: POSTMAST_LOG_LEVEL or INFO.")
@click.option("--events", is_flag=True, help="Send task events (for Flower).")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="POSTMAST_WORKER_METRICS_PORT",
    help="Serve Prometheus metrics on this port (env POSTMAST_WORKER_METRICS_PORT).",
)
def worker(concurrency: int, pool: str, loglevel: str | None, events: bool, metrics_port: int | None) -> None:
    """Run a worker: publishes the deliveries the scheduler hands out. Stops cleanly on SIGTERM.

    \b
    Example:
      POSTMAST_BROKER_URL=redis://127.0.0.1:6379/0 postmast worker -c 8
    """
    from postmast.workers import metrics

    if metrics_port is not None:
        metrics.multiprocess_dir()  # before prometheus_client is first imported, in this process
    from postmast.workers.app import create_app, preload_connectors

    ctx = Context.from_env()
    level = (loglevel or ctx.settings.log_level).upper()
    configure(level)
    die_with_parent()
    _prepare(ctx)
    app = create_app(ctx.settings)
    preload_connectors()
    if metrics_port is not None:
        metrics.install_worker_hooks(ctx.settings)
        metrics.serve_worker_metrics(metrics_port)
    argv = [
        "worker",
        f"--loglevel={level}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        "-Q",
        ctx.settings.queue,
        "-n",
        f"postmast-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if events:
        argv.append("--task-events")
    detail = {"queue": ctx.settings.queue, "concurrency": concurrency, "metrics_port": metrics_port}
    beater = Beater(Beat(ctx.store, "worker", detail))
    beater.start()
    try:
        app.worker_main(argv)
    finally:
        beater.stop()


@click.command("scheduler")
@click.option("--loglevel", type=LOGLEVEL, help="Default: POSTMAST_LOG_LEVEL or INFO.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="POSTMAST_SCHEDULER_METRICS_PORT",
    help="Serve Prometheus metrics on this port (env POSTMAST_SCHEDULER_METRICS_PORT).",
)
def scheduler_command(loglevel: str | None, metrics_port: int | None) -> None:
    """Run the dispatcher: hands due deliveries to the workers. Any number may run at once.

    \b
    Example:
      postmast scheduler --loglevel DEBUG
    """
    from postmast.workers.app import create_app, enqueue_all
    from postmast.workers.broker import clean_embedded_broker
    from postmast.workers.outbox import Outbox
    from postmast.workers.write import apply_entry

    ctx = Context.from_env()
    configure((loglevel or ctx.settings.log_level).upper())
    die_with_parent()
    _prepare(ctx)
    app = create_app(ctx.settings)
    housekeeping = (
        partial(clean_embedded_broker, ctx.settings.broker_url) if ctx.settings.embedded_broker else None
    )
    queue = ctx.settings.queue
    outbox = Outbox(ctx.settings.data_dir / "outbox")
    on_tick = None
    if metrics_port is not None:
        from postmast.workers.metrics import serve_scheduler_metrics

        on_tick = serve_scheduler_metrics(ctx.store, ctx.settings, metrics_port).observe_tick
    beat = Beat(ctx.store, "scheduler", {"queue": queue, "metrics_port": metrics_port})
    dispatcher = Dispatcher(
        ctx.store,
        ctx.settings,
        partial(enqueue_all, app, queue=queue),
        housekeeping=housekeeping,
        drain=partial(outbox.drain, ctx.store, apply_entry),
        heartbeat=beat,
        on_tick=on_tick,
    )
    channels = Channels.from_env()
    notifier = Notifier(ctx.store, channels) if channels.names else None
    if notifier is not None:
        notifier.start()
    from postmast.scheduler.renewal import Renewer

    renewer = Renewer(ctx.store, ctx.vault)  # tokens renewed ahead of their end (issue 11)
    renewer.start()
    try:
        Loop(dispatcher, tick=ctx.settings.timings.tick, clock=ctx.store.now).run()
    finally:
        renewer.stop()
        if notifier is not None:
            notifier.stop()
        with contextlib.suppress(Exception):  # the store is gone: nothing to record the stop in
            beat.stop()


@click.command("run")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Worker concurrency.",
)
@click.option("--loglevel", type=LOGLEVEL, help="Default: POSTMAST_LOG_LEVEL or INFO.")
def run(concurrency: int, loglevel: str | None) -> None:
    """Run a worker and the scheduler together on this machine; Ctrl-C stops both cleanly.

    The two die with it, however it ends; a set left running by an earlier run is reported
    and nothing is started beside it.

    \b
    Example:
      postmast run
    """
    ctx = Context.from_env()
    level = (loglevel or ctx.settings.log_level).upper()
    configure(level)
    supervisor = Supervisor(
        {
            "scheduler": postmast_command("scheduler", f"--loglevel={level}"),
            "worker": postmast_command("worker", f"--concurrency={concurrency}", f"--loglevel={level}"),
        },
        grace=ctx.settings.timings.task_time_limit + 10,
        pid_file=ctx.settings.data_dir / "run.pid",
    )
    supervisor.reserve()
    _prepare(ctx)
    raise SystemExit(supervisor.run())


COMMANDS = [worker, scheduler_command, run]
