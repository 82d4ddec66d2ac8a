"""Reports: one row per delivery, a summary per network with counts and lateness, and filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postmast.scheduler.deliveries import Filters
from postmast.scheduler.report import build
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account, add_delivery, delivery

S = Status
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def history(store: Store, vault: Vault) -> dict[str, int]:
    brand = add_account(store, vault, "mastodon", "brand")
    other = add_account(store, vault, "mastodon", "other")
    team = add_account(store, vault, "webhook", "team")
    h = timedelta(hours=1)
    return {
        "on_time": add_delivery(
            store,
            brand,
            status=S.PUBLISHED,
            due=T0 - 5 * h,
            text="on time",
            published_at=T0 - 5 * h + timedelta(seconds=30),
            remote_id="1",
            public_url="https://m.example/@brand/1",
            attempt_count=1,
        ),
        "late": add_delivery(
            store,
            other,
            status=S.PUBLISHED,
            due=T0 - 4 * h,
            text="late",
            published_at=T0 - 4 * h + timedelta(seconds=90),
            attempt_count=3,
        ),
        "failed": add_delivery(
            store,
            brand,
            status=S.FAILED,
            due=T0 - 3 * h,
            text="failed",
            last_error="Mastodon answered 422: Validation failed",
            last_error_class="PermanentError",
            attempt_count=1,
        ),
        "unknown": add_delivery(store, brand, status=S.UNKNOWN, due=T0 - 2 * h, text="unknown"),
        "early": add_delivery(
            store,
            team,
            status=S.PUBLISHED,
            due=T0 - 1 * h,
            text="early",
            published_at=T0 - 1 * h - timedelta(seconds=2),
        ),
        "scheduled": add_delivery(store, team, status=S.SCHEDULED, due=T0 + h, text="scheduled"),
        "retrying": add_delivery(store, brand, status=S.RETRY_WAIT, due=T0 + 2 * h, text="retrying"),
        "cancelled": add_delivery(store, team, status=S.CANCELLED, due=T0 + 3 * h, text="cancelled"),
    }


def test_rows_and_summary(store: Store, history: dict[str, int]) -> None:
    report = build(store, Filters())
    assert [r.text for r in report.deliveries] == [
        "on time",
        "late",
        "failed",
        "unknown",
        "early",
        "scheduled",
        "retrying",
        "cancelled",
    ]
    rows = {r.text: r.as_dict() for r in report.deliveries}
    assert rows["on time"]["lateness_seconds"] == 30
    assert rows["on time"]["url"] == "https://m.example/@brand/1"
    assert rows["late"]["lateness_seconds"] == 90
    assert rows["late"]["attempts"] == 3
    assert rows["early"]["lateness_seconds"] == -2
    assert rows["failed"]["error"] == "Mastodon answered 422: Validation failed"
    assert rows["failed"]["error_class"] == "PermanentError"
    assert rows["failed"]["lateness_seconds"] is None
    assert rows["scheduled"]["target"] == "webhook:team"

    mastodon, webhook = (s.as_dict() for s in report.summary.networks)
    counts = {s.value: 0 for s in S}
    assert mastodon == {
        "network": "mastodon",
        "total": 5,
        **counts,
        "published": 2,
        "retry_wait": 1,
        "failed": 1,
        "unknown": 1,
        "delivered": 2,
        "pending": 1,
        "success_rate": 0.5,  # 2 delivered of 4 that ended (published, failed, unknown)
        "lateness_p50_seconds": 30.0,
        "lateness_p95_seconds": 90.0,
        "lateness_max_seconds": 90.0,
        "lateness_avg_seconds": 60.0,
        "attempts_per_delivery": 1.67,  # 5 attempts over the 3 deliveries tried
        "causes": [
            {
                "cause": "PermanentError",
                "deliveries": 1,
                "meaning": "the network refused the post for good",
                "retry": "no",
                "fix": "postmast show ID",
                "example": "Mastodon answered 422: Validation failed",
            },
            {
                "cause": "Unknown",
                "deliveries": 1,
                "meaning": "no error class was recorded",
                "retry": "check_first",
                "fix": "postmast show ID",
                "example": None,
            },
        ],
    }
    assert webhook == {
        "network": "webhook",
        "total": 3,
        **counts,
        "scheduled": 1,
        "published": 1,
        "cancelled": 1,
        "delivered": 1,
        "pending": 1,
        "success_rate": 1.0,
        "lateness_p50_seconds": -2.0,
        "lateness_p95_seconds": -2.0,
        "lateness_max_seconds": -2.0,
        "lateness_avg_seconds": -2.0,
        "attempts_per_delivery": None,
        "causes": [],
    }
    accounts = {s.target: s for s in report.summary.accounts}
    assert list(accounts) == ["mastodon:brand", "mastodon:other", "webhook:team"]
    assert accounts["mastodon:other"].as_dict()["lateness_p50_seconds"] == 90.0
    assert report.summary.overall.total == 8
    data = report.as_dict()
    assert set(data) == {"deliveries", "summary", "accounts", "overall", "filters"}
    assert len(data["deliveries"]) == 8 and len(data["summary"]) == 2 and len(data["accounts"]) == 3


def test_filters(store: Store, history: dict[str, int]) -> None:
    def texts(**filters) -> list[str]:
        return [r.text for r in build(store, Filters(**filters)).deliveries]

    assert texts(since=T0 - timedelta(hours=2)) == ["unknown", "early", "scheduled", "retrying", "cancelled"]
    assert texts(network="webhook") == ["early", "scheduled", "cancelled"]
    assert texts(statuses=[S.PUBLISHED]) == ["on time", "late", "early"]
    assert texts(statuses=[S.FAILED, S.UNKNOWN]) == ["failed", "unknown"]
    assert texts(target="mastodon:other") == ["late"]
    assert texts(target="mastodon:brand", statuses=[S.PUBLISHED]) == ["on time"]
    assert texts(post_id=delivery(store, history["retrying"]).post_id) == ["retrying"]
    assert texts(network="bluesky") == []


def test_summary_follows_the_filters(store: Store, history: dict[str, int]) -> None:
    report = build(store, Filters(network="mastodon", statuses=[S.PUBLISHED]))
    [summary] = report.summary.networks
    assert (summary.network, summary.total, summary.counts["published"]) == ("mastodon", 2, 2)
    assert summary.as_dict()["lateness_avg_seconds"] == 60.0


def test_empty_report(store: Store) -> None:
    report = build(store, Filters())
    data = report.as_dict()
    assert (data["deliveries"], data["summary"], data["accounts"]) == ([], [], [])
    assert data["overall"]["total"] == 0 and data["overall"]["success_rate"] is None
