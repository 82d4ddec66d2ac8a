"""The third-party peers start and behave as their contracts say (smoke tests of the launcher)."""

from __future__ import annotations

import uuid

import requests


def test_bluesky_pds_creates_an_account_and_a_post(pds) -> None:
    handle = f"t{uuid.uuid4().hex[:8]}.test"
    created = requests.post(
        f"{pds.url}/xrpc/com.atproto.server.createAccount",
        timeout=10,
        json={"handle": handle, "email": f"{handle}@example.com", "password": "pw-pw-pw-pw"},
    )
    assert created.status_code == 200, created.text
    session = created.json()
    record = {"$type": "app.bsky.feed.post", "text": "hello", "createdAt": "2026-11-26T12:00:00.000Z"}
    posted = requests.post(
        f"{pds.url}/xrpc/com.atproto.repo.createRecord",
        timeout=10,
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
        json={"repo": session["did"], "collection": "app.bsky.feed.post", "record": record},
    )
    assert posted.status_code == 200 and posted.json()["uri"].startswith(f"at://{session['did']}/")


def test_mastodon_mock_replays_an_idempotency_key(mastodon_mock) -> None:
    headers = {"Authorization": "Bearer mock_token", "Idempotency-Key": str(uuid.uuid4())}
    first = requests.post(
        f"{mastodon_mock.url}/api/v1/statuses", headers=headers, json={"status": "hi"}, timeout=10
    )
    again = requests.post(
        f"{mastodon_mock.url}/api/v1/statuses", headers=headers, json={"status": "hi"}, timeout=10
    )
    assert first.status_code == 200 and first.json()["id"] == again.json()["id"]


def test_prism_rejects_a_request_outside_xs_spec(prism_x) -> None:
    headers = {"Authorization": "Bearer t"}
    good = requests.post(f"{prism_x.url}/2/tweets", headers=headers, json={"text": "hi"}, timeout=10)
    assert good.status_code == 201
    bad = requests.post(
        f"{prism_x.url}/2/tweets", headers=headers, json={"text": "hi", "nope": 1}, timeout=10
    )
    assert bad.status_code == 422 and "additionalProperties" in bad.headers["sl-violations"]
