"""Rate-limit reset values, in every spelling the networks use, as seconds from a fixed now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.ratelimit import reset_any, retry_after, until_epoch, until_iso8601

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


def test_until_iso8601_defaults_to_the_real_clock() -> None:
    ahead = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert until_iso8601(ahead) == pytest.approx(120, abs=5)


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
