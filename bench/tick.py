"""One dispatcher tick at 10k (and 1M) stored deliveries, on SQLite and PostgreSQL.

    python -m bench.tick                      # 10,000 future deliveries, both backends
    python -m bench.tick --million --json     # and 1,000,000
    python -m bench.tick --backend sqlite

Figures, per backend and size: an idle tick (nothing due; the median of 5) and a tick that
claims 1,000 due deliveries of 1,000 accounts (the median of 3). Both must stay flat from 10k
to 1M rows: every statement a tick runs is an index lookup (tests/scheduler/test_plans.py).
The rows are inserted in bulk (tests/bulk.py) into a throw-away SQLite file and a throw-away
PostgreSQL database, then ANALYZEd, as autovacuum and the dispatcher keep them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

from postmast.scheduler.config import Settings
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import Delivery
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from tests import bulk
from tests.services import Services

ACCOUNTS = 1_000
DUE = 1_000


@dataclass(frozen=True)
class Figure:
    backend: str
    rows: int
    what: str
    ms: float

    def line(self) -> str:
        return f"{self.what:<28} {self.backend:<10} {self.rows:>9,} rows  {self.ms:8.1f} ms"


@contextmanager
def throwaway(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'tick-{uuid.uuid4().hex[:6]}.db'}"
        return
    admin_url = Services().postgres_admin_url()
    name = f"postmast_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


def measure(backend: str, rows: int, workdir: Path) -> list[Figure]:
    with throwaway(backend, workdir) as url:
        store = Store(url)
        settings = Settings.from_env(
            {"POSTMAST_DATA_DIR": str(workdir), "POSTMAST_DATABASE_URL": url, "POSTMAST_SECRET_KEY": "x" * 44}
        )
        now = store.now()
        account_ids = bulk.accounts(store, ACCOUNTS, now)
        bulk.deliveries(store, account_ids, rows, now=now, due_in=timedelta(days=1))
        bulk.analyze(store)
        sent: list[int] = []
        dispatcher = Dispatcher(store, settings, sent.extend, batch=DUE)
        dispatcher.tick()  # the first tick also plans recurring posts
        idle = statistics.median(_timed(dispatcher.tick) for _ in range(5))
        claims: list[float] = []
        for _ in range(3):
            bulk.deliveries(
                store, account_ids, DUE, now=store.now(), due_in=timedelta(seconds=-1), spread=timedelta(0)
            )
            sent.clear()
            claims.append(_timed(dispatcher.tick))
            if len(sent) != DUE:
                raise SystemExit(f"a tick dispatched {len(sent)} deliveries, not {DUE}")
            with store.write() as session:  # out of flight again, for the next round
                session.execute(delete(Delivery).where(Delivery.status == Status.QUEUED))
        store.dispose()
    return [
        Figure(backend, rows, "idle tick", idle),
        Figure(backend, rows, f"tick claiming {DUE:,}", statistics.median(claims)),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--million", action="store_true", help="also measure at 1,000,000 stored rows")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    sizes = [10_000, 1_000_000] if args.million else [10_000]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="postmast-tick-") as workdir:
        for backend in backends:
            for rows in sizes:
                found = measure(backend, rows, Path(workdir))
                figures += found
                if not args.json:
                    for figure in found:
                        print(figure.line(), flush=True)
    if args.json:
        print(json.dumps([asdict(f) for f in figures], indent=2))


if __name__ == "__main__":
    main()
