"""Rate-limit reset values, in every spelling the networks use, as seconds from a fixed now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postmast.clock import system
from postmast.connectors.ratelimit import (
    reset_any,
    retry_after,
    retry_after_in_body,
    until_epoch,
    until_iso8601,
)

NOW = datetime(2026, 8, 1, 14, 0, 0, tzinfo=UTC)
NOW_EPOCH = int(NOW.timestamp())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-08-01T15:00:00.290597Z", 3600.290597),  # Mastodon, as recorded (test_status_empty.yaml)
        ("2026-08-01T15:00:00Z", 3600.0),
        ("2026-08-01T15:00:00+00:00", 3600.0),
        ("2026-08-01T17:00:00+02:00", 3600.0),
        ("2026-08-01T14:00:30", 30.0),  # naive: taken as UTC
        ("  2026-08-01T14:01:00Z \n", 60.0),
        ("2026-08-01T14:00:00Z", 0.0),
        ("2026-08-01T13:00:00Z", 0.0),  # already past: no negative waits
    ],
)
def test_until_iso8601(value: str, expected: float) -> None:
    assert until_iso8601(value, NOW) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("value", ["", "soon", "1785600000", "2026-13-01T00:00:00Z", "Fri, 01 Aug 2026"])
def test_until_iso8601_rejects_other_forms(value: str) -> None:
    assert until_iso8601(value, NOW) is None


def test_until_iso8601_against_the_system_clock() -> None:
    """`now` has no default: the caller reads it from its clock (here the system's)."""
    ahead = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert until_iso8601(ahead, system()) == pytest.approx(120, abs=5)
    with pytest.raises(TypeError):
        until_iso8601(ahead)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(NOW_EPOCH + 90), 90.0),
        (f"{NOW_EPOCH + 1.5}", 1.5),  # Discord sends fractional epochs
        (f" {NOW_EPOCH + 10} ", 10.0),
        (str(NOW_EPOCH - 10), 0.0),
    ],
)
def test_until_epoch(value: str, expected: float) -> None:
    assert until_epoch(value, NOW) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("value", ["", "later", "nan", "inf", "-inf", "2026-08-01T15:00:00Z"])
def test_until_epoch_rejects_non_numbers(value: str) -> None:
    assert until_epoch(value, NOW) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("2.5", 2.5),
        ("-5", 0.0),
        ("Sat, 01 Aug 2026 14:02:00 GMT", 120.0),  # RFC 9110 IMF-fixdate
        ("Saturday, 01-Aug-26 14:02:00 GMT", 120.0),  # obsolete RFC 850 form, which recipients must accept
        ("Sat, 01 Aug 2026 13:00:00 GMT", 0.0),
    ],
)
def test_retry_after(value: str, expected: float | None) -> None:
    result = retry_after(value, NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("value", ["", "   ", "soon", "nan", "inf"])
def test_retry_after_rejects_garbage(value: str) -> None:
    assert retry_after(value, NOW) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-08-01T14:05:00.5Z", 300.5),  # ISO 8601 (Mastodon)
        (str(NOW_EPOCH + 45), 45.0),  # epoch seconds (X, Bluesky)
        ("45", 45.0),  # delta seconds (Reddit)
        ("0.25", 0.25),
        ("Sat, 01 Aug 2026 14:00:10 GMT", 10.0),  # HTTP date (contains a "T", like every HTTP date)
        ("Thu, 06 Aug 2026 14:00:00 GMT", 5 * 86400.0),
        ("-3", 0.0),
    ],
)
def test_reset_any(value: str, expected: float) -> None:
    assert reset_any(value, NOW) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("value", ["", "nan", "inf", "whenever", "2026-99-99T00:00:00Z"])
def test_reset_any_rejects_garbage(value: str) -> None:
    assert reset_any(value, NOW) is None


def test_reset_any_tells_epoch_from_delta_by_magnitude() -> None:
    # 10^9 seconds is 2001: anything larger is an instant, anything smaller a delta
    assert reset_any("1000000000", NOW) == pytest.approx(1_000_000_000)
    assert reset_any("1000000001", NOW) == 0.0  # an instant long past


# -- retry_after in JSON bodies (Discord, Telegram) ------------------------------------------------


def _discord_ratelimited_example(conformance: Path) -> dict[str, object]:
    """A body shaped by Discord's own `RatelimitedResponse` schema (its required fields, typed)."""
    schemas = json.loads((conformance / "discord-api-spec" / "specs" / "openapi.json").read_text())[
        "components"
    ]["schemas"]
    properties: dict[str, dict[str, object]] = {}
    required: set[str] = set()
    for part in schemas["RatelimitedResponse"]["allOf"]:
        part = schemas[part["$ref"].rsplit("/", 1)[1]] if "$ref" in part else part
        properties.update(part.get("properties", {}))
        required.update(part.get("required", []))
    assert properties["retry_after"]["type"] == "number" and "retry_after" in required
    samples = {"string": "You are being rate limited.", "number": 1.337, "boolean": False, "integer": 0}
    return {
        name: samples.get(str(prop.get("type")), "x") for name, prop in properties.items() if name in required
    }


def test_discord_puts_retry_after_at_the_top_level(conformance: Path) -> None:
    body = _discord_ratelimited_example(conformance)
    assert retry_after_in_body(body) == 1.337


def test_telegram_puts_it_in_the_response_parameters(conformance: Path) -> None:
    api = json.loads((conformance / "telegram-bot-api-spec" / "api.json").read_text())
    fields = {f["name"]: f for f in api["types"]["ResponseParameters"]["fields"]}
    assert fields["retry_after"]["types"] == ["Integer"]
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 14",
        "parameters": {"retry_after": 14},
    }
    assert retry_after_in_body(body) == 14.0


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "429",
        {},
        {"retry_after": "soon"},
        {"retry_after": True},
        {"retry_after": float("nan")},
        {"parameters": {"retry_after": None}},
    ],
)
def test_bodies_without_a_usable_retry_after(body: object) -> None:
    assert retry_after_in_body(body) is None


def test_a_negative_retry_after_means_now() -> None:
    assert retry_after_in_body({"retry_after": -3}) == 0.0
