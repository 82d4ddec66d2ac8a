"""`postmast post`: queue to several accounts, dry runs, and bad input refused with nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from postmast.scheduler.body import load
from postmast.scheduler.models import Delivery, Post
from postmast.scheduler.store import Store
from tests.cli.conftest import Cli, as_json, error_line, ok
from tests.conftest import table_counts

NO_POSTS = {"posts": 0, "deliveries": 0}
BOTH = ["--to", "mastodon:brand", "--to", "webhook:team"]


def posts_and_deliveries(counts: Callable[[], dict[str, int]]) -> dict[str, int]:
    found = counts()
    return {"posts": found["posts"], "deliveries": found["deliveries"]}


def test_post_to_two_accounts_json(
    cli: Cli, two_accounts: dict[str, int], cli_store: Store, counts: Callable[[], dict[str, int]]
) -> None:
    data = as_json(cli("post", "Doors open at 9!", *BOTH, "--at", "2030-12-01T09:00:00+01:00", "--json"))
    assert set(data) == {"post", "deliveries"}
    assert [(d["target"], d["due_at"], d["status"]) for d in data["deliveries"]] == [
        ("mastodon:brand", "2030-12-01T08:00:00+00:00", "scheduled"),
        ("webhook:team", "2030-12-01T08:00:00+00:00", "scheduled"),
    ]
    assert posts_and_deliveries(counts) == {"posts": 1, "deliveries": 2}
    with cli_store.read() as session:
        assert session.scalars(select(Post.text)).one() == "Doors open at 9!"
        assert list(session.scalars(select(Delivery.id).order_by(Delivery.id))) == [
            d["id"] for d in data["deliveries"]
        ]


def test_post_to_two_accounts_text(
    cli: Cli, two_accounts: dict[str, int], counts: Callable[[], dict[str, int]]
) -> None:
    result = ok(cli("post", "Hello", *BOTH, "--at", "2030-12-01 09:00", "--tz", "Europe/Berlin"))
    assert "post 1 queued: due 2030-12-01 09:00 CET (08:00 UTC)" in result.out  # the zone and UTC
    assert "mastodon:brand" in result.out and "webhook:team" in result.out
    assert "2030-12-01 09:00" in result.out  # shown in the zone the user spoke
    assert "postmast run" in result.out
    assert posts_and_deliveries(counts) == {"posts": 1, "deliveries": 2}


def test_post_now_by_default(cli: Cli, two_accounts: dict[str, int]) -> None:
    before = datetime.now(UTC)
    data = as_json(cli("post", "now!", "--to", "webhook:team", "--json"))
    due = datetime.fromisoformat(data["deliveries"][0]["due_at"])
    assert before <= due <= datetime.now(UTC)


def test_local_time_in_a_zone_is_stored_as_utc(
    cli: Cli, two_accounts: dict[str, int], cli_store: Store
) -> None:
    ok(cli("post", "Hallo", "--to", "webhook:team", "--at", "2030-12-01 09:00", "--tz", "Europe/Berlin"))
    ok(cli("post", "Sommer", "--to", "webhook:team", "--at", "2030-07-01 09:00", "--tz", "Europe/Berlin"))
    with cli_store.read() as session:
        rows = session.execute(
            select(Post.text, Post.timezone, Delivery.due_at, Delivery.deadline_at)
            .join(Delivery, Delivery.post_id == Post.id)
            .order_by(Post.id)
        ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("Hallo", "Europe/Berlin", datetime(2030, 12, 1, 8, 0, tzinfo=UTC)),
        ("Sommer", "Europe/Berlin", datetime(2030, 7, 1, 7, 0, tzinfo=UTC)),
    ]
    assert rows[0][3] == datetime(2030, 12, 1, 9, 0, tzinfo=UTC)  # default lateness: 1 h


def test_max_lateness(cli: Cli, two_accounts: dict[str, int], cli_store: Store) -> None:
    ok(cli("post", "x", "--to", "webhook:team", "--at", "2030-12-01T09:00Z", "--max-lateness", "15m"))
    with cli_store.read() as session:
        post_lateness, deadline = session.execute(
            select(Post.max_lateness, Delivery.deadline_at).join(Delivery, Delivery.post_id == Post.id)
        ).one()
    assert (post_lateness, deadline) == (900, datetime(2030, 12, 1, 9, 15, tzinfo=UTC))


def test_dry_run_json(cli: Cli, two_accounts: dict[str, int], counts: Callable[[], dict[str, int]]) -> None:
    data = as_json(cli("post", "Draft", *BOTH, "--at", "2030-12-01T09:00Z", "--dry-run", "--json"))
    assert data == {
        "due_at": "2030-12-01T09:00:00+00:00",
        "targets": [
            {
                "target": "mastodon:brand",
                "length": 5,
                "limit": 500,
                "ok": True,
                "problems": [],
                "payload": {"status": "Draft"},
            },
            {
                "target": "webhook:team",
                "length": 5,
                "limit": 65536,
                "ok": True,
                "problems": [],
                "payload": {"text": "Draft", "idempotency_key": "(assigned when queued)", "reply_to": None},
            },
        ],
    }
    assert posts_and_deliveries(counts) == NO_POSTS


def test_dry_run_text(cli: Cli, two_accounts: dict[str, int], counts: Callable[[], dict[str, int]]) -> None:
    result = ok(cli("post", "Draft", *BOTH, "--dry-run"))
    assert "mastodon:brand: ok, length 5 of 500" in result.out
    assert "webhook:team: ok, length 5 of 65536" in result.out
    assert posts_and_deliveries(counts) == NO_POSTS


def test_dry_run_with_a_too_long_target(
    cli: Cli, two_accounts: dict[str, int], counts: Callable[[], dict[str, int]]
) -> None:
    result = cli("post", "x" * 600, *BOTH, "--dry-run", "--json")
    error_line(
        result,
        "mastodon:brand: text is 600 characters, over Mastodon's limit of 500",
        "(dry run; nothing stored)",
    )
    data = json.loads(result.out)
    assert [(t["target"], t["ok"], t["length"], t["limit"]) for t in data["targets"]] == [
        ("mastodon:brand", False, 600, 500),
        ("webhook:team", True, 600, 65536),
    ]
    assert data["targets"][0]["problems"] == ["text is 600 characters, over Mastodon's limit of 500"]
    assert posts_and_deliveries(counts) == NO_POSTS


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["hi", "--to", "myspace:brand"], ["myspace:brand: unknown network 'myspace'", "nothing was queued"]),
        (["hi", *BOTH, "--to", "mastodon:ghost"], ["mastodon:ghost: no account mastodon:ghost"]),
        (
            ["x" * 501, *BOTH],
            ["mastodon:brand: text is 501 characters, over Mastodon's limit of 500", "nothing was queued"],
        ),
        (["hi", *BOTH, "--to", "mastodon:brand"], ["target mastodon:brand is given twice"]),
        (["hi", "--to", "brand"], ["target 'brand' must look like NETWORK:NAME"]),
        (["hi", *BOTH, "--at", "2020-01-01 10:00"], ["is ", "days in the past"]),
        (["hi", *BOTH, "--at", "2020-01-01 10:00", "--dry-run"], ["in the past"]),
        (["hi", *BOTH, "--tz", "Mars/Olympus"], ["unknown time zone 'Mars/Olympus'"]),
        (
            ["hi", *BOTH, "--at", "2030-03-31 02:30", "--tz", "Europe/Berlin"],
            ["'2030-03-31 02:30' does not exist in Europe/Berlin"],
        ),
        (
            ["hi", *BOTH, "--at", "2030-10-27 02:30", "--tz", "Europe/Berlin"],
            ["happens twice in Europe/Berlin"],
        ),
        (["hi", *BOTH, "--at", "next tuesday"], ["cannot read the time 'next tuesday'"]),
        (["hi", *BOTH, "--at", "2030-12-01"], ["needs a time of day"]),
        (["hi", *BOTH, "--max-lateness", "soon"], ["max lateness 'soon' is not a duration"]),
        (["hi", *BOTH, "--max-lateness", "0"], ["the maximum lateness must be positive"]),
        (["hi\x00there", *BOTH], ["text contains control characters (U+0000)"]),
        (["hi \udcff", *BOTH], ["text is not valid Unicode"]),
        (["   ", *BOTH], ["text is empty"]),
        (["hi"], ["Missing option '--to'"]),
    ],
)
def test_bad_input_writes_nothing(
    cli: Cli,
    two_accounts: dict[str, int],
    counts: Callable[[], dict[str, int]],
    args: list[str],
    fragments: list[str],
) -> None:
    result = cli("post", *args)
    error_line(result, *fragments)
    if "--dry-run" not in args:
        assert result.out == ""
    assert posts_and_deliveries(counts) == NO_POSTS


def test_text_from_stdin(cli: Cli, two_accounts: dict[str, int], cli_store: Store) -> None:
    ok(cli("post", "-", "--to", "webhook:team", input="line one\nline two — ünïcode\n\n"))
    with cli_store.read() as session:
        assert session.scalars(select(Post.text)).one() == "line one\nline two — ünïcode"


def test_invalid_utf8_on_stdin(
    cli: Cli, two_accounts: dict[str, int], counts: Callable[[], dict[str, int]]
) -> None:
    error_line(
        cli("post", "-", "--to", "webhook:team", input=b"caf\xe9\n"), "the text on stdin is not valid UTF-8"
    )
    assert posts_and_deliveries(counts) == NO_POSTS


def test_relative_time(cli: Cli, two_accounts: dict[str, int]) -> None:
    before = datetime.now(UTC)
    data = as_json(cli("post", "soon", "--to", "webhook:team", "--at", "in 10m", "--json"))
    due = datetime.fromisoformat(data["deliveries"][0]["due_at"])
    assert before + timedelta(minutes=10) <= due <= datetime.now(UTC) + timedelta(minutes=10)


# -- threads, media and import files ----------------------------------------------------------------


def test_a_thread_with_an_image_dry_run_shows_every_item(
    cli: Cli, two_accounts: dict[str, int], tmp_path
) -> None:
    from tests.factories import tiny_png

    (tmp_path / "logo.png").write_bytes(tiny_png(40, 30))
    data = json.loads(
        ok(
            cli(
                "post",
                "1/ hello",
                "--then",
                "2/ more",
                "--media",
                str(tmp_path / "logo.png"),
                "--alt",
                "A fox",
                "--cw",
                "launch",
                "--lang",
                "en",
                "--to",
                "mastodon:brand",
                "--dry-run",
                "--json",
            )
        ).out
    )
    [target] = data["targets"]
    # the content warning counts with each text
    assert target["ok"] and [item["length"] for item in target["items"]] == [8 + 6, 7 + 6]
    first, second = (item["payload"] for item in target["items"])
    assert first["status"] == "1/ hello" and first["spoiler_text"] == "launch" and first["language"] == "en"
    assert len(first["media_ids"]) == 1 and "media_ids" not in second


def test_import_a_csv_file_queues_every_post(
    cli: Cli, two_accounts: dict[str, int], tmp_path, counts: Callable[[], dict[str, int]], db_url: str
) -> None:
    from tests.factories import tiny_png

    (tmp_path / "logo.png").write_bytes(tiny_png())
    (tmp_path / "december.csv").write_text(
        "text,to,at,tz,media,alt\n"
        '"Doors open at 9!",mastodon:brand webhook:team,2030-12-01 09:00,Europe/Berlin,,\n'
        '"Our logo",mastodon:brand,2030-12-02 12:00,Europe/Berlin,logo.png,A blue fox\n'
    )
    dry = ok(cli("import", str(tmp_path / "december.csv"), "--dry-run"))
    assert "2 posts, 3 deliveries: all valid" in dry.out
    assert posts_and_deliveries(counts) == NO_POSTS
    data = as_json(cli("import", str(tmp_path / "december.csv"), "--json"))
    assert [len(p["deliveries"]) for p in data["posts"]] == [2, 1]
    assert data["posts"][0]["deliveries"][0]["due_at"] == "2030-12-01T08:00:00+00:00"
    assert posts_and_deliveries(counts) == {"posts": 2, "deliveries": 3}
    assert table_counts(db_url, ["media"]) == {"media": 1}


def test_import_with_one_bad_row_writes_nothing(
    cli: Cli, two_accounts: dict[str, int], tmp_path, counts: Callable[[], dict[str, int]]
) -> None:
    (tmp_path / "posts.json").write_text(json.dumps([
        {"text": "fine", "to": ["webhook:team"], "at": "2030-12-01T09:00Z"},
        {"text": "x" * 600, "to": ["mastodon:brand"], "at": "2030-12-01T09:00Z"},
    ], indent=1))  # fmt: skip
    result = cli("import", str(tmp_path / "posts.json"))
    assert result.code == 1
    problem, last = result.err.splitlines()
    assert problem.startswith("posts.json:9: text: mastodon:brand: text is 600 characters"), problem
    assert last == "postmast: error: 1 problem in posts.json; nothing was imported"
    assert posts_and_deliveries(counts) == NO_POSTS


def test_options_apply_to_the_targets_that_take_them(cli: Cli, two_accounts: dict[str, int]) -> None:
    """`NAME=VALUE` reaches every target whose network declares NAME; the webhook declares none."""
    data = as_json(
        cli(
            "post",
            "Spoilers",
            *BOTH,
            "--option",
            "spoiler_text=finale",
            "--visibility",
            "unlisted",
            "--dry-run",
            "--json",
        )
    )
    payloads = {t["target"]: t["payload"] for t in data["targets"]}
    assert payloads["mastodon:brand"]["spoiler_text"] == "finale"
    assert payloads["mastodon:brand"]["visibility"] == "unlisted"
    assert "spoiler_text" not in payloads["webhook:team"]


def test_option_scopes_the_most_specific_wins(cli: Cli, two_accounts: dict[str, int]) -> None:
    data = as_json(
        cli(
            "post",
            "x",
            *BOTH,
            "--option",
            "visibility=public",
            "--option",
            "mastodon:brand.visibility=direct",
            "--option",
            "mastodon.visibility=private",
            "--dry-run",
            "--json",
        )
    )
    [mastodon] = [t for t in data["targets"] if t["target"] == "mastodon:brand"]
    assert mastodon["payload"]["visibility"] == "direct"


@pytest.mark.parametrize(
    ("option", "fragments"),
    [
        ("colour=red", ["no target takes the option 'colour'", "no network takes it"]),
        (
            "webhook.visibility=public",
            ["no target takes the option 'visibility'", "taken by: linkedin, mastodon"],
        ),
        ("bluesky.language=en", ["bluesky is not one of the --to targets"]),
        ("mastodon:other.visibility=public", ["mastodon:other is not one of the --to targets"]),
        ("visibility", ["must look like NAME=VALUE"]),
        ("visibility=everyone", ["visibility must be one of public, unlisted, private, direct"]),
        ("a b.c=d", ["is not a network or NETWORK:ACCOUNT"]),
    ],
)
def test_bad_options_are_one_line_and_store_nothing(
    cli: Cli,
    two_accounts: dict[str, int],
    counts: Callable[[], dict[str, int]],
    option: str,
    fragments: list[str],
) -> None:
    error_line(cli("post", "x", *BOTH, "--option", option), *fragments)
    assert posts_and_deliveries(counts) == NO_POSTS


def test_import_takes_an_options_column(
    cli: Cli, two_accounts: dict[str, int], tmp_path: Path, cli_store: Store
) -> None:
    csv = tmp_path / "posts.csv"
    csv.write_text(
        "text,to,at,options,cw\n"
        '"hi",mastodon:brand webhook:team,2030-12-01T09:00Z,visibility=unlisted | language=en,boo\n'
    )
    ok(cli("import", str(csv)))
    with cli_store.read() as session:
        body = load(session.scalars(select(Post)).one().content)
    assert {(o.scope, o.name, o.value) for o in body.options} == {
        ("", "visibility", "unlisted"),
        ("", "language", "en"),
        ("", "spoiler_text", "boo"),
    }
