"""Notifications about incidents: a signed outgoing webhook and, optionally, e-mail.

Webhooks follow Standard Webhooks (github.com/standard-webhooks/standard-webhooks,
spec/standard-webhooks.md): the body is minified JSON `{"type", "timestamp", "data"}`;
headers `webhook-id` (stable across retries: receivers drop copies by it),
`webhook-timestamp` (Unix seconds of this try: receivers reject old ones, which stops
replays) and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
keyed by the secret `whsec_<base64>`. A 2xx answer is success; anything else is tried
again on the spec's example schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
24 h), then given up. E-mail goes through SMTP (`smtp://`, `smtp+starttls://` or
`smtps://`), with the same retries. One message per incident and channel (`incidents`).

Settings (environment): POSTMAST_NOTIFY_WEBHOOK_URL, POSTMAST_NOTIFY_WEBHOOK_SECRET,
POSTMAST_NOTIFY_SMTP_URL, POSTMAST_NOTIFY_EMAIL_FROM, POSTMAST_NOTIFY_EMAIL_TO (commas).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import smtplib
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from sqlalchemy import or_, select, update

from postmast.scheduler.errors import ConfigError
from postmast.scheduler.incidents import record, scan
from postmast.scheduler.models import Incident, Notification
from postmast.scheduler.store import Store

log = logging.getLogger("postmast.notify")

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
"""Seconds before each further try (Standard Webhooks' example retry schedule)."""
CLAIM = timedelta(seconds=120)
TIMEOUT = 10.0


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            "POSTMAST_NOTIFY_WEBHOOK_SECRET must be whsec_ followed by base64 "
            "(postmast notify secret makes one)"
        ) from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one try."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Channels:
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    email_from: str | None = None
    email_to: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [n for n, on in (("webhook", self.webhook_url), ("email", self.smtp_url)) if on]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Channels:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get("POSTMAST_NOTIFY_" + name) or None

        url, secret, smtp = get("WEBHOOK_URL"), get("WEBHOOK_SECRET"), get("SMTP_URL")
        if url and not url.startswith(("https://", "http://")):
            raise ConfigError("POSTMAST_NOTIFY_WEBHOOK_URL must be an http(s) URL")
        if url and not secret:
            raise ConfigError(
                "POSTMAST_NOTIFY_WEBHOOK_URL needs POSTMAST_NOTIFY_WEBHOOK_SECRET (postmast notify secret)"
            )
        if secret:
            _key(secret)
        to = tuple(a.strip() for a in (get("EMAIL_TO") or "").split(",") if a.strip())
        if smtp:
            if not smtp.startswith(("smtp://", "smtps://", "smtp+starttls://")):
                raise ConfigError(
                    "POSTMAST_NOTIFY_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://"
                )
            if not to:
                raise ConfigError("POSTMAST_NOTIFY_SMTP_URL needs POSTMAST_NOTIFY_EMAIL_TO")
        return cls(url, secret, smtp, get("EMAIL_FROM") or "postmast@localhost", to)


def payload(incident: Incident) -> dict[str, Any]:
    return {
        "type": f"postmast.incident.{incident.kind}",
        "timestamp": incident.opened_at.isoformat(),
        "data": {
            "incident": incident.id,
            "kind": incident.kind,
            "subject": incident.subject,
            "summary": incident.summary,
            "count": incident.count,
            "opened_at": incident.opened_at.isoformat(),
            "fix": incident.detail.get("fix"),
            "deliveries": incident.detail.get("deliveries", []),
            "example": incident.detail.get("example"),
        },
    }


