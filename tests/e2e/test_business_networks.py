"""Facebook Pages, Instagram, Threads and LinkedIn end to end: one `postmast run` (worker and
scheduler processes on the embedded default) publishes one post with a photo and a first
comment to the four networks' contract servers, the photo hosted for Instagram and Threads
in a real S3-compatible bucket (moto on loopback). One run, one check per network."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import context, service_env, settled, wait_for
from tests.servers.facebook import FacebookServer
from tests.servers.instagram import InstagramServer
from tests.servers.linkedin import LinkedInServer
from tests.servers.s3 import ACCESS, S3Server
from tests.servers.threads import ThreadsServer

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(300) + b"\xff\xd9"
TEXT = "Grand opening (today) #cafe"
COMMENT = "Menu: https://example.org/menu"


def _postmast(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "postmast", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Start the four servers and a bucket, add the accounts, queue the post, `postmast run` until done."""
    tmp = tmp_path_factory.mktemp("business")
    s3 = S3Server().start()
    servers = {
        "facebook": FacebookServer({"page-token": "1234567890"}),
        "instagram": InstagramServer({"ig-token": "17841400000000123"}, processing_polls=0),
        "threads": ThreadsServer({"th-token": "25800000000000077"}, processing_polls=0),
        "linkedin": LinkedInServer(),
    }
    for server in servers.values():
        server.start()
    env = service_env(tmp / "data")
    process = None
    try:
        s3.bucket("business-media")
        hosting = [f"--set={k}={v}" for k, v in s3.settings("business-media").items()]
        keys = "".join(f"{k}={v}\n" for k, v in ACCESS.items())
        accounts = {
            "facebook": (
                ["--set=page_id=1234567890", f"--set=api_base={servers['facebook'].url}"],
                "page_access_token=page-token\n",
            ),
            "instagram": (
                [
                    "--set=ig_user_id=17841400000000123",
                    f"--set=api_base={servers['instagram'].url}",
                    *hosting,
                ],
                f"access_token=ig-token\n{keys}",
            ),
            "threads": (
                [f"--set=api_base={servers['threads'].url}", *hosting],
                f"access_token=th-token\n{keys}",
            ),
            "linkedin": (
                ["--set=author=urn:li:person:abc123", f"--set=api_base={servers['linkedin'].url}"],
                "access_token=li-token\n",
            ),
        }
        for network, (settings, secrets) in accounts.items():
            _postmast(
                env, "account", "add", network, "cafe", *settings, "--secrets-from-stdin", stdin=secrets
            )
        photo = tmp / "opening.jpg"
        photo.write_bytes(JPEG)
        targets = [arg for network in servers for arg in ("--to", f"{network}:cafe")]
        _postmast(
            env,
            "post",
            TEXT,
            "--media",
            str(photo),
            "--alt",
            "The café's door, open",
            *targets,
            "--option",
            f"first_comment={COMMENT}",
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "postmast", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(settled(context(env), 4), 90, "the four deliveries to finish")
        report = json.loads(_postmast(env, "report", "--json"))
        yield {"servers": servers, "s3": s3, "report": {d["target"]: d for d in report["deliveries"]}}
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in servers.values():
            server.stop()
        s3.stop()


def _published(run: dict[str, Any], target: str) -> dict[str, Any]:
    row = run["report"][target]
    assert row["status"] == "published", json.dumps(row)
    return row


@pytest.mark.slow
def test_facebook(run: dict[str, Any]) -> None:
    server: FacebookServer = run["servers"]["facebook"]
    row = _published(run, "facebook:cafe")
    [post] = server.posts.values()
    [comment] = server.comments.values()
    assert (post["message"], comment["message"], comment["parent"]) == (TEXT, COMMENT, post["id"])
    assert row["url"] == post["permalink_url"] and [p["alt"] for p in server.photos.values()] == [
        "The café's door, open"
    ]


@pytest.mark.slow
def test_instagram(run: dict[str, Any]) -> None:
    server: InstagramServer = run["servers"]["instagram"]
    row = _published(run, "instagram:cafe")
    [post] = server.media.values()
    [comment] = server.comments.values()
    assert (post["text"], comment["text"], comment["media"]) == (TEXT, COMMENT, post["id"])
    assert [data for _, data in server.fetched] == [JPEG] and row["url"] == server.permalink(
        post["owner"], post["id"]
    )


@pytest.mark.slow
def test_threads(run: dict[str, Any]) -> None:
    server: ThreadsServer = run["servers"]["threads"]
    row = _published(run, "threads:cafe")
    [post] = server.media.values()  # Threads takes no first comment: one post
    assert post["text"] == TEXT and [data for _, data in server.fetched] == [JPEG]
    assert row["url"] == server.permalink(post["owner"], post["id"])
    assert run["s3"].keys("business-media") == []  # hosted only while Instagram and Threads needed it


@pytest.mark.slow
def test_linkedin(run: dict[str, Any]) -> None:
    server: LinkedInServer = run["servers"]["linkedin"]
    row = _published(run, "linkedin:cafe")
    [post] = server.posts.values()
    [comment] = server.comments.values()
    assert post["shown"] == TEXT and post["commentary"] == "Grand opening \\(today\\) {hashtag|\\#|cafe}"
    assert (
        comment["message"]["text"] == COMMENT
        and row["url"] == f"https://www.linkedin.com/feed/update/{post['id']}/"
    )
