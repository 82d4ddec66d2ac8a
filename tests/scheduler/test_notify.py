"""Notifications: one per incident, signed (Standard Webhooks, checked with its reference library),
retried with backoff, e-mailed through a local SMTP server."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from postmast.scheduler.errors import ConfigError
from postmast.scheduler.models import Account, AccountStatus, Incident, Notification
from postmast.scheduler.notify import SCHEDULE, Channels, Notifier, new_secret, sign
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account, add_delivery

TOLERANCE = 300


@dataclass
class Receiver:
    """A webhook receiver that checks each request as the spec says a consumer should."""

    secret: str
    clock: Any
    fail_first: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def check(self, headers: dict[str, str], body: bytes) -> int:
        message_id, stamp, signature = (
            headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
        )
        if not (message_id and stamp and signature):
            return 400
        # the reference library's own signing, not ours; the timestamp is checked against the test's clock
        when = datetime.fromtimestamp(int(stamp), tz=UTC)
        expected = Webhook(self.secret).sign(msg_id=message_id, timestamp=when, data=body.decode())
        if expected not in signature.split(" "):
            return 401
        if abs((self.clock.now - when).total_seconds()) > TOLERANCE:
            return 401  # a replay
        self.seen.append({"id": message_id, "timestamp": int(stamp), "body": json.loads(body)})
        if self.fail_first > 0:
            self.fail_first -= 1
            return 503
        return 204


@pytest.fixture
def receiver(clock) -> Iterator[Receiver]:
    found = Receiver(new_secret(), clock)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            self.send_response(found.check({k.lower(): v for k, v in self.headers.items()}, body))
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield found
    server.shutdown()


def test_signature_is_the_reference_librarys() -> None:
    secret = new_secret()
    when = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    body = b'{"type":"postmast.incident.failed","data":{"x":"\xc3\xa9"}}'
    ours = sign(secret, "msg_1", int(when.timestamp()), body)
    assert ours == Webhook(secret).sign(msg_id="msg_1", timestamp=when, data=body.decode())
    assert ours.startswith("v1,") and len(base64.b64decode(ours[3:])) == 32
    # the timestamp is signed: a replay with a fresh timestamp does not verify
    assert sign(secret, "msg_1", int(when.timestamp()) + 600, body) != ours


def test_one_notification_per_incident_signed_and_retried(
    store: Store, vault: Vault, clock, receiver: Receiver
) -> None:
    account = add_account(store, vault, "webhook", "team")
    for _ in range(3):
        add_delivery(
            store, account, status=Status.FAILED, last_error_class="PermanentError", last_error="422 nope"
        )
    receiver.fail_first = 1
    notifier = Notifier(store, Channels(receiver.url, receiver.secret))
    assert notifier.run_once() == 0  # the receiver answered 503
    [note] = notes(store)
    assert (note.tries, note.state, note.next_try_at) == (
        1,
        "pending",
        clock.now + timedelta(seconds=SCHEDULE[0]),
    )
    assert note.last_error == "RuntimeError: the webhook answered 503"
    assert notifier.run_once() == 0 and len(receiver.seen) == 1  # not due again yet
    clock.advance(SCHEDULE[0])
    assert notifier.run_once() == 1
    first, second = receiver.seen
    assert first["id"] == second["id"] and second["timestamp"] == first["timestamp"] + SCHEDULE[0]
    data = second["body"]["data"]
    assert second["body"]["type"] == "postmast.incident.failed"
    assert (data["subject"], data["count"], data["kind"], data["example"]) == (
        "webhook:team",
        3,
        "failed",
        "422 nope",
    )
    assert data["fix"] == "postmast show ID" and len(data["deliveries"]) == 3

    # more failures of the same cause: the same incident, counted, and no new message
    clock.advance(60)
    add_delivery(store, account, status=Status.FAILED, last_error_class="PermanentError")
    assert notifier.run_once() == 0 and len(receiver.seen) == 2
    [incident] = incidents(store)
    assert (incident.count, incident.resolved_at) == (4, None)

    # quiet for an hour: resolved; the next failure is a new incident and a new message
    clock.advance(3601)
    notifier.run_once()
    assert incidents(store)[0].resolved_at == clock.now
    add_delivery(store, account, status=Status.FAILED, last_error_class="PermanentError")
    assert notifier.run_once() == 1 and len(receiver.seen) == 3
    assert receiver.seen[2]["id"] != first["id"]


def test_retries_stop_after_the_schedule(store: Store, vault: Vault, clock, receiver: Receiver) -> None:
    account = add_account(store, vault, "webhook", "team")
    add_delivery(store, account, status=Status.UNKNOWN, reconcile_at=None)
    receiver.fail_first = 100
    notifier = Notifier(store, Channels(receiver.url, receiver.secret))
    for delay in (0, *SCHEDULE):
        clock.advance(delay)
        notifier.run_once()
    [note] = notes(store)
    assert (note.state, note.tries) == ("gave_up", len(SCHEDULE) + 1)
    assert len(receiver.seen) == len(SCHEDULE) + 1
    assert receiver.seen[0]["body"]["data"]["kind"] == "unknown"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


def test_email_through_a_local_smtp_server(store: Store, vault: Vault, clock) -> None:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        account = add_account(store, vault, "webhook", "team")
        with store.write() as session:
            session.execute(
                update(Account)
                .where(Account.id == account)
                .values(status=AccountStatus.NEEDS_REAUTH, status_reason="HTTP 401: token revoked")
            )
        channels = Channels.from_env(
            {
                "POSTMAST_NOTIFY_SMTP_URL": f"smtp://127.0.0.1:{port}",
                "POSTMAST_NOTIFY_EMAIL_TO": "ops@example.org",
            }
        )
        assert Notifier(store, channels).run_once() == 1
        assert Notifier(store, channels).run_once() == 0  # one per incident
    finally:
        controller.stop()
    [raw] = inbox.messages
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert (
        message["Subject"].strip()
        == "[postmast] webhook:team needs re-authorisation: HTTP 401: token revoked"
    )
    assert message["To"] == "ops@example.org" and message["Message-ID"].endswith("@postmast>")
    assert "postmast account update webhook:team --secrets" in message.get_content()


def test_service_down_when_nothing_runs_and_deliveries_wait(store: Store, vault: Vault, clock) -> None:
    from postmast.scheduler.incidents import scan

    assert scan(store) == []
    account = add_account(store, vault, "webhook", "team")
    add_delivery(store, account, status=Status.SCHEDULED, due=clock.now - timedelta(minutes=5))
    assert sorted(p.key for p in scan(store)) == ["service_down:scheduler", "service_down:worker"]


def test_channel_settings_are_checked() -> None:
    assert Channels.from_env({}).names == []
    with pytest.raises(ConfigError, match="needs POSTMAST_NOTIFY_WEBHOOK_SECRET"):
        Channels.from_env({"POSTMAST_NOTIFY_WEBHOOK_URL": "https://example.org/h"})
    with pytest.raises(ConfigError, match="whsec_"):
        Channels.from_env(
            {"POSTMAST_NOTIFY_WEBHOOK_URL": "https://x/h", "POSTMAST_NOTIFY_WEBHOOK_SECRET": "whsec_!!"}
        )
    with pytest.raises(ConfigError, match="EMAIL_TO"):
        Channels.from_env({"POSTMAST_NOTIFY_SMTP_URL": "smtp://localhost"})
    both = Channels.from_env(
        {
            "POSTMAST_NOTIFY_WEBHOOK_URL": "https://example.org/h",
            "POSTMAST_NOTIFY_WEBHOOK_SECRET": new_secret(),
            "POSTMAST_NOTIFY_SMTP_URL": "smtps://u:p@mail.example.org",
            "POSTMAST_NOTIFY_EMAIL_TO": "a@example.org, b@example.org",
        }
    )
    assert both.names == ["webhook", "email"] and both.email_to == ("a@example.org", "b@example.org")
    assert "p@mail" not in repr(both) and "whsec_" not in repr(both)


def notes(store: Store) -> list[Notification]:
    with store.read() as session:
        found = list(session.scalars(select(Notification).order_by(Notification.id)))
        session.expunge_all()
        return found


def incidents(store: Store) -> list[Incident]:
    with store.read() as session:
        found = list(session.scalars(select(Incident).order_by(Incident.id)))
        session.expunge_all()
        return found
