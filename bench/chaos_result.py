"""What a chaos run found: the figures, the checks, and the verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from postmast.scheduler.states import TERMINAL

TRUE_BY_NATURE = {"Unverifiable", "StoreUnavailable"}
"""Unknown outcomes whose reason is what happened by construction: a lookup the network could not
answer, a claim undone because the store was away before anything was sent."""


class Server(Protocol):
    withheld: set[str]
    violations: list[dict[str, object]]
    injected: Counter[str]

    def posts_per_text(self) -> Counter[tuple[str, str]]: ...

    def remote(self, remote_id: str) -> tuple[str, str] | None: ...


@dataclass
class Books:
    """Everything the judge reads: the report, the unknown attempts, the servers' own books."""

    report: dict[str, Any]
    unknown_attempts: list[dict[str, Any]]
    servers: dict[str, Server]
    """By network."""
    identities: dict[str, str]
    """Each account's identity at its server (a token, a path)."""
    killed_pids: set[int]
    leftover_outbox: int = 0


@dataclass
class Figures:
    deliveries: int
    accounts: int
    elapsed: float
    kills: dict[str, int]
    redis_blips: int
    postgres_restarts: int
    in_flight_at_outages: dict[str, int]
    duplicate_messages_sent: int


@dataclass
class ChaosResult:
    figures: Figures
    states: dict[str, int]
    duplicates_seen_by_servers: int
    lost: int
    requests_in_rate_limit_windows: int
    report_published: int
    report_unknown_on_servers: int
    servers_posts: int
    report_mismatches: int
    failed_or_missed_but_on_server: int
    unknown_without_true_reason: int
    accepted_answered_yet_unknown: int
    unknown_reasons: dict[str, int]
    faults_injected: dict[str, int]
    leftover_outbox: int
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.duplicates_seen_by_servers == 0
            and self.lost == 0
            and self.requests_in_rate_limit_windows == 0
            and self.report_published + self.report_unknown_on_servers == self.servers_posts
            and self.report_mismatches == 0
            and self.failed_or_missed_but_on_server == 0
            and self.unknown_without_true_reason == 0
            and self.accepted_answered_yet_unknown == 0
            and self.leftover_outbox == 0
        )

    def render(self) -> str:
        f, s = self.figures, self.states
        counts = "   ".join(
            f"{name} {s.get(name, 0)}" for name in ("published", "failed", "unknown", "missed")
        )
        checks = [
            ("duplicates seen by the servers", self.duplicates_seen_by_servers),
            ("deliveries lost (not terminal, not explained)", self.lost),
            ("requests sent inside a rate-limit window", self.requests_in_rate_limit_windows),
            ("report rows disagreeing with the servers", self.report_mismatches),
            ("failed or missed, yet on a server", self.failed_or_missed_but_on_server),
            ("unknown attempts without a true reason", self.unknown_without_true_reason),
            ("accepted and answered, yet reported unknown", self.accepted_answered_yet_unknown),
            ("outcomes left in the outbox", self.leftover_outbox),
        ]
        lines = [
            f"chaos run: {f.deliveries} deliveries, {f.accounts} accounts, {f.elapsed:.0f} s",
            f"  SIGKILL + restart: {dict(f.kills)}; "
            f"duplicate broker messages sent: {f.duplicate_messages_sent}",
            f"  Redis away 2 s: {f.redis_blips}; PostgreSQL restarts (-m immediate): {f.postgres_restarts}; "
            f"posts in flight when each began: {f.in_flight_at_outages}",
            f"  faults injected by the servers: {dict(self.faults_injected)}",
            f"  {counts}",
            f"  unknown attempts by reason: {self.unknown_reasons}",
            *(f"  {label:<48} {value}  (must be 0)" for label, value in checks),
            f"  published by report --json: {self.report_published}; unknown there and on a server: "
            f"{self.report_unknown_on_servers}; posts on the servers: {self.servers_posts}  (must add up)",
            *(f"  e.g. {example}" for example in self.examples[:5]),
            f"  verdict: {'OK' if self.ok else 'FAILED'}",
        ]
        return "\n".join(lines)


def _true_reason(attempt: dict[str, Any], books: Books, withheld: set[str]) -> bool:
    """Whether an attempt that ended `unknown` says what really happened."""
    kind = attempt["error_class"]
    if kind == "WorkerLost":  # "the worker stopped answering": only if it was killed
        worker = str(attempt.get("worker") or "")
        pid = worker.rpartition(":")[2]
        return pid.isdecimal() and int(pid) in books.killed_pids
    if kind == "OutcomeUnknown":  # "may have received it": only if the server gave no definitive answer
        return attempt["idempotency_key"] in withheld
    return kind in TRUE_BY_NATURE


def judge(books: Books, figures: Figures) -> ChaosResult:
    rows = books.report["deliveries"]
    states = Counter(r["status"] for r in rows)
    per_text: dict[str, Counter[tuple[str, str]]] = {
        network: server.posts_per_text() for network, server in books.servers.items()
    }
    withheld = set().union(*(server.withheld for server in books.servers.values()))
    duplicates = sum(n - 1 for books_ in per_text.values() for n in books_.values() if n > 1)
    examples: list[str] = []

    false_unknown: dict[int, list[dict[str, Any]]] = {}
    reasons: Counter[str] = Counter()
    for attempt in books.unknown_attempts:
        reasons[str(attempt["error_class"])] += 1
        if not _true_reason(attempt, books, withheld):
            false_unknown.setdefault(attempt["delivery_id"], []).append(attempt)
            examples.append(
                f"delivery {attempt['delivery_id']}: {attempt['kind']} attempt unknown "
                f"({attempt['error_class']}: {str(attempt.get('message') or '')[:80]}) "
                f"on {attempt.get('worker')}"
            )

    mismatches = wrong = unknown_on_server = answered_unknown = 0
    for row in rows:
        network = row["target"].split(":", 1)[0]
        who = books.identities[row["target"]]
        on_server = per_text[network].get((who, row["text"]), 0)
        if row["status"] == "published":
            if books.servers[network].remote(row["remote_id"]) != (who, row["text"]) or on_server != 1:
                mismatches += 1
                examples.append(f"delivery {row['id']}: published in the report, not so on the server")
        elif row["status"] in ("failed", "missed") and on_server:
            wrong += 1
            examples.append(f"delivery {row['id']}: {row['status']} in the report, yet on the server")
        elif row["status"] == "unknown" and on_server:
            unknown_on_server += 1
            if row["id"] in false_unknown:
                answered_unknown += 1
    lost = sum(
        1
        for r in rows
        if r["status"] not in {s.value for s in TERMINAL} and not (r["status"] == "unknown" and r["error"])
    )
    injected: Counter[str] = Counter()
    for server in books.servers.values():
        injected.update(server.injected)
    return ChaosResult(
        figures=figures,
        states=dict(states),
        duplicates_seen_by_servers=duplicates,
        lost=lost,
        requests_in_rate_limit_windows=sum(len(server.violations) for server in books.servers.values()),
        report_published=states.get("published", 0),
        report_unknown_on_servers=unknown_on_server,
        servers_posts=sum(len(books_) for books_ in per_text.values()),
        report_mismatches=mismatches,
        failed_or_missed_but_on_server=wrong,
        unknown_without_true_reason=sum(len(found) for found in false_unknown.values()),
        accepted_answered_yet_unknown=answered_unknown,
        unknown_reasons=dict(reasons),
        faults_injected=dict(injected),
        leftover_outbox=books.leftover_outbox,
        examples=examples,
    )
