"""A fake network: postmast end to end with no account anywhere, scripted to fail on demand.

In the spirit of llm's mock model and dramatiq's stub broker, it is first-class code:
the demo, the benchmarks and the tests that are not about one network use it, and a
user can try every command with it (`postmast account add fake try --set outbox=...`).

What it "publishes" is appended to the account's `outbox`, a JSON Lines file (one
object per item: id, idempotency key, text, options, reply_to, media names), so any
process can see what arrived, exactly once or not. `script` decides the outcome of
successive publishes, to rehearse failures:

| step            | what happens                                              | error class     |
|-----------------|-----------------------------------------------------------|-----------------|
| `ok`            | the item is written to the outbox                         | success         |
| `transient`     | nothing written                                           | TransientError  |
| `permanent`     | nothing written                                           | PermanentError  |
| `auth`          | nothing written                                           | AuthExpired     |
| `ratelimit[:S]` | nothing written; try again in S seconds (default 60)      | RateLimited     |
| `unknown`       | written, but the answer is "lost"                         | OutcomeUnknown  |
| `lost`          | not written, and the answer is "lost"                     | OutcomeUnknown  |

The last step repeats; the position is kept in the account's session, so it carries
across worker processes. Reconciliation reads the outbox: an item whose idempotency key
is there is found, any other is confirmed absent.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from postmast.connectors.base import Connector
from postmast.connectors.content import (
    FIRST_COMMENT,
    Absent,
    Content,
    Field,
    Found,
    Lookup,
    Option,
    Problem,
    PublishResult,
)
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)

STEPS = ("ok", "transient", "permanent", "auth", "ratelimit", "unknown", "lost")
IMAGES = {"image/png": 5_000_000, "image/jpeg": 5_000_000, "image/gif": 5_000_000, "image/webp": 5_000_000}


def parse_script(script: str) -> list[tuple[str, float | None]]:
    """`ok,transient,ratelimit:30` -> [("ok", None), ("transient", None), ("ratelimit", 30.0)]."""
    steps: list[tuple[str, float | None]] = []
    for raw in script.split(","):
        name, _, seconds = raw.strip().partition(":")
        if name not in STEPS:
            raise ValueError(f"script step {name[:20]!r} is not one of {', '.join(STEPS)}")
        if seconds and (name != "ratelimit" or not seconds.replace(".", "", 1).isdecimal()):
            raise ValueError(f"script step {raw.strip()[:30]!r}: only ratelimit takes seconds (ratelimit:30)")
        steps.append((name, float(seconds) if seconds else None))
    return steps


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Every item the fake network received, in order."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


class Fake(Connector):
    name: ClassVar[str] = "fake"
    title: ClassVar[str] = "Fake network"
    max_length: ClassVar[int] = 500
    max_media: ClassVar[int] = 4
    media_limits: ClassVar[Mapping[str, int]] = IMAGES
    max_alt_text: ClassVar[int | None] = 1000
    threads: ClassVar[bool] = True
    options: ClassVar[tuple[Option, ...]] = (
        Option("tag", "a label the fake network stores with the post", max_length=50),
        Option("mood", "how the post feels", kind="choice", choices=("happy", "calm", "sad")),
        Option("pinned", "whether the post is pinned", kind="bool"),
        FIRST_COMMENT,
    )
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("outbox", "file the fake network appends each published item to (JSON Lines)"),
        Field(
            "script",
            f"outcomes of successive publishes, comma-separated ({', '.join(STEPS)}; "
            "ratelimit:SECONDS); the last repeats (default: ok)",
            required=False,
        ),
        Field("max_length", "text limit in characters (default 500)", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("token", "any text (the fake network accepts every token)", required=False, secret=True),
    )
    setup: ClassVar[str] = (
        "Nothing to set up: postmast account add fake NAME --set outbox=/tmp/fake-outbox.jsonl; "
        "add --set script=ok,transient,unknown to rehearse failures."
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        try:
            parse_script(settings.get("script") or "ok")
        except ValueError as exc:
            problems.append(Problem(str(exc)))
        return problems

    @property
    def outbox(self) -> Path:
        return Path(self.settings["outbox"]).expanduser()

    def payload(self, content: Content) -> dict[str, Any]:
        return {
            "text": content.text,
            "options": dict(content.options),
            "reply_to": content.reply_to.id if content.reply_to else None,
            "media": [{"name": m.filename, "alt": m.alt} for m in content.media],
        }

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        step, seconds = self._next_step()
        if step == "ok":
            return self._write(content, idempotency_key)
        if step == "unknown":
            self._write(content, idempotency_key)
            raise OutcomeUnknown("the fake network received it, but its answer was lost (script: unknown)")
        raise _error(step, seconds)

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: Any,
        replay_allowed: bool,
    ) -> Lookup:
        for item in read_outbox(self.outbox):
            if item["idempotency_key"] == idempotency_key:
                return Found(PublishResult(item["id"], item["url"]))
        return Absent("its idempotency key is not in the outbox")

    def _next_step(self) -> tuple[str, float | None]:
        steps = parse_script(self.settings.get("script") or "ok")
        position = min(int(self.state.get("calls", 0)), len(steps) - 1)
        if position < len(steps) - 1:  # the last step repeats: the session stops changing there
            self.state["calls"] = position + 1
        return steps[position]

    def _write(self, content: Content, idempotency_key: str) -> PublishResult:
        self.outbox.parent.mkdir(parents=True, exist_ok=True)
        with self.outbox.open("a+", encoding="utf-8") as outbox:
            fcntl.flock(outbox, fcntl.LOCK_EX)  # several workers may append at once
            outbox.seek(0)
            number = sum(1 for line in outbox if line.strip()) + 1
            url = f"fake://{self.outbox.stem}/{number}"
            item = {
                "id": str(number),
                "url": url,
                "idempotency_key": idempotency_key,
                **self.payload(content),
            }
            outbox.write(json.dumps(item, ensure_ascii=False) + "\n")
        return PublishResult(str(number), url, 200)


def _error(step: str, seconds: float | None) -> ConnectorError:
    because = f"(script: {step})"
    if step == "transient":
        return TransientError(f"the fake network is unavailable {because}", http_status=503)
    if step == "permanent":
        return PermanentError(f"the fake network refused the post {because}", http_status=422)
    if step == "auth":
        return AuthExpired(f"the fake network refused the token {because}", http_status=401)
    if step == "ratelimit":
        wait = 60.0 if seconds is None else seconds
        return RateLimited(f"the fake network says: too many posts {because}", retry_after=wait)
    return OutcomeUnknown(f"no answer from the fake network, and nothing arrived {because}")
