"""Mentions and the DIDs they need: what the dry run shows, and what publishing reports.

A mention facet carries the DID of the mentioned account (`app.bsky.richtext.facet#mention`), which
only the network knows: `com.atproto.identity.resolveHandle`, which needs no credentials. Publishing
resolves each handle with the account's session (`Bluesky.publish`); a handle that does not resolve
gets no facet, as in the app, and stays in the text as plain text: `sent_as_text` says so on the
delivery's report line. The dry run asks the same question of the account's service without
credentials (`Handles`): the DID when it answers, else the `UNRESOLVED` marker and a warning.
"""

from __future__ import annotations

from collections.abc import Iterable

from postmast.connectors.bluesky import facets
from postmast.connectors.errors import ConnectorError
from postmast.connectors.http import HttpClient, json_or_none

UNRESOLVED = "(unresolved: {handle} did not resolve; it is sent as plain text unless it resolves when posted)"
"""The `did` the dry run shows for a mention whose handle does not resolve now."""


class Handles:
    """The dry run's view of handles: asked once each of `service`, without credentials."""

    def __init__(self, http: HttpClient, service: str) -> None:
        self.http = http
        self.service = service
        self.known: dict[str, tuple[str | None, str]] = {}
        """handle (lower case) -> (DID, "") or (None, why it did not resolve)."""

    def resolve(self, handle: str) -> tuple[str | None, str]:
        handle = handle.lower()
        if handle not in self.known:
            try:
                answer = self.http.get(
                    f"{self.service}/xrpc/com.atproto.identity.resolveHandle", params={"handle": handle}
                )
            except ConnectorError as exc:
                self.known[handle] = (None, f"{self.service} could not be asked: {exc.message}")
            else:
                data = json_or_none(answer)
                did = data.get("did") if isinstance(data, dict) and answer.status_code == 200 else None
                name = data.get("error") if isinstance(data, dict) else None
                why = f"{self.service} answered {answer.status_code} {name or ''}".strip()
                self.known[handle] = (did, "") if isinstance(did, str) else (None, why)
        return self.known[handle]

    def shown(self, found: Iterable[facets.Facet]) -> list[facets.Facet]:
        """`found` with each mention's handle replaced by its DID, or by the `UNRESOLVED` marker."""
        return [
            facets.Facet(
                f.start, f.end, f.kind, self.resolve(f.value)[0] or UNRESOLVED.format(handle=f"@{f.value}")
            )
            if f.kind == facets.MENTION
            else f
            for f in found
        ]

    def warnings(self, text: str) -> list[str]:
        """One line per mentioned handle that does not resolve now."""
        return [
            f"mention @{handle} does not resolve to a Bluesky account ({why}): it would be sent as "
            "plain text, without a link to the account"
            for handle in facets.mentioned(facets.detect(text))
            if (why := self.resolve(handle)[1])
        ]


def sent_as_text(handles: Iterable[str]) -> tuple[str, ...]:
    """The report line's notes for mentions that were sent as plain text."""
    return tuple(
        f"mention @{handle} did not resolve to a Bluesky account: sent as plain text" for handle in handles
    )
