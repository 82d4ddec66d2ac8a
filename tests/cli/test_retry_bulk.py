"""`postmast retry --failed|--missed|--unknown`: shown grouped by cause, then done; unknown only confirmed."""

from __future__ import annotations

from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from tests.cli.conftest import Cli, as_json, error_line, ok
from tests.factories import add_delivery, status_of


def test_retry_failed_grouped_by_cause(cli: Cli, two_accounts: dict[str, int], cli_store: Store) -> None:
    brand, team = two_accounts["mastodon:brand"], two_accounts["webhook:team"]
    transient = [
        add_delivery(cli_store, brand, status=Status.FAILED, last_error_class="TransientError")
        for _ in range(3)
    ]
    permanent = add_delivery(cli_store, team, status=Status.FAILED, last_error_class="PermanentError")
    unknown = add_delivery(cli_store, brand, status=Status.UNKNOWN, last_error_class="WorkerLost")
    missed = add_delivery(cli_store, team, status=Status.MISSED, last_error_class="Missed")

    dry = ok(cli("retry", "--failed", "--dry-run")).out.splitlines()
    assert dry[0] == "would retry 4 deliveries:"
    assert dry[1].split() == [
        "3",
        "failed",
        "·",
        "TransientError",
        "(mastodon:brand):",
        "a",
        "retry",
        "can",
        "help",
    ]
    assert "PermanentError (webhook:team): a retry will not help" in dry[2]
    assert dry[-1] == "dry run: nothing changed"
    assert status_of(cli_store, transient[0]) == Status.FAILED

    plan = as_json(cli("retry", "--failed", "--cause", "TransientError", "--dry-run", "--json"))
    assert [(g["cause"], g["ids"], g["retry"]) for g in plan["groups"]] == [
        ("TransientError", transient, "yes")
    ]

    out = ok(cli("retry", "--failed", "--cause", "TransientError", "--network", "mastodon")).out
    assert out.endswith("retrying 3 deliveries now\n")
    assert [status_of(cli_store, i) for i in transient] == [Status.SCHEDULED] * 3
    assert (status_of(cli_store, permanent), status_of(cli_store, unknown)) == (Status.FAILED, Status.UNKNOWN)

    assert ok(cli("retry", "--missed")).out.endswith("retrying 1 delivery now\n")
    assert status_of(cli_store, missed) == Status.SCHEDULED

    # unknown ones are never re-sent without explicit confirmation
    error_line(cli("retry", "--unknown"), "unknown outcome", "--resend-unknown")
    assert status_of(cli_store, unknown) == Status.UNKNOWN
    error_line(cli("retry", "--unknown"), "may already be published")
    assert ok(cli("retry", "--unknown", "--resend-unknown")).out.endswith("retrying 1 delivery now\n")
    assert status_of(cli_store, unknown) == Status.SCHEDULED


def test_retry_bulk_refusals(cli: Cli, two_accounts: dict[str, int]) -> None:
    assert ok(cli("retry", "--failed")).out == "nothing to retry: no delivery matches\n"
    error_line(cli("retry", "3", "--failed"), "not both")
    error_line(cli("retry", "3", "--cause", "TransientError"), "go with --failed")
