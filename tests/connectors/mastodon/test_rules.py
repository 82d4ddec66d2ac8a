"""The Mastodon rules (connectors/mastodon/rules.py) as the connector applies them: the length rule
(Mastodon's `StatusLengthValidator` spec vectors, URLs, mentions, graphemes, the content warning),
the settings checks, the language and option checks, the default and cached instance limits, and
the error table (how an answer's status maps to an error).

Sources: NETWORKS.md §3 (the `StatusLengthValidator` spec vectors, the error table),
`connectors/mastodon/connector.py`'s docstring and `tests/servers/mastodon.py` (written from the official
documentation).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from postmast.connectors import Content, Measure, MediaFile, Problem
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from postmast.connectors.mastodon import Mastodon
from postmast.connectors.mastodon.length import countable_length
from postmast.connectors.mastodon.rules import LANGUAGES, Limits
from tests.connectors.mastodon.support import (
    CREDS,
    FAMILY,
    JPEG,
    KEY,
    MENTION_VECTOR,
    URL_VECTOR,
    connector,
    offline,
)
from tests.servers.base import Fault, Response
from tests.servers.mastodon import MastodonServer

# == the length rule ==================================================================================


def test_url_vector_is_exactly_at_the_limit() -> None:
    assert len(URL_VECTOR) > 500  # raw characters would be over
    assert countable_length(URL_VECTOR) == 476 + 1 + 23
    assert offline().validate(Content(URL_VECTOR)) == []


def test_mention_vector_counts_the_local_part_only() -> None:
    assert len(MENTION_VECTOR) > 500
    assert countable_length(MENTION_VECTOR) == 475 + 1 + len("@alice")
    assert offline().validate(Content(MENTION_VECTOR)) == []


def test_520_characters_are_too_long_and_the_problem_says_by_how_much() -> None:
    [problem] = offline().validate(Content("a" * 520))
    assert problem.code == "too_long"
    assert "520" in problem.message and "500" in problem.message
    assert "Mastodon" in problem.message


def test_boundary_at_500() -> None:
    assert offline().validate(Content("a" * 500)) == []
    [problem] = offline().validate(Content("a" * 501))
    assert problem.code == "too_long"


def test_content_warning_counts_with_the_text() -> None:
    """Spec vector: CW 250 + text 251 is invalid (only `countable_length` takes a CW)."""
    assert countable_length("a" * 251, "b" * 250) == 501
    assert countable_length("a" * 250, "b" * 250) == 500
    assert countable_length("hi", FAMILY * 3) == 5
    assert countable_length("", "http://example.com/not-a-link-in-a-cw") == 37  # CW text is not rewritten


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/" + "x" * 200, 23),
        ("http://a.co", 23),  # short URLs count 23 too
        ("HTTPS://EXAMPLE.COM/PATH", 23),
        ("see https://example.com/a and https://example.org/b", 4 + 23 + 5 + 23),
        ("read https://example.com/a.", 5 + 23 + 1),  # trailing punctuation is not part of the URL
        ("http://localhost:3000/x", 23),
    ],
)
def test_http_urls_count_23(text: str, expected: int) -> None:
    assert countable_length(text) == expected


def test_url_weight_is_configurable() -> None:
    assert countable_length("go https://example.com/long/path", url_weight=30) == 3 + 30


@pytest.mark.parametrize(
    "text",
    [
        "example.com/" + "p" * 40,
        "www.example.org/path/to/page",
        "ftp://files.example.net/archive.tar.gz",
    ],
)
def test_bare_domains_and_other_schemes_count_by_their_characters(text: str) -> None:
    assert countable_length(text) == len(text)


def test_a_bare_domain_can_make_a_status_too_long() -> None:
    text = "x" * 470 + " example.com/" + "p" * 20  # 503 as written; would be 494 if counted as a URL
    [problem] = offline().validate(Content(text))
    assert problem.code == "too_long" and "503" in problem.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@alice", 6),
        ("@alice@example.com", 6),
        ("@Alice@Sub.Example.COM hi", 9),
        ("hi @bob@example.com and @carol@example.org", 3 + 4 + 5 + 6),
        ("mail bob@example.com", 20),  # an e-mail address is not a mention
        ("https://example.com/@alice@example.org", 23),  # inside a URL: counted once, as the URL
        ("@alice@" + "b" * 300 + ".com", 7 + 300 + 4),  # a domain over 253: no mention (Extractor)
    ],
)
def test_mentions_count_as_the_local_part(text: str, expected: int) -> None:
    assert countable_length(text) == expected


def test_graphemes_not_code_points() -> None:
    assert countable_length(FAMILY) == 1
    assert countable_length("e\u0301" * 10) == 10
    assert offline().validate(Content(FAMILY * 500)) == []
    [problem] = offline().validate(Content(FAMILY * 501))
    assert problem.code == "too_long" and "501" in problem.message


def test_per_account_max_length_overrides_500() -> None:
    big = offline(max_length="1000")
    assert big.limit == 1000
    assert big.validate(Content("a" * 520)) == []
    [problem] = big.validate(Content("a" * 1001))
    assert "1001" in problem.message and "1000" in problem.message
    assert offline(max_length="").limit == 500
    small = offline(max_length="100")
    assert small.measure(Content(URL_VECTOR)).length == 500
    assert not small.measure(Content(URL_VECTOR)).ok


def test_empty_and_broken_text_is_refused_before_sending() -> None:
    assert [p.code for p in offline().validate(Content("  \n "))] == ["empty"]
    [problem] = offline().validate(Content("bad \ud800 surrogate"))
    assert "Unicode" in problem.message


def test_content_warning_counts_in_measure_and_validate() -> None:
    """Spec vector through `validate`: CW 250 + text 250 fits, CW 250 + text 251 does not."""
    account = offline()
    fits = Content("a" * 250, options={"spoiler_text": "b" * 250})
    assert account.measure(fits) == Measure(500, 500) and account.validate(fits) == []
    [problem] = account.validate(Content("a" * 251, options={"spoiler_text": "b" * 250}))
    assert problem.code == "too_long" and "501" in problem.message


def test_content_warning_is_counted_by_the_server_as_well(mastodon: MastodonServer) -> None:
    account = connector(mastodon)
    fits = Content("a" * 250, options={"spoiler_text": "b" * 250})
    account.publish(fits, CREDS, "cw-fits")
    over = Content("a" * 251, options={"spoiler_text": "b" * 250})
    assert [p.code for p in account.validate(over)] == ["too_long"]
    with pytest.raises(PermanentError) as caught:
        account.publish(over, CREDS, "cw-over")
    assert caught.value.http_status == 422
    assert [c["text"] for c in mastodon.created] == ["a" * 250]


# -- settings ------------------------------------------------------------------------------------------


def test_settings_checks() -> None:
    assert Mastodon.check_settings({"instance": "https://mastodon.social"}) == []
    assert (
        Mastodon.check_settings(
            {"instance": "https://m.example", "max_length": "5000", "visibility": "unlisted"}
        )
        == []
    )
    assert ["instance" in p.message for p in Mastodon.check_settings({})] == [True]
    assert len(Mastodon.check_settings({"instance": "mastodon.social"})) == 1
    assert len(Mastodon.check_settings({"instance": "https://m.example", "max_length": "0"})) == 1
    assert len(Mastodon.check_settings({"instance": "https://m.example", "max_length": "²"})) == 1
    [problem] = Mastodon.check_settings({"instance": "https://m.example", "visibility": "everyone"})
    assert "public, unlisted, private, direct" in problem.message
    [problem] = Mastodon.check_settings({"instance": "https://m.example", "token": "x"})
    assert "'token'" in problem.message
    assert Mastodon.check_secrets({"access_token": "t"}) == []
    assert ["access_token" in p.message for p in Mastodon.check_secrets({})] == [True]


# == options: content warning, language, visibility ==================================================


@pytest.mark.parametrize("language", ["EN", "eng", "english", "xx", "en-GB", "e", "zz"])
def test_language_must_be_an_iso_639_1_code(language: str) -> None:
    [problem] = offline().validate(Content("hi", options={"language": language}))
    assert problem.code == "option"
    assert repr(language) in problem.message and "ISO 639-1" in problem.message


def test_iso_639_1_codes_are_accepted() -> None:
    assert len(LANGUAGES) == 184
    for code in ("en", "de", "ja", "pt", "zh", "uk", "eo", "yi"):
        assert offline().validate(Content("hi", options={"language": code})) == [], code


def test_visibility_and_content_warning_options_are_checked() -> None:
    [problem] = offline().validate(Content("hi", options={"visibility": "everyone"}))
    assert problem.code == "option" and "public, unlisted, private, direct" in problem.message
    [problem] = offline().validate(Content("hi", options={"spoiler_text": "cw \x07 bell"}))
    # the shared Option check names the option as the user gives it (`--option spoiler_text=...`)
    assert problem.code == "option" and problem.message == "spoiler_text contains control characters (U+0007)"


def test_the_declared_options() -> None:
    assert [(o.name, o.kind, o.per_item) for o in Mastodon.options] == [
        ("spoiler_text", "text", True),
        ("language", "text", False),
        ("visibility", "choice", False),
        ("first_comment", "text", False),  # a self-reply: the post body makes it the last item
    ]
    assert Mastodon.options[2].choices == ("public", "unlisted", "private", "direct")
    assert Mastodon.check_options({"spoiler_text": "cw", "language": "de", "visibility": "unlisted"}) == []
    [problem] = Mastodon.check_options({"language": "EN"})  # the ISO 639-1 check, shared with validate
    assert problem.code == "option" and "'EN'" in problem.message and "ISO 639-1" in problem.message
    [problem] = Mastodon.check_options({"sensitive": True})
    assert (
        problem.message == "unknown option 'sensitive' for mastodon "
        "(known: spoiler_text, language, visibility, first_comment)"
    )
    with pytest.raises(ValueError, match="visibility must be one of public, unlisted, private, direct"):
        Mastodon.options[2].parse("everyone")
    assert Mastodon.options[2].parse(" unlisted ") == "unlisted"
    # what validate sees is what `_body` sends: an empty value is not sent, so not refused
    assert offline().validate(Content("hi", options={"visibility": "", "language": ""})) == []


# == the instance's limits ===========================================================================


def test_defaults_are_the_documented_limits() -> None:
    assert (Mastodon.max_length, Mastodon.max_media, Mastodon.max_alt_text) == (500, 4, 1500)
    assert Mastodon.media_limits["image/jpeg"] == 16 * 2**20
    assert Mastodon.media_limits["video/mp4"] == 99 * 2**20
    assert Mastodon.threads is True
    account = offline()
    assert account.limit == 500 and account.limits == Limits()


def test_cached_instance_limits_drive_length_and_media() -> None:
    cache = {
        "max_characters": 1000,
        "characters_reserved_per_url": 30,
        "max_media_attachments": 2,
        "image_size_limit": 1000,
        "description_limit": 10,
        "supported_mime_types": ["image/png"],
    }
    account = Mastodon({"instance": "https://big.example"}, cache=cache)
    assert account.limit == 1000
    assert account.count("see https://example.com/x") == 4 + 30
    assert account.validate(Content("a" * 1000)) == []
    assert [p.code for p in account.validate(Content("a" * 1001))] == ["too_long"]
    png = MediaFile(b"p" * 1000, "image/png", "a.png", alt="0123456789")
    assert account.validate(Content("", (png, png))) == []
    messages = [p.message for p in account.validate(Content("x", (png, png, png)))]
    assert messages == ["3 attachments, Mastodon takes at most 2"]
    too_big = MediaFile(b"p" * 1001, "image/png", "big.png", alt="0123456789x")
    jpeg = MediaFile(JPEG, "image/jpeg", "a.jpg")
    messages = [p.message for p in account.validate(Content("x", (too_big, jpeg)))]
    assert messages == [
        "big.png is 1,001 bytes, over this Mastodon server's limit of 1,000 bytes for image/png",
        "alt text of big.png is over 10 characters",
        "a.jpg: image/jpeg is not accepted by this Mastodon server (accepted: image/png)",
    ]
    # the max_length setting still overrides what the instance says
    assert Mastodon({"instance": "https://big.example", "max_length": "600"}, cache=cache).limit == 600
    # values that are not positive whole numbers are ignored
    assert Mastodon({"instance": "https://x.example"}, cache={"max_characters": "lots"}).limit == 500


def test_media_rules_with_the_default_limits() -> None:
    account = offline()
    image = MediaFile(JPEG, "image/jpeg", "a.jpg", alt="a" * 1500)
    video = MediaFile(b"\0\0\0\x18ftypmp42", "video/mp4", "v.mp4")
    assert account.validate(Content("x", (image,) * 4)) == []
    assert account.validate(Content("x", (video,))) == []
    [problem] = account.validate(Content("x", (image, video)))
    assert problem.message == "a video must be the only attachment of a Mastodon post"
    [problem] = account.validate(Content("x", (replace(image, alt="a" * 1501),)))
    assert problem.message == "alt text of a.jpg is over 1500 characters"
    big = MediaFile(b"\xff\xd8\xff" + bytes(16 * 2**20), "image/jpeg", "big.jpg")
    [problem] = account.validate(Content("x", (big,)))
    assert "over this Mastodon server's limit of 16.8 MB for image/jpeg" in problem.message
    bmp = MediaFile(b"BM", "image/bmp", "a.bmp")
    [problem] = account.validate(Content("x", (bmp,)))
    assert "image/bmp is not accepted" in problem.message and "image/jpeg" in problem.message
    assert account.validate(Content("", (image,))) == []  # media without text is a status


def test_alt_text_goes_through_the_shared_checks_with_this_servers_limits() -> None:
    """Mastodon's media rules are the base class's, read from the server's limits: alt text with
    control characters is refused too (Mastodon's own copy of the checks had lost that)."""
    account = Mastodon({"instance": "https://m.example"}, cache={"description_limit": 10})
    assert account.alt_text_limit == 10 and account.limits_source == "this Mastodon server"
    [problem] = account.validate(Content("x", (MediaFile(JPEG, "image/jpeg", "a.jpg", alt="a bell \x07"),)))
    assert problem == Problem("alt text of a.jpg: contains control characters (U+0007)", "media")
    [problem] = account.validate(Content("x", (MediaFile(JPEG, "image/jpeg", "a.jpg", alt="é" * 11),)))
    assert problem.message == "alt text of a.jpg is over 10 characters"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
    assert account.alt_text_length(family) == 5  # Rails counts code points
    [problem] = account.validate(Content("x", (MediaFile(JPEG, "image/jpeg", "a.jpg", alt=family * 3),)))
    assert problem.message == "alt text of a.jpg is over 10 characters"  # 3 graphemes, 15 code points


# == the error table =================================================================================


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthExpired),
        (403, AuthExpired),
        (400, PermanentError),
        (404, PermanentError),
        (410, PermanentError),
        (413, PermanentError),
        (422, PermanentError),
        (408, TransientError),
        (500, TransientError),
        (503, TransientError),
        (507, TransientError),
        (502, OutcomeUnknown),
        (504, OutcomeUnknown),
    ],
)
def test_error_table(mastodon: MastodonServer, status: int, error: type[ConnectorError]) -> None:
    mastodon.inject(Fault(response=Response(status, {"error": f"scripted {status}"})))
    with pytest.raises(ConnectorError) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert type(caught.value) is error
    assert caught.value.http_status == status
    assert f"Mastodon answered {status}: scripted {status}" == str(caught.value)


def test_error_without_json_shows_a_short_body(mastodon: MastodonServer) -> None:
    mastodon.inject(
        Fault(
            response=Response(
                503, raw=b"<html><body>\n  Maintenance  </body></html>", headers={"Content-Type": "text/html"}
            )
        )
    )
    with pytest.raises(TransientError) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert str(caught.value) == "Mastodon answered 503: <html><body> Maintenance </body></html>"
