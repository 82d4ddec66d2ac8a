"""What a chaos run found: the figures, the checks, and the verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.chaos_server import ChaosMastodon
from postmast.scheduler.states import TERMINAL


@dataclass
class ChaosResult:
    deliveries: int
    accounts: int
    elapsed: float
    states: dict[str, int]
    duplicates_seen_by_servers: int
    lost: int
    requests_in_rate_limit_windows: int
    report_published: int
    servers_statuses: int
    report_mismatches: int
    failed_or_missed_but_on_server: int
    kills: dict[str, int]
    redis_restarts: int
    duplicate_messages_sent: int
    faults_injected: dict[str, int]

    @property
    def ok(self) -> bool:
        return (
            self.duplicates_seen_by_servers == 0
            and self.lost == 0
            and self.requests_in_rate_limit_windows == 0
            and self.report_published == self.servers_statuses
            and self.report_mismatches == 0
            and self.failed_or_missed_but_on_server == 0
        )

    def render(self) -> str:
        s = self.states
        counts = "   ".join(
            f"{name} {s.get(name, 0)}" for name in ("published", "failed", "unknown", "missed")
        )
        checks = [
            ("duplicates seen by the servers", self.duplicates_seen_by_servers),
            ("deliveries lost (not terminal, not explained)", self.lost),
            ("requests sent inside a rate-limit window", self.requests_in_rate_limit_windows),
            ("report rows disagreeing with the servers", self.report_mismatches),
            ("failed or missed, yet on a server", self.failed_or_missed_but_on_server),
        ]
        lines = [
            f"chaos run: {self.deliveries} deliveries, {self.accounts} accounts, {self.elapsed:.0f} s",
            f"  SIGKILL + restart: {dict(self.kills)}; Redis restarts: {self.redis_restarts}; "
            f"duplicate broker messages sent: {self.duplicate_messages_sent}",
            f"  faults injected by the servers: {dict(self.faults_injected)}",
            f"  {counts}",
            *(f"  {label:<48} {value}  (must be 0)" for label, value in checks),
            f"  published by report --json: {self.report_published}; statuses on the servers: "
            f"{self.servers_statuses}  (must be equal)",
            f"  verdict: {'OK' if self.ok else 'FAILED'}",
        ]
        return "\n".join(lines)


def judge(
    deliveries: int,
    accounts: int,
    report: dict[str, Any],
    server: ChaosMastodon,
    elapsed: float,
    kills: Counter[str],
    redis_restarts: int,
    duplicates_sent: int,
    tokens: dict[str, str],
) -> ChaosResult:
    rows = report["deliveries"]
    states = Counter(r["status"] for r in rows)
    per_text = server.statuses_per_text()
    duplicates = sum(n - 1 for n in per_text.values() if n > 1)
    account_token = {f"mastodon:chaos{n}": token for n, token in enumerate(tokens)}
    with server.lock:
        by_id = {s["id"]: s for s in server.statuses.values()}
    mismatches = 0
    wrong = 0
    for row in rows:
        on_server = per_text.get((account_token[row["target"]], row["text"]), 0)
        if row["status"] == "published":
            status = by_id.get(row["remote_id"])
            if status is None or status.get("text") != row["text"] or on_server != 1:
                mismatches += 1
        elif row["status"] in ("failed", "missed") and on_server:
            wrong += 1
    lost = sum(
        1
        for r in rows
        if r["status"] not in {s.value for s in TERMINAL} and not (r["status"] == "unknown" and r["error"])
    )
    return ChaosResult(
        deliveries=deliveries,
        accounts=accounts,
        elapsed=elapsed,
        states=dict(states),
        duplicates_seen_by_servers=duplicates,
        lost=lost,
        requests_in_rate_limit_windows=len(server.violations),
        report_published=states.get("published", 0),
        servers_statuses=len(per_text),
        report_mismatches=mismatches,
        failed_or_missed_but_on_server=wrong,
        kills=dict(kills),
        redis_restarts=redis_restarts,
        duplicate_messages_sent=duplicates_sent,
        faults_injected=dict(server.injected),
    )
