"""The Reddit connector against the contract server: the manifest's rules, validation at queue
time (title, lengths in code points, subreddit), the submit form, the cached token (kept until it
expires, replaced on a 401), every row of the error table, and the lookup in the user's submissions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from postmast.connectors import Absent, Content, Found, Undecidable
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.reddit import Reddit
from postmast.connectors.reddit.api import wait_in
from tests.conftest import FakeClock
from tests.connectors.reddit.support import SECRETS, account_settings, reddit
from tests.servers.base import Fault, Response
from tests.servers.reddit import LINKS_ONLY, PASSWORD, SELF_ONLY, SUBREDDIT, USERNAME, RedditServer, legacy

TITLE = {"title": "Harbour opens at nine"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[RedditServer]:
    running = RedditServer(clock=clock).start()
    yield running
    running.stop()


def post(text: str = "Doors open at 9.", **options: object) -> Content:
    return Content(text, options={**TITLE, **options})


# -- the manifest and validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (
            {"user_agent": "postmast/1.0"},
            "user_agent must be '<platform>:<app ID>:<version> (by /u/<username>)'",
        ),
        (
            {"user_agent": "linux:app:1.0 (by /u/someone_else)"},
            f"user_agent must end with (by /u/{USERNAME})",
        ),
        ({"subreddit": "r/harbour"}, "subreddit must be a subreddit's name"),
        ({"username": "u/harbour_news"}, "username must be a Reddit username"),
        ({"api_base": "http://reddit.example"}, "credentials would cross the network in clear text"),
    ],
)
def test_settings_are_checked(server: RedditServer, changed: dict[str, str], message: str) -> None:
    problems = Reddit.check_settings({**account_settings(server), **changed})
    assert [p.message for p in problems if message in p.message], problems


def test_good_settings_pass(server: RedditServer) -> None:
    assert Reddit.check_settings(account_settings(server)) == []
    assert Reddit.check_secrets(SECRETS) == []


def test_a_post_needs_a_title_and_a_subreddit(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    assert [p.message for p in connector.validate(Content("text"))] == [
        "a Reddit post needs a title: --option title=…"
    ]
    lonely = Reddit({k: v for k, v in account_settings(server).items() if k != "subreddit"}, clock=clock)
    assert [p.message for p in lonely.validate(post())] == [
        "no subreddit: --option subreddit=NAME, or set the account's subreddit"
    ]
    assert lonely.validate(post(subreddit="harbour")) == []


def test_lengths_count_code_points_as_reddit_does(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
    title = "x" * 295 + family  # 296 graphemes, 300 code points: allowed
    assert connector.validate(Content("t", options={"title": title})) == []
    over = [p.message for p in connector.validate(Content("t", options={"title": title + "!"}))]
    assert over == ["title is 301 characters, over Reddit's limit of 300"]
    assert connector.measure(Content("é" * 40_000)).ok
    too_long = [p.message for p in connector.validate(post("a" * 39_999 + family))]
    assert too_long == ["text is 40004 characters, over Reddit's limit of 40000"]


def test_a_title_only_post_and_a_link_post_need_no_text(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    assert connector.validate(post("")) == []
    assert connector.validate(post("", url="https://harbour.example/timetable")) == []
    assert [p.message for p in connector.validate(post("", url="harbour.example"))] == [
        "url must be an absolute http(s) URL"
    ]
    assert [p.message for p in connector.validate(post(flair_text="f" * 65))] == [
        "flair_text is over Reddit's limit of 64 characters"
    ]


def test_the_payload_is_the_submit_form(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    assert connector.payload(post(nsfw=True, flair_id="abc")) == {
        "api_type": "json",
        "kind": "self",
        "sr": SUBREDDIT,
        "title": TITLE["title"],
        "text": "Doors open at 9.",
        "flair_id": "abc",
        "nsfw": "true",
        "spoiler": "false",
        "resubmit": "false",
        "sendreplies": "true",
        "validate_on_submit": "true",
    }
    link = connector.payload(post("", url="https://harbour.example/", subreddit="elsewhere"))
    assert (link["kind"], link["url"], link["sr"], "text" in link) == (
        "link",
        "https://harbour.example/",
        "elsewhere",
        False,
    )


# -- publishing and the token ----------------------------------------------------------------------


def test_a_self_post_is_published_with_its_link(server: RedditServer, clock: FakeClock) -> None:
    result = reddit(server, clock).publish(post(spoiler=True), SECRETS, "key-1")
    [created] = server.created
    assert result.remote_id == created["name"] and result.remote_id.startswith("t3_")
    assert (
        result.url == f"https://www.reddit.com/r/{SUBREDDIT}/comments/{created['id']}/harbour_opens_at_nine/"
    )
    assert (created["selftext"], created["spoiler"], created["over_18"]) == ("Doors open at 9.", True, False)
    submit = server.posts()[0]
    assert submit.header("User-Agent") == account_settings(server)["user_agent"]
    assert (submit.header("Authorization") or "").startswith("bearer ")


def test_the_token_is_cached_until_it_expires(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    connector.publish(post("one"), SECRETS, "k1")
    connector.publish(post("two", url="https://harbour.example/a"), SECRETS, "k2")
    assert len(server.token_requests()) == 1 and "reddit_token" in connector.state
    assert PASSWORD not in str(connector.state)
    clock.advance(3600 - 30)  # within a minute of its expiry: replaced before use
    connector.publish(post("three"), SECRETS, "k3")
    assert len(server.token_requests()) == 2 and len(server.created) == 3


def test_a_refused_token_is_replaced_once(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    connector.publish(post("one"), SECRETS, "k1")
    server.revoke_tokens()
    connector.publish(post("two"), SECRETS, "k2")
    assert len(server.token_requests()) == 2 and len(server.created) == 2
    assert [r.path for r in server.requests].count("/api/submit") == 3  # the refused one posted nothing


def test_a_changed_password_is_auth_expired_without_secrets(server: RedditServer, clock: FakeClock) -> None:
    server.change_password()
    with pytest.raises(AuthExpired) as caught:
        reddit(server, clock).publish(post(), SECRETS, "k")
    assert "invalid_grant" in caught.value.message
    assert all(secret not in caught.value.message for secret in SECRETS.values())
    assert server.posts() == []


def test_wrong_client_credentials_are_auth_expired(server: RedditServer, clock: FakeClock) -> None:
    with pytest.raises(AuthExpired, match="401"):
        reddit(server, clock).publish(post(), {**SECRETS, "client_secret": "nope"}, "k")


def test_a_token_refused_twice_is_auth_expired(server: RedditServer, clock: FakeClock) -> None:
    unauthorized = Response(401, {"message": "Unauthorized", "error": 401})
    for _ in range(2):
        server.inject(Fault(match=lambda r: r.path == "/api/submit", response=unauthorized))
    with pytest.raises(AuthExpired, match="401"):
        reddit(server, clock).publish(post(), SECRETS, "k")
    assert server.created == [] and len(server.token_requests()) == 2


# -- the error table -------------------------------------------------------------------------------


def test_ratelimit_in_the_envelope_waits_what_it_says(server: RedditServer, clock: FakeClock) -> None:
    server.ratelimit_next(7)
    with pytest.raises(RateLimited) as caught:
        reddit(server, clock).publish(post(), SECRETS, "k")
    assert caught.value.retry_after == 420 and "RATELIMIT" in caught.value.message


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("you are doing that too much. try again in 5 minutes.", 300),
        ("you are doing that too much. try again in 37 seconds.", 37),
        ("you are doing that too much. try again in a minute.", 60),
        ("Take a break for 1 hour", 3600),
        ("slow down", 600),
    ],
)
def test_ratelimit_messages(message: str, seconds: float) -> None:
    assert wait_in(message) == seconds


def test_a_spent_window_is_rate_limited_until_its_reset(clock: FakeClock) -> None:
    server = RedditServer(clock=clock, window_size=1).start()
    try:
        connector = reddit(server, clock)
        connector.publish(post("one"), SECRETS, "k1")
        with pytest.raises(RateLimited) as caught:
            connector.publish(post("two"), SECRETS, "k2")
        assert caught.value.retry_after == 103 and caught.value.http_status == 429
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"subreddit": "nowhere_at_all"}, "SUBREDDIT_NOEXIST"),
        ({"subreddit": LINKS_ONLY}, "NO_SELFS"),
        ({"subreddit": SELF_ONLY, "url": "https://harbour.example/"}, "NO_LINKS"),
        ({"flair_id": "not-a-template"}, "BAD_FLAIR_TEMPLATE_ID"),
    ],
)
def test_refusals_in_the_envelope_are_permanent(
    server: RedditServer, clock: FakeClock, options: dict[str, str], code: str
) -> None:
    with pytest.raises(PermanentError, match=code):
        reddit(server, clock).publish(post(**options), SECRETS, "k")
    assert server.created == []


def test_a_link_already_submitted_is_refused_unless_resubmit(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    connector.publish(post(url="https://harbour.example/"), SECRETS, "k1")
    with pytest.raises(PermanentError, match=r"ALREADY_SUB.*resubmit=true"):
        connector.publish(post(url="https://harbour.example/"), SECRETS, "k2")
    connector.publish(post(url="https://harbour.example/", resubmit=True), SECRETS, "k3")
    assert len(server.created) == 2


def test_a_validation_answer_is_permanent_with_its_explanation(
    server: RedditServer, clock: FakeClock
) -> None:
    with pytest.raises(
        PermanentError, match='SUBMIT_VALIDATION_TITLE_BLACKLISTED_STRING You may not have "dfgfdgfdgdf"'
    ):
        reddit(server, clock).publish(Content("x", options={"title": "dfgfdgfdgdf"}), SECRETS, "k")


def test_a_user_required_answer_is_auth_expired(server: RedditServer, clock: FakeClock) -> None:
    server.inject(
        Fault(
            match=lambda r: r.path == "/api/submit",
            response=legacy("USER_REQUIRED", "Please log in to do that."),
        )
    )
    with pytest.raises(AuthExpired, match="USER_REQUIRED"):
        reddit(server, clock).publish(post(), SECRETS, "k")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_after_the_submit_is_an_unknown_outcome(
    server: RedditServer, clock: FakeClock, status: int
) -> None:
    server.inject(
        Fault(
            match=lambda r: r.path == "/api/submit",
            response=Response(status, raw=b"<html>oops</html>"),
            after_processing=True,
        )
    )
    with pytest.raises(OutcomeUnknown, match=str(status)):
        reddit(server, clock).publish(post(), SECRETS, "k")
    assert len(server.created) == 1


def test_a_slow_answer_is_an_unknown_outcome(server: RedditServer, clock: FakeClock) -> None:
    server.inject(Fault(match=lambda r: r.path == "/api/submit", delay=1.5))
    with pytest.raises(OutcomeUnknown, match="no answer"):
        reddit(server, clock, read_timeout=0.5).publish(post(), SECRETS, "k")


def test_an_answer_without_a_name_is_an_unknown_outcome(server: RedditServer, clock: FakeClock) -> None:
    answer = Response(
        200,
        {"json": {"errors": [], "data": {"user_submitted_page": "https://www.reddit.com/user/x/submitted/"}}},
    )
    server.inject(Fault(match=lambda r: r.path == "/api/submit", response=answer))
    with pytest.raises(OutcomeUnknown, match="without naming the post"):
        reddit(server, clock).publish(post(), SECRETS, "k")


# -- reconciliation --------------------------------------------------------------------------------


def test_the_lookup_finds_the_post_in_the_users_submissions(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    sent_at = clock()
    server.inject(
        Fault(match=lambda r: r.path == "/api/submit", response=Response(500), after_processing=True)
    )
    with pytest.raises(OutcomeUnknown):
        connector.publish(post(url="https://harbour.example/x"), SECRETS, "k")
    clock.advance(90)
    found = connector.lookup(
        post(url="https://harbour.example/x"), SECRETS, "k", sent_at=sent_at, replay_allowed=True
    )
    assert isinstance(found, Found)
    assert found.result.remote_id == server.created[0]["name"]
    assert found.result.url == f"https://www.reddit.com{server.created[0]['permalink']}"
    other = connector.lookup(
        post(url="https://harbour.example/y"), SECRETS, "k", sent_at=sent_at, replay_allowed=True
    )
    assert isinstance(other, Absent)
    read = server.requests[-1]
    assert read.path == f"/user/{USERNAME}/submitted" and read.query["sort"] == ["new"]


def test_an_older_post_with_the_same_title_is_not_this_delivery(
    server: RedditServer, clock: FakeClock
) -> None:
    connector = reddit(server, clock)
    connector.publish(post(), SECRETS, "yesterday")
    clock.advance(timedelta(days=1).total_seconds())
    assert isinstance(connector.lookup(post(), SECRETS, "k", sent_at=clock(), replay_allowed=True), Absent)


def test_a_listing_that_does_not_reach_back_is_undecidable(server: RedditServer, clock: FakeClock) -> None:
    connector = reddit(server, clock)
    sent_at = clock()
    for number in range(25):
        connector.publish(post(f"{number}", title=f"post {number}"), SECRETS, f"k{number}")
    looked = connector.lookup(post(), SECRETS, "k", sent_at=sent_at, replay_allowed=True)
    assert isinstance(looked, Undecidable) and "do not reach back" in looked.reason


def test_a_read_that_fails_is_transient(server: RedditServer, clock: FakeClock) -> None:
    server.inject(Fault(match=lambda r: "submitted" in r.path, response=Response(503)))
    with pytest.raises(TransientError):
        reddit(server, clock).lookup(post(), SECRETS, "k", sent_at=clock(), replay_allowed=True)


def test_discover_names_the_account(server: RedditServer, clock: FakeClock) -> None:
    assert reddit(server, clock).discover(SECRETS) == {"username": USERNAME}
