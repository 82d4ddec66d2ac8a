"""Every statement a dispatcher tick runs reads the deliveries through an index.

A tick runs every few seconds against a table that keeps every delivery ever made; a full
scan there makes the idle tick grow with the history (6.9 s at a million rows on SQLite
before these plans were checked). The statements are not listed here by hand: the test
records what a tick (and a worker handing an account its next delivery) really sends, then
asks each backend for its plan of each statement, with rows enough that a scan would be
chosen if no index fitted. PostgreSQL is ANALYZEd, as autovacuum keeps it; SQLite is not,
as the store keeps it (tests/bulk.py says why). SQLite's plan names an index without saying
how much of it is read, so there the statement also runs (rolled back) and must take fewer
virtual machine steps than there are stored deliveries.

Small tables may be read whole: `accounts` (a row per account: the tick looks at each
ready one) and `imports` (the set of imports still being written).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from postmast.scheduler import claims
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from tests import bulk

LARGE = ("deliveries", "attempts", "delivery_items", "delivery_events", "posts", "other")
"""Tables (and the claim's alias of deliveries) that grow with the history."""
STORED = 20_000
ACCOUNTS = 50


@contextmanager
def recorded(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their parameters) sent to the database inside the block."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if not many and statement.lstrip().split(None, 1)[0].upper() in (
            "SELECT",
            "UPDATE",
            "DELETE",
            "WITH",
        ):
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def plan(store: Store, statement: str, parameters: Any) -> list[str]:
    prefix = "EXPLAIN " if store.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
        connection.rollback()
    return [str(row[-1]) for row in rows]


def full_scans(store: Store, lines: list[str]) -> list[str]:
    """Plan lines that read a large table whole (a sequential scan, or a walk of a whole index)."""
    tables = "|".join(LARGE)
    if store.dialect == "postgresql":
        pattern = re.compile(rf"Seq Scan on ({tables})\b")
    else:
        pattern = re.compile(rf"^SCAN ({tables})(_\d+)?\b")
    return [line.strip() for line in lines if pattern.search(line.strip())]


def sqlite_steps(store: Store, statement: str, parameters: Any) -> int:
    """Virtual machine instructions SQLite runs for the statement (rolled back): its plan names
    the index but not how much of it is walked, and `status = ?` alone walks a million rows."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 100
        return 0

    raw = store.engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        connection.set_progress_handler(count, 100)
        connection.execute("BEGIN")
        try:
            connection.execute(statement, parameters).fetchall()
        finally:
            connection.execute("ROLLBACK")
            connection.set_progress_handler(None, 0)
    finally:
        raw.close()
    return steps


def test_every_statement_of_a_tick_uses_an_index(store: Store, settings: Any) -> None:
    now = store.now()
    accounts = bulk.accounts(store, ACCOUNTS, now)
    bulk.deliveries(store, accounts, STORED, now=now, due_in=timedelta(days=1))
    bulk.deliveries(
        store, accounts, STORED // 10, now=now, status=Status.PUBLISHED, due_in=timedelta(days=-30)
    )
    bulk.attempts(store, Status.PUBLISHED, now)
    bulk.analyze(store)
    dispatcher = Dispatcher(store, settings, lambda ids: None, batch=20)
    dispatcher.tick()  # the first tick also plans recurring posts: not a per-tick statement
    # what a busy tick meets: expired leases, missed deadlines, due turns and lookups, lost messages
    later = now + timedelta(seconds=1)
    busy, lookups, due, stale, late = (
        accounts[:5],
        accounts[5:10],
        accounts[10:30],
        accounts[30:35],
        accounts[35:],
    )
    bulk.deliveries(
        store,
        busy,
        5,
        now=later,
        status=Status.PUBLISHING,
        due_in=timedelta(minutes=-10),
        lease_until=now - timedelta(minutes=1),
        claim_token="t",
    )
    bulk.deliveries(
        store,
        lookups,
        5,
        now=later,
        status=Status.UNKNOWN,
        due_in=timedelta(minutes=-10),
        reconcile_at=now - timedelta(seconds=1),
    )
    bulk.deliveries(store, due, 20, now=later, due_in=timedelta(seconds=-5), spread=timedelta(0))
    bulk.deliveries(
        store,
        stale,
        5,
        now=later,
        status=Status.QUEUED,
        due_in=timedelta(minutes=-5),
        queued_at=now - timedelta(hours=1),
    )
    bulk.deliveries(store, late, 5, now=later, due_in=timedelta(hours=-2), spread=timedelta(0))
    with recorded(store) as busy_tick:
        result = dispatcher.tick()
    assert result.reaped and result.missed and result.dispatched and result.requeued, result
    with recorded(store) as idle_tick:
        dispatcher.tick()
    # an idle tick writes nothing: its sweep steps run only when the probe read finds their rows
    assert not [s for s, _ in idle_tick if s.lstrip().upper().startswith(("UPDATE", "DELETE"))], idle_tick
    assert any("min(deliveries.lease_until)" in s for s, _ in idle_tick), "the probe was not recorded"
    with recorded(store) as hand_off, store.write() as session:
        claims.claim_next(session, due[0], store.now(), settings.timings.lease)
    statements = {statement: parameters for statement, parameters in busy_tick + idle_tick + hand_off}
    assert len(statements) >= 10, "the recording missed the tick's statements"
    scans = {}
    for statement, parameters in statements.items():
        found = full_scans(store, plan(store, statement, parameters))
        if store.dialect == "sqlite" and (steps := sqlite_steps(store, statement, parameters)) > STORED:
            found.append(f"{steps} steps: more than one per stored delivery")
        if found:
            scans[" ".join(statement.split())[:300]] = found
    assert not scans, scans


def test_the_plan_check_sees_a_full_scan(store: Store) -> None:
    """The check above can fail: a filter on a column no index holds is a scan on both backends."""
    now = store.now()
    bulk.deliveries(store, bulk.accounts(store, 5, now), 2_000, now=now)
    bulk.analyze(store)
    with recorded(store) as sent, store.read() as session:
        session.execute(claims.select(claims.Delivery.id).where(claims.Delivery.last_error == "x"))
    ((statement, parameters),) = sent
    assert full_scans(store, plan(store, statement, parameters))