class Sender:
    """Sends what is due, each message claimed first so two schedulers never send it together."""

    def __init__(self, store: Store, channels: Channels, http: requests.Session | None = None) -> None:
        self.store = store
        self.channels = channels
        self.http = http or requests.Session()

    def webhook(self, note: Notification, incident: Incident) -> None:
        assert self.channels.webhook_url and self.channels.webhook_secret
        body = json.dumps(payload(incident), separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(self.store.now().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": note.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.channels.webhook_secret, note.message_id, timestamp, body),
            "user-agent": "postmast",
        }
        answer = self.http.post(self.channels.webhook_url, data=body, headers=headers, timeout=TIMEOUT)
        if not 200 <= answer.status_code < 300:
            raise RuntimeError(f"the webhook answered {answer.status_code}")

    def email(self, note: Notification, incident: Incident) -> None:
        assert self.channels.smtp_url
        url = urlsplit(self.channels.smtp_url)
        message = EmailMessage()
        message["Subject"] = f"[postmast] {incident.summary[:150]}"
        message["From"] = self.channels.email_from or "postmast@localhost"
        message["To"] = ", ".join(self.channels.email_to)
        message["Message-ID"] = f"<{note.message_id}@postmast>"
        data = payload(incident)["data"]
        message.set_content(
            f"{incident.summary}\n\nFix: {data['fix']}\n"
            f"Deliveries: {', '.join(map(str, data['deliveries']))}\n"
            f"Opened: {data['opened_at']}\n" + (f"Example: {data['example']}\n" if data["example"] else "")
        )
        port = url.port or (465 if url.scheme == "smtps" else 25)
        smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
        with smtp_class(url.hostname or "localhost", port, timeout=TIMEOUT) as client:
            if url.scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(message)

    def send_due(self) -> int:
        """Try every message that is due; the number accepted."""
        now = self.store.now()
        with self.store.write() as session:
            due = (
                session.execute(
                    select(Notification.id)
                    .where(
                        Notification.state == "pending",
                        Notification.next_try_at <= now,
                        or_(Notification.sending_until.is_(None), Notification.sending_until < now),
                    )
                    .limit(50)
                )
                .scalars()
                .all()
            )
            claimed = []
            for note_id in due:
                won = session.execute(
                    update(Notification)
                    .where(
                        Notification.id == note_id,
                        or_(Notification.sending_until.is_(None), Notification.sending_until < now),
                    )
                    .values(sending_until=now + CLAIM)
                ).rowcount  # type: ignore[attr-defined]
                if won:
                    claimed.append(note_id)
        sent = 0
        for note_id in claimed:
            with self.store.read() as session:
                note = session.get(Notification, note_id)
                incident = session.get(Incident, note.incident_id) if note else None
                if note is None or incident is None:
                    continue
                session.expunge_all()
            error = None
            try:
                getattr(self, note.channel)(note, incident)
            except Exception as exc:
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            sent += self._finish(note, error)
        return sent

    def _finish(self, note: Notification, error: str | None) -> int:
        now = self.store.now()
        values: dict[str, Any] = {"sending_until": None, "tries": note.tries + 1}
        if error is None:
            values.update(state="sent", sent_at=now, last_error=None)
        elif note.tries < len(SCHEDULE):
            values.update(last_error=error, next_try_at=now + timedelta(seconds=SCHEDULE[note.tries]))
            log.warning("notification %s (%s) failed, trying again later: %s", note.id, note.channel, error)
        else:
            values.update(state="gave_up", last_error=error)
            log.error(
                "notification %s (%s) given up after %d tries: %s",
                note.id,
                note.channel,
                values["tries"],
                error,
            )
        with self.store.write() as session:
            session.execute(update(Notification).where(Notification.id == note.id).values(**values))
        return 1 if error is None else 0


class Notifier:
    """Scans for incidents and sends what is due, every `every` seconds, in its own thread."""

    def __init__(self, store: Store, channels: Channels, *, every: float = 15.0) -> None:
        self.store = store
        self.channels = channels
        self.sender = Sender(store, channels)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postmast-notify", daemon=True)

    def run_once(self) -> int:
        record(self.store, scan(self.store), self.channels.names)
        return self.sender.send_due()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception:
                log.exception("notifications: scan or send failed; trying again in %gs", self.every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=TIMEOUT + 5)
