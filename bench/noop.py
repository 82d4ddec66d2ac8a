"""Celery's own ceiling: tasks that do nothing, through postmast's broker and worker settings.

`bench/throughput.py` divides postmast's deliveries per second by this figure, so what is
measured is what postmast adds to the queue it runs on. The worker is started like
`postmast worker` (same Celery configuration, pool, concurrency, queue); each task appends
the time it ran to a file, as the fake network appends each post to its outbox.

    python -m bench.noop -c 2 --pool prefork      # a worker, configured from POSTMAST_* variables
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from celery import Celery

from postmast.scheduler.config import Settings
from postmast.workers.app import celery_config

NOOP_TASK = "bench.noop"


def create_app(settings: Settings) -> Celery:
    app = Celery("postmast-noop", set_as_current=False)
    app.conf.update(celery_config(settings))

    @app.task(name=NOOP_TASK, ignore_result=True, acks_late=True, shared=False)  # type: ignore[untyped-decorator]
    def noop(number: int, path: str) -> None:
        with open(path, "a") as done:
            done.write(f"{number} {time.time()}\n")

    return app


def send(settings: Settings, count: int, path: Path) -> float:
    """Send `count` no-op tasks over one connection; the time the first was sent."""
    app = create_app(settings)
    start = time.time()
    with app.producer_or_acquire() as producer:
        for number in range(count):
            app.send_task(NOOP_TASK, args=[number, str(path)], queue=settings.queue, producer=producer)
    return start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-c", "--concurrency", type=int, default=2)
    parser.add_argument("--pool", default="prefork")
    args = parser.parse_args()
    settings = Settings.from_env()
    create_app(settings).worker_main(
        [
            "worker",
            "--loglevel=WARNING",
            f"--concurrency={args.concurrency}",
            f"--pool={args.pool}",
            "-Q",
            settings.queue,
            "-n",
            f"noop-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )


if __name__ == "__main__":
    main()
