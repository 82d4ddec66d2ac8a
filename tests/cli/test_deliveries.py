"""`postmast queue | cancel | reschedule | retry`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from tests.cli.conftest import Cli, as_json, error_line, ok
from tests.factories import add_delivery, status_of


@pytest.fixture
def queued(cli: Cli, two_accounts: dict[str, int]) -> dict[str, list[int]]:
    """Two posts: one to both accounts on 2030-12-01 09:00 UTC, one to the webhook a day later."""
    first = as_json(
        cli(
            "post",
            "first post",
            "--to",
            "mastodon:brand",
            "--to",
            "webhook:team",
            "--at",
            "2030-12-01T09:00Z",
            "--json",
        )
    )
    second = as_json(
        cli("post", "second post", "--to", "webhook:team", "--at", "2030-12-02T09:00Z", "--json")
    )
    return {
        "first": [d["id"] for d in first["deliveries"]],
        "second": [d["id"] for d in second["deliveries"]],
        "posts": [first["post"], second["post"]],
    }


def queue_ids(cli: Cli, *args: str) -> list[int]:
    return [d["id"] for d in as_json(cli("queue", "--json", *args))["deliveries"]]


def test_queue_json(cli: Cli, queued: dict[str, list[int]], cli_store: Store) -> None:
    data = as_json(cli("queue", "--json"))
    assert [(d["id"], d["target"], d["status"], d["due_at"], d["text"]) for d in data["deliveries"]] == [
        (queued["first"][0], "mastodon:brand", "scheduled", "2030-12-01T09:00:00+00:00", "first post"),
        (queued["first"][1], "webhook:team", "scheduled", "2030-12-01T09:00:00+00:00", "first post"),
        (queued["second"][0], "webhook:team", "scheduled", "2030-12-02T09:00:00+00:00", "second post"),
    ]
    # published deliveries leave the queue; unknown and recently failed ones stay, first (they need
    # attention); failures older than --since (7 days) leave it too
    now = datetime.now(UTC)
    failed = add_delivery(cli_store, 1, status=Status.FAILED, due=now - timedelta(days=1))
    old = add_delivery(cli_store, 1, status=Status.FAILED, due=now - timedelta(days=8))
    unknown = add_delivery(cli_store, 1, status=Status.UNKNOWN, due=datetime(2030, 1, 1, tzinfo=UTC))
    done = add_delivery(cli_store, 1, status=Status.PUBLISHED, due=now - timedelta(days=1))
    assert queue_ids(cli) == [failed, unknown, *queued["first"], *queued["second"]]
    assert old not in queue_ids(cli) and done not in queue_ids(cli)
    assert old in queue_ids(cli, "--since", "30d")


def test_queue_filters(cli: Cli, queued: dict[str, list[int]]) -> None:
    assert queue_ids(cli, "--network", "mastodon") == queued["first"][:1]
    assert queue_ids(cli, "--account", "webhook:team") == [queued["first"][1], *queued["second"]]
    assert queue_ids(cli, "--post", str(queued["posts"][1])) == queued["second"]
    assert queue_ids(cli, "--limit", "1") == queued["first"][:1]
    assert queue_ids(cli, "--status", "failed") == []
    ok(cli("cancel", str(queued["second"][0])))
    assert queue_ids(cli, "--status", "cancelled", "--status", "scheduled") == [
        *queued["first"],
        *queued["second"],
    ]


def test_queue_table(cli: Cli, queued: dict[str, list[int]]) -> None:
    out = ok(cli("queue", "--tz", "Europe/Berlin")).out
    assert "3 deliveries (Europe/Berlin)" in out
    assert "2030-12-01 10:00" in out  # 09:00 UTC shown in Berlin
    assert "first post" in out and "webhook:team" in out


def test_queue_empty_and_bad_options(cli: Cli, two_accounts: dict[str, int]) -> None:
    assert ok(cli("queue")).out == "nothing queued\n"
    error_line(cli("queue", "--status", "sleeping"), "Invalid value for '--status'", code=2)
    error_line(cli("queue", "--limit", "0"), "Invalid value for '--limit'", code=2)
    error_line(cli("queue", "--tz", "Nowhere/Land"), "unknown time zone")


def test_cancel(cli: Cli, queued: dict[str, list[int]], cli_store: Store) -> None:
    first = queued["first"]
    assert ok(cli("cancel", str(first[1]))).out == f"cancelled {first[1]}\n"
    assert as_json(cli("cancel", "--post", str(queued["posts"][1]), "--json")) == {
        "cancelled": queued["second"]
    }
    assert [status_of(cli_store, i) for i in (*first, *queued["second"])] == [
        Status.SCHEDULED,
        Status.CANCELLED,
        Status.CANCELLED,
    ]


def test_cancel_refused_changes_nothing(cli: Cli, queued: dict[str, list[int]], cli_store: Store) -> None:
    published = add_delivery(cli_store, 1, status=Status.PUBLISHED)
    error_line(
        cli("cancel", str(queued["first"][0]), str(published)),
        f"delivery {published} cannot be cancelled: it is already published",
    )
    error_line(cli("cancel", str(queued["first"][0]), "999"), "no delivery 999")
    error_line(cli("cancel", "abc"), "'abc' is not a delivery id")
    error_line(cli("cancel"), "give delivery ids (see: postmast queue) or --post ID")
    error_line(cli("cancel", "--post", "999"), "no post 999")
    assert status_of(cli_store, queued["first"][0]) == Status.SCHEDULED


def test_reschedule(cli: Cli, queued: dict[str, list[int]], cli_store: Store) -> None:
    ids = queued["first"]
    result = ok(cli("reschedule", *map(str, ids), "--at", "2031-01-05 10:30", "--tz", "Europe/Berlin"))
    assert result.out == f"rescheduled {ids[0]}, {ids[1]} to 2031-01-05 10:30 CET (09:30 UTC)\n"
    data = as_json(
        cli("reschedule", "--post", str(queued["posts"][1]), "--at", "2031-02-01T00:00Z", "--json")
    )
    assert data == {"rescheduled": queued["second"], "due_at": "2031-02-01T00:00:00+00:00"}
    due = {d["id"]: d["due_at"] for d in as_json(cli("queue", "--json"))["deliveries"]}
    assert due == {
        ids[0]: "2031-01-05T09:30:00+00:00",
        ids[1]: "2031-01-05T09:30:00+00:00",
        queued["second"][0]: "2031-02-01T00:00:00+00:00",
    }


def test_reschedule_refused(cli: Cli, queued: dict[str, list[int]]) -> None:
    ids = list(map(str, queued["first"]))
    error_line(cli("reschedule", *ids, "--at", "2020-05-05 10:00"), "in the past")
    error_line(cli("reschedule", *ids, "--at", "2031-03-30 02:30", "--tz", "Europe/Berlin"), "does not exist")
    error_line(cli("reschedule", *ids), "give either --at (a new time) or --by", code=1)
    error_line(cli("reschedule", *ids, "--at", "in 1h", "--by", "+1d"), "give either --at", code=1)
    ok(cli("cancel", ids[1]))
    error_line(
        cli("reschedule", *ids, "--at", "2031-01-01T00:00Z"),
        f"delivery {ids[1]} cannot be rescheduled: it is cancelled",
    )
    due = {d["id"]: d["due_at"] for d in as_json(cli("queue", "--json"))["deliveries"]}
    assert due[queued["first"][0]] == "2030-12-01T09:00:00+00:00"


def test_retry(cli: Cli, two_accounts: dict[str, int], cli_store: Store) -> None:
    failed = add_delivery(cli_store, two_accounts["webhook:team"], status=Status.FAILED)
    missed = add_delivery(cli_store, two_accounts["webhook:team"], status=Status.MISSED)
    assert ok(cli("retry", str(failed))).out == f"retrying {failed} now\n"
    assert as_json(cli("retry", str(missed), "--json")) == {"retried": [missed]}
    assert (status_of(cli_store, failed), status_of(cli_store, missed)) == (
        Status.SCHEDULED,
        Status.SCHEDULED,
    )
    error_line(cli("retry", str(failed)), f"delivery {failed} cannot be retried: it is scheduled")


def test_retry_unknown_needs_resend_unknown(
    cli: Cli, two_accounts: dict[str, int], cli_store: Store, counts: Callable[[], dict[str, int]]
) -> None:
    failed = add_delivery(cli_store, two_accounts["mastodon:brand"], status=Status.FAILED)
    unknown = add_delivery(cli_store, two_accounts["mastodon:brand"], status=Status.UNKNOWN)
    line = error_line(cli("retry", str(failed), str(unknown)))
    assert line == (
        f"postmast: error: delivery {unknown} has an unknown outcome and may already be published; "
        "re-sending may post twice: confirm with --resend-unknown"
    )
    assert (status_of(cli_store, failed), status_of(cli_store, unknown)) == (Status.FAILED, Status.UNKNOWN)
    assert as_json(cli("retry", str(failed), str(unknown), "--resend-unknown", "--json")) == {
        "retried": [failed, unknown]
    }
    assert (status_of(cli_store, failed), status_of(cli_store, unknown)) == (
        Status.SCHEDULED,
        Status.SCHEDULED,
    )
    assert counts()["attempts"] == 0


def test_retry_post_retries_only_its_failed_deliveries(
    cli: Cli, two_accounts: dict[str, int], cli_store: Store
) -> None:
    """`retry --post` is "every failed delivery of this post": the published ones are left alone."""
    data = as_json(
        cli("post", "hi", "--to", "mastodon:brand", "--to", "webhook:team", "--at", "in 1h", "--json")
    )
    published, failed = (d["id"] for d in data["deliveries"])
    with cli_store.write() as session:
        for delivery_id, source, target in [
            (published, Status.SCHEDULED, Status.QUEUED),
            (published, Status.QUEUED, Status.PUBLISHING),
            (published, Status.PUBLISHING, Status.PUBLISHED),
            (failed, Status.SCHEDULED, Status.QUEUED),
            (failed, Status.QUEUED, Status.PUBLISHING),
            (failed, Status.PUBLISHING, Status.FAILED),
        ]:
            assert transition(session, delivery_id, source, target, now=datetime.now(UTC))
    assert as_json(cli("retry", "--post", str(data["post"]), "--json")) == {"retried": [failed]}
    assert (status_of(cli_store, published), status_of(cli_store, failed)) == (
        Status.PUBLISHED,
        Status.SCHEDULED,
    )
    error_line(cli("retry", "--post", str(data["post"])), "nothing to retry in post")


def test_a_delivery_being_reconciled_cannot_be_cancelled_rescheduled_or_removed(
    cli: Cli, two_accounts: dict[str, int], cli_store: Store
) -> None:
    """The transition table refuses it: the post may already be live while the network is asked."""
    checking = add_delivery(cli_store, two_accounts["mastodon:brand"], status=Status.RECONCILING)
    queue = {d["id"]: d["status"] for d in as_json(cli("queue", "--json"))["deliveries"]}
    assert queue[checking] == "reconciling"
    assert "reconciling" in ok(cli("queue")).out
    being_checked = "is being checked with the network right now"
    error_line(cli("cancel", str(checking)), f"delivery {checking} cannot be cancelled", being_checked)
    error_line(
        cli("reschedule", str(checking), "--at", "2031-01-01T00:00Z"),
        f"delivery {checking} cannot be rescheduled",
        being_checked,
    )
    error_line(cli("retry", str(checking), "--resend-unknown"), f"delivery {checking} cannot be retried")
    error_line(
        cli("account", "remove", "mastodon:brand", "--cancel-pending", "--yes"),
        "with unknown outcome",
        str(checking),
    )
    assert status_of(cli_store, checking) == Status.RECONCILING
    report = {d["id"]: d["status"] for d in as_json(cli("report", "--json"))["deliveries"]}
    assert report[checking] == "reconciling"
