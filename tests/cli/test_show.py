"""`postmast show`: a delivery's or a post's whole story, history kept across a retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from postmast.scheduler.models import Attempt
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from tests.cli.conftest import Cli, as_json, error_line, ok
from tests.factories import add_delivery, delivery


def test_show_a_missed_delivery_retried_keeps_every_attempt(
    cli: Cli, two_accounts: dict[str, int], cli_store: Store
) -> None:
    due = datetime.now(UTC) - timedelta(hours=2)
    missed = add_delivery(
        cli_store,
        two_accounts["mastodon:brand"],
        status=Status.MISSED,
        due=due,
        attempt_count=1,
        last_error="not published within the post's allowed lateness",
        last_error_class="Missed",
    )
    with cli_store.write() as session:
        session.execute(
            insert(Attempt).values(
                delivery_id=missed,
                number=1,
                kind="publish",
                started_at=due,
                finished_at=due + timedelta(seconds=2),
                outcome="retry_wait",
                http_status=503,
                error_class="TransientError",
                message="Mastodon answered 503",
            )
        )
    ok(cli("retry", str(missed)))
    found = delivery(cli_store, missed)
    assert found.due_at == found.original_due_at  # the retry did not erase when it was wanted
    story = as_json(cli("show", str(missed), "--json"))
    assert story["status"] == "scheduled" and story["original_due_at"] == story["due_at"]
    assert [(h["kind"], h["outcome"], h["http_status"], h["error_class"]) for h in story["history"]] == [
        ("publish", "retry_wait", 503, "TransientError"),
        ("retried", "scheduled", None, None),
    ]
    assert story["history"][0]["seconds"] == 2.0
    assert story["history"][1]["message"] == "not published within the post's allowed lateness"
    text = ok(cli("show", f"delivery:{missed}", env={"COLUMNS": "120"})).out
    assert f"delivery {missed} of post {story['post']} to mastodon:brand: scheduled" in text
    assert "Mastodon answered 503" in text and "retried" in text


def test_show_a_post(cli: Cli, two_accounts: dict[str, int]) -> None:
    post = as_json(
        cli("post", "hello", "--to", "webhook:team", "--to", "mastodon:brand", "--at", "in 1h", "--json")
    )
    story = as_json(cli("show", f"post:{post['post']}", "--json"))
    assert [d["id"] for d in story["deliveries"]] == [d["id"] for d in post["deliveries"]]
    assert story["text"] == "hello"
    out = ok(cli("show", f"p{post['post']}")).out
    assert out.startswith(f"post {post['post']} (")
    assert out.count("no attempt yet") == 2


def test_show_bad_ids(cli: Cli, two_accounts: dict[str, int]) -> None:
    error_line(cli("show", "999"), "no delivery 999")
    error_line(cli("show", "post:999"), "no post 999")
    error_line(cli("show", "x" * 500), "is not a delivery or post id")
    assert len(error_line(cli("show", "x" * 500))) < 160
