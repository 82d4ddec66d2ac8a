"""The delivery state machine: every allowed and every forbidden transition, on both backends."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from sqlalchemy import select

from postmast.scheduler.models import Delivery
from postmast.scheduler.states import (
    TERMINAL,
    TRANSITIONS,
    Status,
    TransitionNotAllowed,
    allowed,
    transition,
    transition_many,
)
from tests.factories import add_account, add_delivery, status_of

PAIRS = list(itertools.product(Status, Status))


def test_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(Status)
    for source, targets in TRANSITIONS.items():
        assert targets <= set(Status), source
    # published and cancelled are final; nothing returns to publishing except by a claim from queued
    assert TRANSITIONS[Status.PUBLISHED] == frozenset()
    assert TRANSITIONS[Status.CANCELLED] == frozenset()
    assert [s for s in Status if Status.PUBLISHING in TRANSITIONS[s]] == [Status.QUEUED]
    # an expired lease may only become unknown, never queued again (DESIGN.md)
    assert Status.QUEUED not in TRANSITIONS[Status.PUBLISHING]
    assert {Status.PUBLISHED, Status.FAILED, Status.CANCELLED, Status.MISSED} == TERMINAL


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_transition(store, vault, source: Status, target: Status) -> None:
    account = add_account(store, vault)
    delivery_id = add_delivery(store, account, status=source)
    now = store.now()
    if allowed(source, target):
        with store.write() as session:
            assert transition(session, delivery_id, source, target, now=now) is True
        assert status_of(store, delivery_id) == target
        if source != target:
            # the compare-and-set loses once the row has moved on
            with store.write() as session:
                assert transition(session, delivery_id, source, target, now=now) is False
            assert status_of(store, delivery_id) == target
    else:
        with store.write() as session, pytest.raises(TransitionNotAllowed):
            transition(session, delivery_id, source, target, now=now)
        assert status_of(store, delivery_id) == source


def test_claim_token_guards_finishing(store, vault) -> None:
    account = add_account(store, vault)
    delivery_id = add_delivery(store, account, status=Status.PUBLISHING, claim_token="mine")
    now = store.now()
    with store.write() as session:
        assert (
            transition(
                session,
                delivery_id,
                Status.PUBLISHING,
                Status.PUBLISHED,
                now=now,
                expected_token="someone-else",
            )
            is False
        )
    assert status_of(store, delivery_id) == Status.PUBLISHING
    with store.write() as session:
        assert (
            transition(
                session, delivery_id, Status.PUBLISHING, Status.PUBLISHED, now=now, expected_token="mine"
            )
            is True
        )
    assert status_of(store, delivery_id) == Status.PUBLISHED


def test_transition_many_moves_only_rows_still_expected(store, vault) -> None:
    account = add_account(store, vault)
    waiting = [add_delivery(store, account, status=Status.SCHEDULED) for _ in range(3)]
    cancelled = add_delivery(store, account, status=Status.CANCELLED)
    now = store.now()
    with store.write() as session:
        moved = transition_many(
            session, select(Delivery.id), Status.SCHEDULED, Status.QUEUED, now=now, queued_at=now
        )
    assert moved == sorted(waiting)
    assert status_of(store, cancelled) == Status.CANCELLED
    with store.write() as session:
        assert transition_many(session, select(Delivery.id), Status.SCHEDULED, Status.QUEUED, now=now) == []


def test_transition_many_refuses_a_forbidden_source(store) -> None:
    with store.write() as session, pytest.raises(TransitionNotAllowed):
        transition_many(
            session, select(Delivery.id), [Status.SCHEDULED, Status.PUBLISHED], Status.QUEUED, now=store.now()
        )


def _writes_delivery_status(tree: ast.AST) -> list[int]:
    """Line numbers of `update(Delivery)...values(status=...)` chains."""
    lines = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "values"
        ):
            continue
        if not any(k.arg == "status" for k in node.keywords):
            continue
        inner: ast.AST = node.func.value
        while isinstance(inner, ast.Call | ast.Attribute):
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Name)
                and inner.func.id == "update"
                and inner.args
                and isinstance(inner.args[0], ast.Name)
                and inner.args[0].id == "Delivery"
            ):
                lines.append(node.lineno)
                break
            inner = inner.func if isinstance(inner, ast.Call) else inner.value
    return lines


def test_nothing_but_the_state_machine_writes_the_status_column() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in [
        *root.glob("scheduler/**/*.py"),
        *root.glob("workers/**/*.py"),
        *root.glob("connectors/**/*.py"),
    ]:
        if path.name == "states.py":
            continue
        for line in _writes_delivery_status(ast.parse(path.read_text())):
            offenders.append(f"{path.relative_to(root)}:{line}")
    assert offenders == []
    # and the check does find such a write when there is one
    assert _writes_delivery_status(ast.parse("update(Delivery).where(x).values(status='queued')")) == [1]
