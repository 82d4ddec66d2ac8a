"""The scheduling commands end to end in-process: variants, slots and `queue move`, recurrence,
`reschedule --by`, duplicates, and an import undone by its id."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.cli.conftest import Cli, as_json, error_line, ok

BRAND = ["--to", "mastodon:brand"]


def test_a_variant_is_checked_for_its_own_target(cli: Cli, two_accounts: dict[str, int]) -> None:
    data = as_json(
        cli(
            "post",
            "x" * 600,
            "--text-for",
            "mastodon",
            "short",
            *BRAND,
            "--to",
            "webhook:team",
            "--dry-run",
            "--json",
        )
    )
    payloads = {t["target"]: t["payload"] for t in data["targets"]}
    assert payloads["mastodon:brand"]["status"] == "short" and all(t["ok"] for t in data["targets"])
    line = error_line(cli("post", "fine", "--text-for", "mastodon:brand", "y" * 600, *BRAND))
    assert "mastodon:brand: text is 600 characters" in line
    line = error_line(cli("post", "fine", "--text-for", "bluesky", "sky", *BRAND))
    assert "the variant for bluesky matches no target" in line


def test_first_comment_is_the_last_item(cli: Cli, two_accounts: dict[str, int]) -> None:
    data = as_json(cli("post", "head", "--first-comment", "the link", *BRAND, "--dry-run", "--json"))
    [target] = data["targets"]
    assert [i["payload"]["status"] for i in target["items"]] == ["head", "the link"]


def test_slots_next_slot_and_queue_move(cli: Cli, two_accounts: dict[str, int]) -> None:
    ok(cli("slots", "set", "webhook:team", "daily 09:00,12:00,18:00", "--tz", "Europe/Berlin"))
    shown = as_json(cli("slots", "show", "--json"))["slots"]
    assert shown[0]["account"] == "webhook:team" and shown[0]["per_week"] == 21
    ids = [
        as_json(cli("post", f"queued {n}", "--to", "webhook:team", "--next-slot", "--json"))["deliveries"][0]
        for n in range(3)
    ]
    dues = [datetime.fromisoformat(d["due_at"]) for d in ids]
    assert dues == sorted(dues) and len(set(dues)) == 3
    moved = as_json(cli("queue", "move", str(ids[2]["id"]), "--before", str(ids[0]["id"]), "--json"))["moved"]
    assert moved[0] == {"id": ids[2]["id"], "due_at": ids[0]["due_at"]}
    ok(cli("cancel", str(ids[2]["id"])))  # the queue refills: the others move up
    queue = as_json(cli("queue", "--json"))["deliveries"]
    assert [(d["id"], d["due_at"]) for d in queue] == [
        (ids[0]["id"], ids[0]["due_at"]),
        (ids[1]["id"], ids[1]["due_at"]),
    ]
    error_line(cli("post", "x", *BRAND, "--next-slot"), "mastodon:brand has no posting slots")


def test_a_recurring_post_and_reschedule_by(cli: Cli, two_accounts: dict[str, int]) -> None:
    data = as_json(
        cli(
            "post",
            "standup",
            "--to",
            "webhook:team",
            "--at",
            "tomorrow 09:00",
            "--tz",
            "Europe/Berlin",
            "--repeat",
            "every 2 days",
            "--count",
            "3",
            "--json",
        )
    )
    dues = [datetime.fromisoformat(d["due_at"]) for d in data["deliveries"]]
    assert [b - a for a, b in itertools.pairwise(dues)] == [timedelta(days=2)] * 2 and data["series"]
    first = data["deliveries"][0]["id"]
    moved = as_json(cli("reschedule", str(first), "--by", "+1h", "--json"))
    assert datetime.fromisoformat(moved["due_at"][str(first)]) == dues[0] + timedelta(hours=1)
    out = ok(cli("reschedule", str(first), "--by", "-1h", "--tz", "Europe/Berlin")).out
    local = dues[0].astimezone(ZoneInfo("Europe/Berlin"))  # CET or CEST, whatever the date
    assert out.strip().endswith(f"09:00 {local.tzname()} ({dues[0].astimezone(UTC):%H:%M} UTC)")


def test_duplicates_are_refused_unless_allowed(cli: Cli, two_accounts: dict[str, int]) -> None:
    ok(cli("post", "Same words", "--to", "webhook:team", "--at", "in 2h"))
    line = error_line(cli("post", "same  words", "--to", "webhook:team", "--at", "in 3h"))
    assert "the same text goes to this account in delivery 1" in line
    ok(cli("post", "same words", "--to", "webhook:team", "--at", "in 3h", "--allow-duplicate"))


def test_import_then_cancel_by_import_id(cli: Cli, two_accounts: dict[str, int], tmp_path: Path) -> None:
    path = tmp_path / "week.tsv"
    path.write_text("TEXT\tto\tat\n" + "".join(f"day {n}\twebhook:team\tin {n + 1}h\n" for n in range(5)))
    done = as_json(cli("import", str(path), "--json"))
    assert done["summary"] == {"posts": 5, "deliveries": 5}
    again = cli("import", str(path))
    assert again.code == 1 and "this file was imported already" in again.err
    undone = as_json(cli("cancel", "--import", str(done["import"]), "--json"))
    assert undone == {"import": done["import"], "cancelled": 5, "not_cancelled": {}}
    ok(cli("import", str(path)))


def test_import_problems_as_json(cli: Cli, two_accounts: dict[str, int], tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,to,colour\nhi,webhook:team,red\n,,\n")
    result = cli("import", str(path), "--json")
    assert result.code == 1
    assert json.loads(result.out)["problems"][0] == {
        "line": 1,
        "column": "colour",
        "message": json.loads(result.out)["problems"][0]["message"],
    }
    assert result.err.splitlines()[-1] == "postmast: error: 1 problem in bad.csv; nothing was imported"
