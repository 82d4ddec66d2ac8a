"""`postmast queue`: what needs attention first, each with its fix, then a screenful of rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from tests.cli.conftest import Cli, as_json, ok
from tests.factories import add_delivery
from tests.history import Spec, generate


def test_attention_with_fixes_and_a_screenful(
    cli: Cli, two_accounts: dict[str, int], cli_store: Store
) -> None:
    team = two_accounts["webhook:team"]
    now = datetime.now(UTC)
    add_delivery(
        cli_store, team, status=Status.FAILED, last_error_class="TransientError", due=now - timedelta(hours=1)
    )
    add_delivery(cli_store, team, status=Status.UNKNOWN, last_error_class="WorkerLost")
    generate(cli_store, [Spec(team, Status.SCHEDULED, 10_000)], start=now - timedelta(minutes=30), step=0.01)
    out = ok(cli("queue", env={"COLUMNS": "120"})).out
    lines = out.splitlines()
    assert lines[0] == "needs attention:"
    assert "  1 delivery failed" in lines
    assert "    → TransientError: postmast retry --failed --cause TransientError" in lines
    assert "  1 delivery may or may not be published" in lines
    assert any(line.startswith("  10,000 deliveries overdue: no scheduler is running") for line in lines)
    assert "50 of 10,002 deliveries" in out
    assert lines[-1] == "… and 9,952 more: postmast queue --all (or --status, --limit)"
    assert len(lines) < 80 and all(len(line) <= 120 for line in lines)
    data = as_json(cli("queue", "--json", "--limit", "5"))
    assert data["total"] == 10_002 and len(data["deliveries"]) == 5
    assert [i["kind"] for i in data["attention"]] == ["failed", "unknown", "overdue"]
    everything = ok(cli("queue", "--all")).out
    assert len(everything.splitlines()) > 10_002
