"""Publishing one delivery: claim, call the connector, record the attempt, move on.

Claim is `queued -> publishing` by compare-and-set with a fresh claim token and a
lease; only the winner calls the network, so a duplicated broker message is a no-op.
Finishing is guarded by the same token. If the reaper declared the attempt
`unknown` meanwhile (lease expired) and the network did answer with a post, the
worker settles it as published: it knows.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from connectors import Connector, ConnectorError, Content, PublishResult, get_connector
from connectors.http import HttpClient
from scheduler.config import Settings
from scheduler.errors import ConfigError
from scheduler.models import Account, AccountStatus, Attempt, Delivery, Post
from scheduler.states import Status, transition
from scheduler.store import Store
from scheduler.vault import Vault, redact
from workers.retry import Decision, RetryPolicy

log = logging.getLogger("postmast.worker")

ConnectorFactory = Callable[[str], type[Connector]]


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    token: str
    attempt: int
    attempt_id: int
    account: Account
    post: Post
    idempotency_key: str


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Publisher:
    def __init__(
        self,
        store: Store,
        vault: Vault,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        connectors: ConnectorFactory = get_connector,
    ) -> None:
        self.store = store
        self.vault = vault
        self.timings = settings.timings
        self.policy = policy or RetryPolicy(
            base=settings.timings.retry_base,
            cap=settings.timings.retry_cap,
            max_attempts=settings.max_attempts,
        )
        self.connectors = connectors

    # -- the whole path ---------------------------------------------------------------------------

    def publish(self, delivery_id: int) -> str:
        """Publish delivery `delivery_id` if it is still queued; returns what happened, for logs."""
        claim = self._claim(delivery_id)
        if isinstance(claim, str):
            return claim
        started = time.monotonic()
        try:
            credentials = self.vault.decrypt(claim.account.secrets)
        except ConfigError as exc:
            self._finish(claim, Decision(Status.FAILED), error_class="SecretsUnreadable", message=str(exc))
            return "failed"
        connector = self.connectors(claim.account.network)(
            claim.account.settings,
            HttpClient(
                connect_timeout=self.timings.connect_timeout,
                read_timeout=self.timings.http_timeout,
                deadline=started + self.timings.task_time_limit - 1.0,
            ),
        )
        options = claim.post.content.get("options", {}) if claim.post.content else {}
        content = Content(text=claim.post.text, options=options)
        try:
            result = connector.publish(content, credentials, claim.idempotency_key)
        except ConnectorError as exc:
            return self._failed(claim, exc, redact(exc.message, credentials))
        except Exception as exc:  # a connector bug after the request may have gone out
            log.exception("delivery %s: connector %s raised", delivery_id, claim.account.network)
            message = redact(
                f"internal error in the {claim.account.network} connector: {type(exc).__name__}", credentials
            )
            self._finish(claim, Decision(Status.UNKNOWN), error_class="InternalError", message=message)
            return "unknown"
        return self._published(claim, result)

    # -- steps ------------------------------------------------------------------------------------

    def _claim(self, delivery_id: int) -> Claim | str:
        now = self.store.now()
        token = str(uuid.uuid4())
        with self.store.write() as session:
            row = session.execute(
                select(Delivery, Account, Post)
                .join(Account, Account.id == Delivery.account_id)
                .join(Post, Post.id == Delivery.post_id)
                .where(Delivery.id == delivery_id)
            ).one_or_none()
            if row is None:
                log.warning("delivery %s does not exist; message dropped", delivery_id)
                return "missing"
            delivery, account, post = row
            if delivery.status != Status.QUEUED:
                log.info(
                    "delivery %s is %s, not queued: duplicate message, nothing to do",
                    delivery_id,
                    delivery.status,
                )
                return f"skipped ({delivery.status})"
            if now > delivery.deadline_at:
                late = (now - delivery.due_at).total_seconds()
                won = transition(
                    session,
                    delivery_id,
                    Status.QUEUED,
                    Status.MISSED,
                    now=now,
                    last_error=f"picked up {late:.0f}s after its due time, beyond the allowed "
                    f"lateness of {post.max_lateness}s",
                    last_error_class="Missed",
                )
                return "missed" if won else "skipped (raced)"
            won = transition(
                session,
                delivery_id,
                Status.QUEUED,
                Status.PUBLISHING,
                now=now,
                claim_token=token,
                lease_until=now + timedelta(seconds=self.timings.lease),
                attempt_count=Delivery.attempt_count + 1,
            )
            if not won:
                log.info("delivery %s was claimed by another copy of its message: nothing to do", delivery_id)
                return "skipped (raced)"
            number = session.scalar(select(Delivery.attempt_count).where(Delivery.id == delivery_id)) or 1
            attempt = Attempt(delivery_id=delivery_id, number=number, started_at=now, worker=worker_name())
            session.add(attempt)
            session.flush()
            claim = Claim(delivery_id, token, number, attempt.id, account, post, delivery.idempotency_key)
            if account.status != AccountStatus.ACTIVE:
                # Flagged after this delivery was queued: do not send, wait for the fix.
                self._finish_in(
                    session,
                    claim,
                    Decision(Status.RETRY_WAIT, self.policy.reauth_wait),
                    error_class="AuthExpired",
                    message=f"not sent: account is {account.status}",
                    now=now,
                )
                return "waiting (account)"
        return claim

    def _published(self, claim: Claim, result: PublishResult) -> str:
        now = self.store.now()
        values: dict[str, Any] = dict(
            remote_id=result.remote_id,
            public_url=result.url,
            published_at=now,
            last_error=None,
            last_error_class=None,
        )
        with self.store.write() as session:
            self._record(
                session,
                claim,
                now,
                Status.PUBLISHED,
                http_status=result.http_status,
                remote_id=result.remote_id,
            )
            won = transition(
                session,
                claim.delivery_id,
                Status.PUBLISHING,
                Status.PUBLISHED,
                now=now,
                expected_token=claim.token,
                **values,
            )
            if not won:
                # The lease ran out and the reaper said `unknown`: we know better now.
                won = transition(
                    session, claim.delivery_id, Status.UNKNOWN, Status.PUBLISHED, now=now, **values
                )
        log.info(
            "delivery %s published to %s:%s as %s",
            claim.delivery_id,
            claim.account.network,
            claim.account.name,
            result.url or result.remote_id,
        )
        return "published" if won else "published (state moved on)"

    def _failed(self, claim: Claim, error: ConnectorError, message: str) -> str:
        with self.store.read() as session:
            same_kind = (
                session.scalar(
                    select(func.count())
                    .select_from(Attempt)
                    .where(Attempt.delivery_id == claim.delivery_id, Attempt.error_class == error.kind)
                )
                or 0
            )
        decision = self.policy.decide(error, same_kind + 1)
        if decision.reason:
            message = f"{message} ({decision.reason})"
        self._finish(claim, decision, error_class=error.kind, message=message, http_status=error.http_status)
        if decision.flag_account:
            self._flag_account(claim.account.id, message)
        log.warning(
            "delivery %s to %s:%s: %s -> %s",
            claim.delivery_id,
            claim.account.network,
            claim.account.name,
            message,
            decision.status,
        )
        return str(decision.status)

    def _finish(
        self,
        claim: Claim,
        decision: Decision,
        *,
        error_class: str,
        message: str,
        http_status: int | None = None,
    ) -> None:
        now = self.store.now()
        with self.store.write() as session:
            self._finish_in(
                session,
                claim,
                decision,
                error_class=error_class,
                message=message,
                now=now,
                http_status=http_status,
            )

    def _finish_in(
        self,
        session: Session,
        claim: Claim,
        decision: Decision,
        *,
        error_class: str,
        message: str,
        now: datetime,
        http_status: int | None = None,
    ) -> None:
        self._record(
            session,
            claim,
            now,
            decision.status,
            http_status=http_status,
            error_class=error_class,
            message=message,
        )
        values: dict[str, Any] = {"last_error": message, "last_error_class": error_class}
        if decision.status == Status.RETRY_WAIT:
            values["next_attempt_at"] = now + timedelta(seconds=decision.delay)
        transition(
            session,
            claim.delivery_id,
            Status.PUBLISHING,
            decision.status,
            now=now,
            expected_token=claim.token,
            **values,
        )

    @staticmethod
    def _record(
        session: Session,
        claim: Claim,
        now: datetime,
        outcome: Status,
        *,
        http_status: int | None = None,
        error_class: str | None = None,
        message: str | None = None,
        remote_id: str | None = None,
    ) -> None:
        """Complete this attempt's row, once (`finished_at IS NULL` guards it)."""
        session.execute(
            update(Attempt)
            .where(Attempt.id == claim.attempt_id, Attempt.finished_at.is_(None))
            .values(
                finished_at=now,
                outcome=outcome.value,
                http_status=http_status,
                error_class=error_class,
                message=message,
                remote_id=remote_id,
            )
        )

    def _flag_account(self, account_id: int, reason: str) -> None:
        now = self.store.now()
        with self.store.write() as session:
            result = session.execute(
                update(Account)
                .where(Account.id == account_id, Account.status == AccountStatus.ACTIVE)
                .values(status=AccountStatus.NEEDS_REAUTH, status_reason=reason, updated_at=now)
            )
            flipped = cast(CursorResult[Any], result).rowcount
        if flipped:
            log.error(
                "account %s needs re-authorisation: %s (its deliveries wait; fix with: "
                "postmast account update)",
                account_id,
                reason,
            )
