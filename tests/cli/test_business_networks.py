"""`postmast post` to Facebook, Instagram, Threads and LinkedIn: `--dry-run` shows each payload with
the length counted by the network's rule, and what a network would refuse is refused at queue time
with one line per problem, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, as_json, error_line, ok

NOWHERE = "http://127.0.0.1:9"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(100) + b"\xff\xd9"


@pytest.fixture
def accounts(cli: Cli) -> None:
    hosting = ["--set", "media_bucket=media", "--set", f"media_endpoint={NOWHERE}"]
    keys = "media_access_key_id=AKIA\nmedia_secret_access_key=secret\n"
    for network, settings, secrets in (
        ("facebook", ["--set", "page_id=1234567890"], "page_access_token=t\n"),
        ("instagram", ["--set", "ig_user_id=178414", *hosting], f"access_token=t\n{keys}"),
        ("threads", hosting, f"access_token=t\n{keys}"),
        ("linkedin", ["--set", "author=urn:li:person:abc"], "access_token=t\n"),
    ):
        ok(
            cli(
                "account",
                "add",
                network,
                "cafe",
                *settings,
                "--set",
                f"api_base={NOWHERE}",
                "--secrets-from-stdin",
                input=secrets,
            )
        )
    ok(
        cli(
            "account",
            "add",
            "instagram",
            "bare",
            "--set",
            "ig_user_id=178414",
            "--set",
            f"api_base={NOWHERE}",
            "--secrets-from-stdin",
            input="access_token=t\n",
        )
    )


def test_dry_run_payloads_with_counted_lengths(cli: Cli, accounts: None, tmp_path: Path) -> None:
    photo = tmp_path / "door.jpg"
    photo.write_bytes(JPEG)
    data = as_json(
        cli(
            "post",
            "Open (today) 🎉 #cafe",
            "--media",
            str(photo),
            "--alt",
            "The door",
            *[a for n in ("facebook", "instagram", "threads", "linkedin") for a in ("--to", f"{n}:cafe")],
            "--option",
            "first_comment=Menu inside",
            "--dry-run",
            "--json",
        )
    )
    plans = {t["target"]: t for t in data["targets"]}
    assert all(t["ok"] for t in plans.values()), plans
    assert (plans["threads:cafe"]["length"], plans["threads:cafe"]["limit"]) == (19 + 4, 500)  # 🎉 = 4 bytes
    assert (plans["linkedin:cafe"]["length"], plans["linkedin:cafe"]["limit"]) == (34, 3000)  # as escaped
    assert plans["linkedin:cafe"]["payload"]["commentary"] == "Open \\(today\\) 🎉 {hashtag|\\#|cafe}"
    assert plans["facebook:cafe"]["payload"] == {
        "message": "Open (today) 🎉 #cafe",
        "source": "<door.jpg>",
        "alt_text_custom": "The door",
    }
    assert plans["instagram:cafe"]["payload"] == {
        "caption": "Open (today) 🎉 #cafe",
        "image_url": "<public URL of door.jpg>",
        "alt_text": "The door",
    }
    for target in ("facebook:cafe", "instagram:cafe", "linkedin:cafe"):  # the first comment is item 2
        assert [i["payload"].get("message", i["payload"]) for i in plans[target]["items"]][1] in (
            "Menu inside",
            {"text": "Menu inside"},
        )
    assert "items" not in plans["threads:cafe"]


def test_instagram_without_hosting_is_refused_in_one_line(
    cli: Cli, accounts: None, tmp_path: Path, counts: Callable[[], dict[str, int]]
) -> None:
    photo = tmp_path / "door.jpg"
    photo.write_bytes(JPEG)
    before = counts()
    line = error_line(cli("post", "Open", "--media", str(photo), "--to", "instagram:bare"))
    assert "instagram:bare: Instagram fetches media from a public URL: set media_bucket" in line
    assert "nothing was queued" in line and counts() == before


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["Words only", "--to", "instagram:cafe"],
            "instagram:cafe: an Instagram post needs an image or a video",
        ),
        (
            ["x" * 501, "--to", "threads:cafe"],
            "threads:cafe: text is 501 characters, over Threads's limit of 500",
        ),
        (
            ["(" * 1501, "--to", "linkedin:cafe"],
            "linkedin:cafe: text is 3002 characters, over LinkedIn's limit",
        ),
        (
            ["x", "--to", "linkedin:cafe", "--option", "visibility=FRIENDS"],
            "visibility must be one of public, connections",
        ),
        (["x", "--to", "facebook:cafe", "--option", "link=ftp://x"], "link must be an absolute http(s) URL"),
    ],
)
def test_refused_at_queue_time(
    cli: Cli, accounts: None, counts: Callable[[], dict[str, int]], args: list[str], says: str
) -> None:
    before = counts()
    assert says in error_line(cli("post", *args))
    assert counts() == before
