"""Known secrets through a whole scenario: they must reach the networks and nothing else.

A Mastodon token and a webhook signing secret go in through `postmast account add
--secrets-from-stdin`; real `postmast worker` and `postmast scheduler` processes with
DEBUG logging publish posts that succeed and posts that fail in the ways that carry
text back (a 401, a 422 and a 503 whose bodies echo the secret, a timeout). Then every
log line, the output of every command, every error recorded in the store, every column
of every table and the raw bytes of the SQLite files are searched for the secrets, in
plain, URL-encoded, base64, hex and JSON-escaped forms: none may be found. The servers'
request logs prove the secrets were used, so the search cannot pass for want of them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from postmast.scheduler.models import Account, Attempt, Base, Delivery
from postmast.scheduler.states import TERMINAL, Status
from postmast.scheduler.vault import MASK
from tests.conftest import CliResult
from tests.e2e.harness import all_rows, context, wait_for
from tests.servers.base import Fault, Request, Response
from tests.servers.mastodon import MastodonServer
from tests.servers.webhook import WebhookServer, verify

TOKEN = "tok/Sekr+et=Mastodon-7f3a9c1e"  # '/', '+' and '=' make every encoded form differ
SIGNING = "whsec_S24wd24rU2lnL25hdHVyZT1TZWNyZXQtNDI="
SECRETS = (TOKEN, SIGNING)


def forms(secret: str) -> set[str]:
    """The secret as it could be written down: plain, URL-encoded, base64, hex, JSON-escaped."""
    raw = secret.encode()
    found = {secret, quote(secret, safe=""), quote_plus(secret), raw.hex(), json.dumps(secret)[1:-1]}
    for shift in range(3):  # base64 of a longer text that holds the secret at any offset: its middle
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found.add(encode(b"." * shift + raw).decode()[4:-4])
    return found


def leaks(haystack: str | bytes) -> list[str]:
    """The forms of the known secrets found in `haystack`."""
    found = []
    for secret in SECRETS:
        for form in forms(secret):
            needle: str | bytes = form.encode() if isinstance(haystack, bytes) else form
            if needle in haystack:  # type: ignore[operator]
                found.append(form)
    return found


def body_has(text: str) -> Any:
    return lambda r: text.encode() in r.body


class Transcript:
    """Every command run, with its output, for the search."""

    def __init__(self, cli: Any, env: dict[str, str]) -> None:
        self.cli, self.env = cli, env
        self.runs: list[tuple[str, CliResult]] = []

    def __call__(self, *args: str, input: str | None = None, expect: int | None = 0) -> CliResult:
        result = self.cli(*args, input=input, env=self.env)
        self.runs.append((" ".join(args), result))
        if expect == 0:
            assert result.code == 0, (args, result)
        elif expect is not None:
            assert result.code != 0 and result.err.startswith("postmast: error: "), (args, result)
        return result


@pytest.fixture
def servers() -> Iterator[tuple[MastodonServer, WebhookServer]]:
    mastodon, webhook = MastodonServer({TOKEN: "alice"}), WebhookServer(secret=SIGNING)
    mastodon.start(), webhook.start()
    yield mastodon, webhook
    mastodon.stop(), webhook.stop()


def everything_in_the_store(env: dict[str, str]) -> Iterator[tuple[str, str | bytes]]:
    """Every value of every column of every table, read through SQLAlchemy."""
    store = context(env).store
    with store.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                for column, value in row.items():
                    if isinstance(value, bytes):
                        yield f"{table.name}.{column}", value
                    elif isinstance(value, dict | list):
                        yield f"{table.name}.{column}", json.dumps(value, ensure_ascii=False)
                    elif value is not None:
                        yield f"{table.name}.{column}", str(value)


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", ["embedded"], indirect=True)
def test_known_secrets_appear_nowhere(stack_env, procs, cli, servers, tmp_path: Path) -> None:
    mastodon, webhook = servers
    run = Transcript(cli, stack_env)

    # -- accounts, and commands that fail with the secrets in their input -------------------------------
    run("account", "add", "mastodon", "alice", "--set", f"instance={mastodon.url}", "--secrets-from-stdin",
        "--json", input=f"access_token={TOKEN}\n")  # fmt: skip
    run("account", "add", "webhook", "hook", "--set", f"url={webhook.url}/hook", "--secrets-from-stdin",
        input=f"# the signing key\nsigning_secret={SIGNING}\n")  # fmt: skip
    instance = f"instance={mastodon.url}"
    for args, stdin in [
        (["mastodon", "alice", "--set", instance], f"access_token={TOKEN}\n"),  # exists already
        (["mastodon", "bob", "--set", instance], f"access_token={TOKEN}\nno pair here"),
        (["webhook", "twice", "--set", "url=http://127.0.0.1:9/"], f"signing_secret={SIGNING}\n" * 2),
        (["mastodon", "tab", "--set", instance], f"access_token={TOKEN}\t\x01\n"),
    ]:
        run("account", "add", *args, "--secrets-from-stdin", input=stdin, expect=1)
    run("account", "add", "mastodon", "carol", "--set", f"instance={mastodon.url}", "--set",
        f"access_token={TOKEN}", expect=1)  # fmt: skip
    run("account", "list")
    run("account", "list", "--json")
    run("config", "--json")
    run("post", "dry run", "--to", "mastodon:alice", "--to", "webhook:hook", "--dry-run", "--json")

    # -- posts that succeed and posts that fail, the failures echoing the secrets -----------------------
    mastodon.inject(
        Fault(match=body_has("fail 422"), response=Response(422, {"error": f"Validation failed: {TOKEN}"}))
    )
    mastodon.inject(
        Fault(match=body_has("retry 503"), response=Response(503, {"error": f"busy, Bearer {TOKEN}"}))
    )
    mastodon.inject(Fault(match=body_has("slow answer"), delay=3.0))  # > POSTMAST_HTTP_TIMEOUT: unknown
    webhook.inject(
        Fault(match=body_has("hook 422"), response=Response(422, raw=f"bad key {SIGNING}".encode()))
    )
    webhook.inject(Fault(match=body_has("hook 503"), response=Response(503, {"error": f"down ({SIGNING})"})))
    for text, target in [
        ("all fine", "mastodon:alice"),
        ("all fine", "webhook:hook"),
        ("fail 422", "mastodon:alice"),
        ("retry 503", "mastodon:alice"),
        ("slow answer", "mastodon:alice"),
        ("hook 422", "webhook:hook"),
        ("hook 503", "webhook:hook"),
    ]:
        run("post", text, "--to", target, "--json")
    procs.start("scheduler", "scheduler", "--loglevel=DEBUG")
    procs.start("worker", "worker", "--concurrency=2", "--loglevel=DEBUG")
    ctx = context(stack_env)
    wait_for(
        lambda: all(r.status in TERMINAL for r in all_rows(ctx)) and len(all_rows(ctx)) == 7,
        60,
        "the seven deliveries to finish (the unknown one after reconciliation)",
        procs,
    )

    # -- a 401 echoing the token: the account waits for new credentials, then publishes -----------------
    mastodon.inject(
        Fault(match=body_has("auth 401"), response=Response(401, {"error": f"token {TOKEN} revoked"}))
    )
    auth = json.loads(run("post", "auth 401", "--to", "mastodon:alice", "--json").out)["deliveries"][0]["id"]
    wait_for(
        lambda: json.loads(run("account", "list", "--json").out)["accounts"][0]["status"] == "needs_reauth",
        30,
        "the account to be flagged",
        procs,
    )
    run("account", "update", "mastodon:alice", "--secrets-from-stdin", input=f"access_token={TOKEN}\n")
    run("reschedule", str(auth), "--at", "now")
    published = lambda: any(r.id == auth and r.status == Status.PUBLISHED for r in all_rows(ctx))  # noqa: E731
    wait_for(published, 30, "the re-authorised delivery to be published", procs)
    for service in procs.started:
        assert service.stop() == 0, service.log()[-3000:]

    # -- what people read afterwards --------------------------------------------------------------------
    for args in (["queue", "--json"], ["queue", "--status", "failed"], ["report"], ["report", "--json"],
                 ["report", "--csv"], ["account", "list", "--json"]):  # fmt: skip
        run(*args)
    failed = [r.id for r in all_rows(ctx) if r.status == Status.FAILED]
    run("cancel", str(failed[0]), expect=1)
    run("reschedule", str(failed[0]), "--at", "in 1h", expect=1)

    # -- the secrets were used: the right bearer token, valid signatures --------------------------------
    seen = [*mastodon.requests, *getattr(mastodon, "discovery_requests", [])]
    assert seen and all(
        r.header("Authorization") == f"Bearer {TOKEN}" for r in seen if r.path != "/api/v2/instance"
    )
    assert {c["token"] for c in mastodon.created} == {TOKEN} and len(mastodon.created) >= 4
    assert webhook.created, "no webhook request passed the signature check"
    signed = [r for r in webhook.requests if b'"all fine"' in r.body or b'"hook 503"' in r.body]
    assert signed and all(signature_ok(r) for r in signed)

    # -- the failures did bring the secrets back, and they were masked ----------------------------------
    with ctx.store.read() as session:
        messages = list(session.scalars(select(Attempt.message).where(Attempt.message.is_not(None))))
        errors = list(session.scalars(select(Delivery.last_error).where(Delivery.last_error.is_not(None))))
        classes = set(session.scalars(select(Attempt.error_class)))
        reasons = list(session.scalars(select(Account.status_reason)))
    assert {"AuthExpired", "PermanentError", "TransientError"} <= classes, classes
    # the slow answer: OutcomeUnknown, or InternalError when Celery's soft time limit (task limit - 5 s,
    # at least 1 s) fires before the HTTP read timeout, as it does with the harness's short timings
    assert {"OutcomeUnknown", "InternalError"} & classes, classes
    assert sum(MASK in m for m in messages) >= 5, messages  # 422, 503, 401 on Mastodon; 422, 503 on the hook
    assert errors and reasons

    # -- and no form of them is anywhere ----------------------------------------------------------------
    haystacks: list[tuple[str, str | bytes]] = []
    haystacks += [(f"postmast {args}: stdout", r.out) for args, r in run.runs]
    haystacks += [(f"postmast {args}: stderr", r.err) for args, r in run.runs]
    haystacks += [(f"{s.name} log", s.log()) for s in procs.started]
    for name, values in (("attempts.message", messages), ("last_error", errors), ("status_reason", reasons)):
        haystacks.append((name, "\n".join(map(str, values))))
    haystacks += list(everything_in_the_store(stack_env))
    data_dir = Path(stack_env["POSTMAST_DATA_DIR"])
    files = sorted(data_dir.glob("*.db*"))
    assert {"postmast.db", "broker.db"} <= {f.name for f in files}
    haystacks += [(f"file {f.name}", f.read_bytes()) for f in files]
    assert sum(len(h) for _, h in haystacks) > 10_000  # the search had material
    assert all(
        leaks(f"x{quote_plus(s)}y") and leaks(base64.b64encode(b"Bearer " + s.encode())) for s in SECRETS
    )
    found = {name: leaks(haystack) for name, haystack in haystacks if leaks(haystack)}
    assert not found, f"known secrets found in: {found}"


def signature_ok(request: Request) -> bool:
    """Standard Webhooks headers the receiver accepts (checked at the time the request was signed)."""
    sent = datetime.fromtimestamp(int(request.header("webhook-timestamp") or 0), UTC)
    return verify(SIGNING, request, sent) is None


# -- regressions the search found ------------------------------------------------------------------


def test_refused_credentials_are_not_echoed(cli, servers) -> None:
    """A network that echoes the token in its 401 must not have it printed by `account add`."""
    mastodon, _ = servers
    echo = Response(401, {"error": f"The access token {TOKEN} was revoked"})
    mastodon.inject(Fault(match=lambda r: r.path.endswith("/verify_credentials"), response=echo))
    result = cli("account", "add", "mastodon", "alice", "--set", f"instance={mastodon.url}",
                 "--secrets-from-stdin", input=f"access_token={TOKEN}\n")  # fmt: skip
    assert result.code == 1 and "refused the credentials" in result.err, result
    assert not leaks(result.out + result.err), result.err


@pytest.mark.parametrize("pasted", [TOKEN, "Zm9vYmFyLXNlY3JldC10b2tlbg=="])
def test_a_token_pasted_without_its_name_is_not_echoed(cli, pasted: str) -> None:
    """`printf '%s\\n' "$TOKEN" | postmast account add ... --secrets-from-stdin`, forgetting `access_token=`:
    a token with '=' in it (base64 padding) splits into a 'name' and a 'value', and the name is printed."""
    result = cli("account", "add", "mastodon", "alice", "--set", "instance=http://127.0.0.1:9",
                 "--secrets-from-stdin", input=f"{pasted}\n")  # fmt: skip
    assert result.code == 1 and result.err.startswith("postmast: error: "), result
    assert pasted.split("=")[0] not in result.err, result.err
