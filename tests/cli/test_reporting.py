"""`postmast report`: JSON with deliveries and summary, CSV, a table, and filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from postmast.cli.reporting import CSV_COLUMNS
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from tests.cli.conftest import Cli, as_json, error_line, ok
from tests.factories import add_delivery


@pytest.fixture
def history(two_accounts: dict[str, int], cli_store: Store) -> dict[str, int]:
    now = datetime.now(UTC)
    brand, team = two_accounts["mastodon:brand"], two_accounts["webhook:team"]
    return {
        "old": add_delivery(
            cli_store,
            brand,
            status=Status.PUBLISHED,
            due=now - timedelta(days=3),
            text="old news",
            published_at=now - timedelta(days=3) + timedelta(seconds=40),
            public_url="https://m.example/@brand/1",
            attempt_count=1,
        ),
        "failed": add_delivery(
            cli_store,
            brand,
            status=Status.FAILED,
            due=now - timedelta(hours=2),
            text='bad, "quoted"\nmultiline',
            last_error="Mastodon answered 422: nope",
            last_error_class="PermanentError",
            attempt_count=1,
        ),
        "fresh": add_delivery(
            cli_store,
            team,
            status=Status.PUBLISHED,
            due=now - timedelta(hours=1),
            text="fresh",
            published_at=now - timedelta(hours=1) + timedelta(seconds=5),
        ),
        "next": add_delivery(
            cli_store, team, status=Status.SCHEDULED, due=now + timedelta(hours=1), text="next"
        ),
    }


def report_ids(cli: Cli, *args: str) -> list[int]:
    return [d["id"] for d in as_json(cli("report", "--json", *args))["deliveries"]]


def test_report_json(cli: Cli, history: dict[str, int]) -> None:
    data = as_json(cli("report", "--json"))
    assert set(data) == {"deliveries", "summary", "accounts", "overall", "filters"}
    assert [d["id"] for d in data["deliveries"]] == [history[k] for k in ("old", "failed", "fresh", "next")]
    old = data["deliveries"][0]
    assert (old["status"], old["lateness_seconds"], old["url"], old["target"]) == (
        "published",
        40.0,
        "https://m.example/@brand/1",
        "mastodon:brand",
    )
    summary = {s["network"]: s for s in data["summary"]}
    assert (
        summary["mastodon"]["total"],
        summary["mastodon"]["published"],
        summary["mastodon"]["failed"],
    ) == (2, 1, 1)
    assert (summary["webhook"]["total"], summary["webhook"]["pending"], summary["webhook"]["scheduled"]) == (
        2,
        1,
        1,
    )
    assert summary["webhook"]["lateness_max_seconds"] == 5.0


def test_report_csv(cli: Cli, history: dict[str, int]) -> None:
    out = ok(cli("report", "--csv")).out
    rows = list(csv.reader(io.StringIO(out)))
    assert (
        rows[0]
        == CSV_COLUMNS
        == [
            "id",
            "post",
            "target",
            "status",
            "due_at",
            "published_at",
            "lateness_seconds",
            "attempts",
            "url",
            "error_class",
            "error",
            "text",
        ]
    )
    assert len(rows) == 5
    failed = dict(zip(rows[0], rows[2], strict=True))
    assert failed["id"] == str(history["failed"])
    assert (failed["status"], failed["error_class"], failed["error"]) == (
        "failed",
        "PermanentError",
        "Mastodon answered 422: nope",
    )
    assert failed["text"] == 'bad, "quoted"\nmultiline'
    assert failed["published_at"] == "" and failed["url"] == ""
    assert dict(zip(rows[0], rows[1], strict=True))["lateness_seconds"] == "40.0"


def test_report_json_and_csv_together_refused(cli: Cli, history: dict[str, int]) -> None:
    result = cli("report", "--json", "--csv")
    error_line(result, "choose one of --json, --csv and --html", code=2)
    assert result.out == ""


def test_report_filters(cli: Cli, history: dict[str, int]) -> None:
    assert report_ids(cli, "--since", "24h") == [history["failed"], history["fresh"], history["next"]]
    assert report_ids(cli, "--network", "webhook") == [history["fresh"], history["next"]]
    assert report_ids(cli, "--status", "published") == [history["old"], history["fresh"]]
    assert report_ids(cli, "--status", "failed", "--status", "scheduled") == [
        history["failed"],
        history["next"],
    ]
    assert report_ids(cli, "--account", "mastodon:brand", "--since", "7d") == [
        history["old"],
        history["failed"],
    ]
    assert report_ids(cli, "--network", "mastodon", "--status", "scheduled") == []
    summary = as_json(cli("report", "--json", "--network", "webhook"))["summary"]
    assert [s["network"] for s in summary] == ["webhook"]


def test_report_filter_by_post(cli: Cli, two_accounts: dict[str, int]) -> None:
    first = as_json(
        cli("post", "a", "--to", "webhook:team", "--to", "mastodon:brand", "--at", "in 1h", "--json")
    )
    as_json(cli("post", "b", "--to", "webhook:team", "--at", "in 1h", "--json"))
    assert report_ids(cli, "--post", str(first["post"])) == [d["id"] for d in first["deliveries"]]


def test_report_table(cli: Cli, history: dict[str, int]) -> None:
    out = ok(cli("report", "--tz", "UTC")).out
    assert out.startswith("4 deliveries (times in UTC)\n")
    assert "\nnetwork " in out and "\naccount " in out
    assert "https://m.example/@brand/1" in out
    assert "Mastodon answered 422: nope" in out
    assert "delivered, no link" in out  # "fresh": published, but the webhook gave no link
    assert "+40s" in out


def test_report_empty_and_bad_input(cli: Cli, two_accounts: dict[str, int]) -> None:
    assert ok(cli("report")).out == "no deliveries match\n"
    empty = as_json(cli("report", "--json"))
    assert (empty["deliveries"], empty["summary"], empty["accounts"]) == ([], [], [])
    error_line(cli("report", "--since", "last tuesday"), "cannot read the time 'last tuesday'")
    error_line(cli("report", "--status", "lost"), "Invalid value for '--status'", code=2)
    error_line(cli("report", "--tz", "Moon/Base"), "unknown time zone")


def test_report_table_fits_the_terminal(cli: Cli, history: dict[str, int], cli_store: Store) -> None:
    long_text = "A very long post " * 40
    add_delivery(
        cli_store,
        history_account(cli_store, history["old"]),
        status=Status.PUBLISHED,
        due=datetime.now(UTC) - timedelta(minutes=5),
        published_at=datetime.now(UTC) - timedelta(minutes=4),
        public_url="https://m.example/@brand/" + "9" * 120,
        text=long_text,
    )
    out = ok(cli("report", env={"COLUMNS": "100"})).out
    deliveries = out.split("\n\n")[0].splitlines()[1:]
    assert all(len(line) <= 100 for line in deliveries), max(deliveries, key=len)
    assert "…" in out and long_text.strip() not in out
    wide = ok(cli("report", "--wide", env={"COLUMNS": "100"})).out
    assert "9" * 120 in wide and " ".join(long_text.split()) in wide


def history_account(store: Store, delivery_id: int) -> int:
    from tests.factories import delivery

    return delivery(store, delivery_id).account_id


def test_report_csv_neutralises_formulas(cli: Cli, two_accounts: dict[str, int], cli_store: Store) -> None:
    evil = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tTAB"]
    for text in evil:
        add_delivery(
            cli_store, two_accounts["webhook:team"], status=Status.FAILED, text=text, last_error=text
        )
    rows = list(csv.reader(io.StringIO(ok(cli("report", "--csv")).out)))[1:]
    assert [r[CSV_COLUMNS.index("text")] for r in rows] == ["'" + t for t in evil]
    assert [r[CSV_COLUMNS.index("error")] for r in rows] == ["'" + t for t in evil]
    # numbers stay numbers, negative ones included
    late = add_delivery(
        cli_store,
        two_accounts["webhook:team"],
        status=Status.PUBLISHED,
        published_at=datetime.now(UTC) - timedelta(seconds=2),
        due=datetime.now(UTC),
    )
    [row] = [r for r in csv.reader(io.StringIO(ok(cli("report", "--csv")).out)) if r[0] == str(late)]
    assert float(row[CSV_COLUMNS.index("lateness_seconds")]) < 0


def test_report_until_and_limit(cli: Cli, history: dict[str, int]) -> None:
    assert report_ids(cli, "--since", "24h", "--until", "now") == [history["failed"], history["fresh"]]
    assert report_ids(cli, "--until", "90m") == [history["old"], history["failed"]]
    assert report_ids(cli, "--since", "24h", "--until", "in 2h") == [
        history["failed"],
        history["fresh"],
        history["next"],
    ]
    limited = as_json(cli("report", "--json", "--limit", "2"))
    assert [d["id"] for d in limited["deliveries"]] == [history["old"], history["failed"]]
    assert limited["overall"]["total"] == 4  # the summary covers every match, the limit bounds rows
    error_line(cli("report", "--since", "1h", "--until", "2h"), "--until must be later than --since")


def test_report_import_filter_needs_the_import_history(cli: Cli, history: dict[str, int]) -> None:
    from postmast.scheduler.deliveries import import_column

    if import_column() is None:
        error_line(cli("report", "--import", "1"), "--import needs the import history (posts.import_id)")
    else:  # once `postmast import` records its runs, the filter selects their posts
        assert report_ids(cli, "--import", "999999") == []


def test_report_html(cli: Cli, history: dict[str, int], tmp_path) -> None:
    page = tmp_path / "report.html"
    assert ok(cli("report", "--html", str(page))).out == f"wrote {page} (4 deliveries)\n"
    html = page.read_text()
    assert html.count("<svg") == 3 and "Content-Security-Policy" in html
    assert '<a href="https://m.example/@brand/1" rel="noopener noreferrer">' in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    error_line(cli("report", "--html", str(tmp_path / "missing" / "r.html")), "cannot write")


def test_a_published_deliverys_note_follows_its_link() -> None:
    """What was sent differently (an unresolved Bluesky mention as plain text) is on its line."""
    from postmast.cli.reporting import _outcome
    from postmast.scheduler.deliveries import DeliveryRow

    now = datetime.now(UTC)
    row = DeliveryRow(
        1, 1, "hi @ghost.test", "bluesky", "brand", Status.PUBLISHED, now, now, now, 1, "at://x", "https://b/1",
        "mention @ghost.test did not resolve to a Bluesky account: sent as plain text", "Note",
    )  # fmt: skip
    assert _outcome(row) == (
        "https://b/1 (note: mention @ghost.test did not resolve to a Bluesky account: sent as plain text)"
    )
