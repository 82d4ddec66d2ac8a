"""The data postmast copies from the reference packages equals theirs (tests/differential/vendor.py)."""

from __future__ import annotations

from postmast.connectors import tlds
from postmast.connectors.bluesky import tlds as bluesky_tlds
from postmast.connectors.x import emoji
from tests.differential.vendor import reference_data


def test_the_copies_equal_the_packages() -> None:
    data = reference_data()
    assert data["gtld"] == tlds.GENERIC and data["cctld"] == tlds.COUNTRY
    assert data["emoji"] == emoji.PATTERN
    assert frozenset(data["bluesky"].split()) == bluesky_tlds.ASCII
    assert (
        len(bluesky_tlds.ASCII) > 1000
        and "com" in bluesky_tlds.ASCII
        and "xn--p1ai" not in bluesky_tlds.ASCII
    )
