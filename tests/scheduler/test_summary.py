"""The summary's numbers on a generated history whose counts, lateness and causes are known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postmast.scheduler.deliveries import Deliveries, Filters
from postmast.scheduler.report import build
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from postmast.scheduler.summary import percentile
from postmast.scheduler.vault import Vault
from tests.factories import add_account, add_delivery
from tests.history import Spec, generate

S = Status
T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def history(store: Store, vault: Vault) -> dict[str, int]:
    brand = add_account(store, vault, "mastodon", "brand")
    team = add_account(store, vault, "webhook", "team")
    generate(
        store,
        [
            # brand: 100 published 1..100 s late; every 10th took two transient errors first
            Spec(
                brand, S.PUBLISHED, 90, lateness=[float(s) for s in range(1, 101) if s % 10], attempts=[None]
            ),
            Spec(
                brand,
                S.PUBLISHED,
                10,
                lateness=[float(s) for s in range(10, 101, 10)],
                attempts=["TransientError", "TransientError", None],
            ),
            Spec(
                brand,
                S.FAILED,
                12,
                attempts=["PermanentError"],
                error_class="PermanentError",
                error="Mastodon answered 422: Validation failed: Text character limit of 500 exceeded",
            ),
            Spec(
                brand,
                S.FAILED,
                8,
                attempts=["TransientError"] * 5,
                error_class="TransientError",
                error="Mastodon answered 503 (gave up after 5 attempts)",
            ),
            Spec(brand, S.UNKNOWN, 5, attempts=["WorkerLost"], error_class="WorkerLost"),
            Spec(brand, S.MISSED, 3, error_class="Missed"),
            Spec(brand, S.SCHEDULED, 7),
            Spec(brand, S.CANCELLED, 2),
            # team: 10 published, -5..4 s late
            Spec(team, S.PUBLISHED, 10, lateness=[float(s) for s in range(-5, 5)], attempts=[None]),
        ],
        start=T0,
    )
    return {"brand": brand, "team": team}


def test_counts_rates_lateness_attempts_and_causes(store: Store, history: dict[str, int]) -> None:
    summary = build(store, Filters()).summary
    brand, team = summary.accounts
    assert (brand.target, team.target) == ("mastodon:brand", "webhook:team")
    assert (brand.total, brand.delivered, brand.counts["failed"], brand.counts["unknown"]) == (
        137,
        100,
        20,
        5,
    )
    assert (brand.counts["missed"], brand.pending, brand.counts["cancelled"]) == (3, 7, 2)
    assert brand.success_rate == pytest.approx(100 / 128)
    assert (brand.late(50), brand.late(95), brand.lateness[-1], brand.lateness[0]) == (50.0, 95.0, 100.0, 1.0)
    # 90 + 30 + 12 + 40 + 5 attempts over the 125 deliveries tried (missed, scheduled, cancelled never were)
    assert brand.attempts_per_delivery == pytest.approx(177 / 125)
    causes = brand.as_dict()["causes"]
    assert [(c["cause"], c["deliveries"], c["retry"]) for c in causes] == [
        ("PermanentError", 12, "no"),
        ("TransientError", 8, "yes"),
        ("WorkerLost", 5, "check_first"),
        ("Missed", 3, "yes"),
    ]
    assert causes[0]["example"].startswith("Mastodon answered 422")
    assert causes[1]["fix"] == "postmast retry --failed --cause TransientError"
    assert "check mastodon:brand" in causes[2]["fix"]

    assert (team.total, team.delivered, team.success_rate, team.attempts_per_delivery) == (10, 10, 1.0, 1.0)
    assert (team.late(50), team.late(95), team.lateness[-1]) == (-1.0, 4.0, 4.0)

    mastodon, webhook = summary.networks
    assert (mastodon.network, mastodon.total, webhook.network, webhook.total) == (
        "mastodon",
        137,
        "webhook",
        10,
    )
    overall = summary.overall
    assert (overall.total, overall.delivered, overall.counts["failed"]) == (147, 110, 20)
    assert overall.success_rate == pytest.approx(110 / 138)
    merged = sorted([float(s) for s in range(1, 101)] + [float(s) for s in range(-5, 5)])
    assert overall.lateness == merged
    assert (overall.late(50), overall.late(95)) == (merged[54], merged[104])


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert [percentile([1.0, 2.0, 3.0, 4.0], p) for p in (0, 25, 50, 75, 95, 100)] == [1, 1, 2, 3, 4, 4]


def test_filters_select_the_same_set_for_rows_and_summary(store: Store, history: dict[str, int]) -> None:
    window = Filters(since=T0 + timedelta(minutes=90), until=T0 + timedelta(minutes=100))
    report = build(store, window)
    assert len(report.deliveries) == report.summary.overall.total == 10
    assert all(
        T0 + timedelta(minutes=90) <= r.due_at < T0 + timedelta(minutes=100) for r in report.deliveries
    )
    failed = build(store, Filters(statuses=[S.FAILED], target="mastodon:brand", limit=3))
    assert len(failed.deliveries) == 3 and failed.summary.overall.total == 20
    assert build(store, Filters(network="webhook")).summary.overall.total == 10


def test_a_retried_miss_keeps_its_lateness_and_history(store: Store, vault: Vault, clock) -> None:
    account = add_account(store, vault, "webhook", "late")
    due = clock.now - timedelta(hours=3)
    missed = add_delivery(
        store, account, status=S.MISSED, due=due, last_error="too late", last_error_class="Missed"
    )
    Deliveries(store).retry([missed])
    now = clock.advance(60)
    with store.write() as session:
        transition(session, missed, S.SCHEDULED, S.QUEUED, now=now)
        transition(session, missed, S.QUEUED, S.PUBLISHING, now=now)
        transition(session, missed, S.PUBLISHING, S.PUBLISHED, now=now, published_at=now)
    [row] = build(store, Filters(post_id=None, target="webhook:late")).deliveries
    assert (row.due_at, row.lateness) == (due, 3 * 3600 + 60)


def test_a_large_history_is_counted_whole_and_by_day(store: Store, vault: Vault) -> None:
    """Totals over 10,000 deliveries and one day of them (how fast at 100,000 rows: `bench/report.py`)."""
    accounts = [add_account(store, vault, "webhook", f"team{i}") for i in range(10)]
    specs = [
        Spec(a, status, n, lateness=[float(s) for s in range(0, 600, 7)], attempts=attempts, error_class=cls)
        for a in accounts
        for status, n, attempts, cls in (
            (S.PUBLISHED, 900, [None], None),
            (S.FAILED, 50, ["TransientError"] * 2, "TransientError"),
            (S.SCHEDULED, 50, [], None),
        )
    ]
    generate(store, specs, start=T0, step=60)
    summary = build(store, Filters(since=T0, limit=100)).summary
    assert summary.overall.total == 10_000 and summary.overall.delivered == 9_000
    day = Filters(since=T0 + timedelta(days=3), until=T0 + timedelta(days=4), limit=100)
    assert build(store, day).summary.overall.total == 1440
