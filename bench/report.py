"""How long a delivery report's summary takes over a large history (issue 13: under a second
for 100,000 deliveries).

    python -m bench.report                                   # SQLite in a temporary folder
    python -m bench.report --database-url postgresql+psycopg://127.0.0.1/test --rows 100000
    python -m bench.report --json

Generates the history straight into the store (10 accounts: 90 % published, 5 % failed,
5 % scheduled), then times the whole report and a one-day report, best of five (the machine
is shared; the slower runs measure the neighbours). On PostgreSQL the tables are created in a
fresh database that is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from postmast.scheduler.deliveries import Filters
from postmast.scheduler.report import build
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import TEST_KEY
from tests.factories import add_account
from tests.history import Spec, generate

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """A fresh database: a SQLite file in a temporary folder, or a new PostgreSQL database."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="postmast-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'postmast.db'}"
        return
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"postmast_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def best_of(n: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(url: str, rows: int) -> dict[str, float | int | str]:
    store = Store(url)
    vault = Vault(TEST_KEY)
    per_account = rows // 10
    accounts = [add_account(store, vault, "webhook", f"team{i}") for i in range(10)]
    specs = [
        Spec(a, status, count, lateness=[float(s) for s in range(0, 600, 7)], attempts=attempts)
        for a in accounts
        for status, count, attempts in (
            (Status.PUBLISHED, per_account * 90 // 100, [None]),
            (Status.FAILED, per_account * 5 // 100, ["TransientError"] * 2),
            (Status.SCHEDULED, per_account - per_account * 95 // 100, []),
        )
    ]
    generate(store, specs, start=T0, step=10)
    whole = Filters(since=T0, limit=100)
    day = Filters(since=T0 + timedelta(days=3), until=T0 + timedelta(days=4), limit=100)
    total = build(store, whole).summary.overall.total
    figures: dict[str, float | int | str] = {
        "backend": store.engine.dialect.name,
        "deliveries": total,
        "report_s": round(best_of(5, lambda: build(store, whole)), 3),
        "one_day_report_s": round(best_of(5, lambda: build(store, day)), 3),
    }
    store.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL admin URL (default: SQLite in a temporary folder)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args()
    with database(args.database_url) as url:
        figures = measure(url, args.rows)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:18} {value}")
    print("target             report and one-day report under 1 s at 100,000 deliveries")


if __name__ == "__main__":
    main()
