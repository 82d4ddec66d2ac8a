"""Pinterest through the real worker (`Publisher`) on both store backends, against the contract
server: an uploaded image is pinned with its link; an expired token is refreshed and the new one kept
in the account's encrypted session; a refused one flags the account; a 429 waits its reset; an
ambiguous pin is found on the board by the lookup, without a second pin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postmast.connectors import MediaFile
from postmast.scheduler.models import AccountStatus
from postmast.workers.publisher import Publisher
from tests.connectors.delivering import account, queue, seconds_until, settle_and_dispatch
from tests.factories import add_account, delivery, tiny_png
from tests.servers.base import Fault
from tests.servers.pinterest import (
    ACCESS_TOKEN,
    BOARD,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    PinterestServer,
    error,
)

PNG = MediaFile(tiny_png(4, 4), "image/png", "doors.png", alt="Open doors")
RENEWABLE = {
    "access_token": ACCESS_TOKEN,
    "refresh_token": REFRESH_TOKEN,
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
}


@pytest.fixture
def server(clock) -> Iterator[PinterestServer]:
    running = PinterestServer(clock=clock).start()
    yield running
    running.stop()


def add(store, vault, server: PinterestServer, secrets: dict[str, str]) -> int:
    return add_account(
        store, vault, "pinterest", "harbour", {"board_id": BOARD, "api_base": server.url}, secrets
    )


def test_an_image_is_pinned_and_a_refreshed_token_kept(store, vault, settings, server) -> None:
    account_id = add(store, vault, server, RENEWABLE)
    server.expire_token()
    delivery_id = queue(
        store, "pinterest:harbour", ["Doors open at 9."], media=(PNG,), options={"title": "Harbour"}
    )
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    [created] = server.created
    row = delivery(store, delivery_id)
    assert (row.remote_id, row.public_url) == (
        created["id"],
        f"https://www.pinterest.com/pin/{created['id']}/",
    )
    assert (created["title"], created["alt_text"]) == ("Harbour", "Open doors")
    session = account(store, account_id).session
    assert session is not None and b"pina_" not in session  # kept encrypted
    kept = vault.decrypt_any(session)["pinterest_token"]["access_token"]
    assert kept.startswith("pina_") and kept != ACCESS_TOKEN
    assert len([r for r in server.requests if r.path == "/v5/oauth/token"]) == 1


def test_an_expired_token_that_cannot_be_refreshed_flags_the_account(store, vault, settings, server) -> None:
    account_id = add(store, vault, server, {"access_token": ACCESS_TOKEN})
    server.expire_token()
    delivery_id = queue(store, "pinterest:harbour", ["hello"], media=(PNG,))
    Publisher(store, vault, settings).publish(delivery_id)
    flagged = account(store, account_id)
    assert flagged.status == AccountStatus.NEEDS_REAUTH and "401" in (flagged.status_reason or "")
    assert ACCESS_TOKEN not in (flagged.status_reason or "") and server.created == []


def test_a_429_waits_its_reset(store, vault, settings, server) -> None:
    add(store, vault, server, RENEWABLE)
    delivery_id = queue(store, "pinterest:harbour", ["hello"], media=(PNG,))
    server.budget = 0
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert (
        row.last_error_class == "RateLimited" and 60 <= seconds_until(row.next_attempt_at, store.now()) <= 61
    )
    assert server.created == []


def test_an_ambiguous_pin_is_found_on_the_board(store, clock, vault, settings, server) -> None:
    add(store, vault, server, RENEWABLE)
    delivery_id = queue(store, "pinterest:harbour", ["hello"], media=(PNG,))
    server.inject(
        Fault(match=lambda r: r.path == "/v5/pins", response=error(500, 0, "oops"), after_processing=True)
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    [created] = server.created
    assert delivery(store, delivery_id).remote_id == created["id"] and len(server.posts()) == 1
