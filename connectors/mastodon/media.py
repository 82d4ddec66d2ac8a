"""Mastodon media: `POST /api/v2/media`, then wait until the server has processed the file.

Flow (docs methods/media.md; controller app/controllers/api/v2/media_controller.rb):
`POST /api/v2/media` (multipart `file`, `description` = alt text, optional `focus` "x,y")
answers 200 when the file was processed synchronously (images since 4.0, `url` set) or
202 when it is processed in the background (`url` null). Then `GET /api/v1/media/:id`
answers 206 while processing and 200 when done; only then may the id go into
`media_ids[]` (an unprocessed id is refused with 422). Waiting uses `HttpClient.pause`,
so it ends at the worker's deadline with a `TransientError`: no status was posted.

Uploads are not posts: an upload that fails in any way (even without an answer) leaves
at most an unattached file, which Mastodon deletes after a day
(app/workers/scheduler/media_cleanup_scheduler.rb). So `OutcomeUnknown` never comes out
of here, only `TransientError`.

Resuming: the ids of uploaded files are kept in the account's connector `state` under
the item's idempotency key until the status is created, so the next attempt (after the
deadline passed while a long video was processing, or after a 503 on the status itself)
polls or reuses them instead of uploading again, and a replay of the status with its
Idempotency-Key needs no new upload. Entries are dropped after `REUSE_FOR`, well within
Mastodon's one-day clean-up of unattached media.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import requests

from postmast.clock import Clock
from postmast.connectors.content import MediaFile
from postmast.connectors.errors import OutcomeUnknown, PermanentError, TransientError
from postmast.connectors.http import HttpClient
from postmast.connectors.mastodon.rules import checked, reason_of

POLL_DELAYS: tuple[float, ...] = (1.0, 1.0, 2.0, 3.0, 5.0)
"""Seconds before each `GET /api/v1/media/:id`; the last one repeats."""
NO_DEADLINE_WAIT = 300.0
"""Longest wait for processing when the HTTP client has no deadline (outside the worker)."""
REUSE_FOR = timedelta(hours=12)
"""How long uploaded ids are kept for a retry; Mastodon deletes unattached media after a day."""
STATE_KEY = "mastodon_media"


def focus_value(focus: Any) -> str | None:
    """A focal point (x, y), each in -1.0..1.0, as the form value "x,y" (docs api/guidelines)."""
    if focus is None:
        return None
    try:
        x, y = (float(v) for v in focus)
    except (TypeError, ValueError):
        raise PermanentError(f"focus must be two numbers, got {focus!r}") from None
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0):
        raise PermanentError(f"focus must be within -1.0..1.0, got {x:g},{y:g}")
    return f"{x:g},{y:g}"


def _fingerprint(position: int, media: MediaFile) -> str:
    digest = hashlib.sha256(media.data)
    digest.update(b"\0" + media.alt.encode("utf-8", "surrogatepass"))
    digest.update(b"\0" + repr(getattr(media, "focus", None)).encode())
    return f"{position}:{digest.hexdigest()[:32]}"


class MediaUploads:
    """Uploads the files of one item and returns their ids once Mastodon has processed them."""

    def __init__(
        self,
        http: HttpClient,
        base_url: str,
        headers: Mapping[str, str],
        state: MutableMapping[str, Any],
        *,
        clock: Clock,
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.headers = dict(headers)
        self.state = state
        self.clock = clock

    # -- the kept ids -----------------------------------------------------------------------------

    def _entries(self) -> dict[str, Any]:
        """The kept uploads, without those too old to reuse (and the state cleaned if any were)."""
        kept = self.state.get(STATE_KEY)
        if not isinstance(kept, dict):
            return {}
        fresh = {}
        now = self.clock()
        for key, entry in kept.items():
            try:
                started = datetime.fromisoformat(entry["at"])
            except (KeyError, TypeError, ValueError):
                continue
            if now - started < REUSE_FOR and entry.get("instance") == self.base_url:
                fresh[key] = entry
        if fresh != kept:
            self._store(fresh)
        return fresh

    def _store(self, entries: dict[str, Any]) -> None:
        if entries:
            self.state[STATE_KEY] = entries
        else:
            self.state.pop(STATE_KEY, None)

    def _remember(self, key: str, fingerprint: str, media_id: str, ready: bool) -> None:
        entries = self._entries()
        entry = entries.get(key) or {"at": self.clock().isoformat(), "instance": self.base_url, "files": {}}
        entry["files"] = {**entry["files"], fingerprint: {"id": media_id, "ready": ready}}
        self._store({**entries, key: entry})

    def forget(self, key: str) -> None:
        """Drop the kept ids of `key`: its status exists (or was refused for good)."""
        entries = self._entries()
        if key in entries:
            del entries[key]
            self._store(entries)

    # -- uploading --------------------------------------------------------------------------------

    def ids_for(self, media: Sequence[MediaFile], key: str) -> list[str]:
        """The processed media ids for `media`, uploading (or reusing) each file in order."""
        ids = []
        for position, item in enumerate(media):
            fingerprint = _fingerprint(position, item)
            known = (self._entries().get(key) or {}).get("files", {}).get(fingerprint)
            if known and known.get("ready"):
                ids.append(str(known["id"]))
                continue
            if known and self._wait(str(known["id"]), item, check_first=True):
                self._remember(key, fingerprint, str(known["id"]), True)
                ids.append(str(known["id"]))
                continue
            media_id, ready = self._upload(item)
            self._remember(key, fingerprint, media_id, ready)
            if not ready:
                if not self._wait(media_id, item, check_first=False):
                    raise TransientError(
                        f"Mastodon lost {item.filename} while processing it; nothing was posted"
                    )
                self._remember(key, fingerprint, media_id, True)
            ids.append(media_id)
        return ids

    def _send(self, method: str, url: str, item: MediaFile, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, url, headers=self.headers, **kwargs)
        except OutcomeUnknown as exc:
            raise TransientError(
                f"{exc.message} (while sending {item.filename}; nothing was posted)"
            ) from None

    def _checked(self, response: requests.Response, item: MediaFile) -> Any:
        status = response.status_code
        if status == 413:
            raise PermanentError(
                f"{item.filename} is larger than the server accepts ({reason_of(response)})", http_status=413
            )
        if status == 422:
            raise PermanentError(
                f"Mastodon refused {item.filename} ({reason_of(response)})", http_status=status
            )
        try:
            return checked(response, self.clock())
        except OutcomeUnknown as exc:  # a 502/504 on an upload: nothing was posted
            raise TransientError(f"{exc.message} (uploading {item.filename})", http_status=status) from None
        except TransientError as exc:
            raise TransientError(f"{exc.message} (uploading {item.filename})", http_status=status) from None

    def _upload(self, item: MediaFile) -> tuple[str, bool]:
        form = {"description": item.alt} if item.alt else {}
        focus = focus_value(getattr(item, "focus", None))
        if focus:
            form["focus"] = focus
        response = self._send(
            "POST",
            f"{self.base_url}/api/v2/media",
            item,
            files={"file": (item.filename, item.data, item.mime)},
            data=form,
        )
        data = self._checked(response, item)
        if not isinstance(data, dict) or not data.get("id"):
            raise TransientError(
                f"Mastodon answered {response.status_code} to the upload of {item.filename} without an id",
                http_status=response.status_code,
            )
        return str(data["id"]), response.status_code == 200 and data.get("url") is not None

    def _wait(self, media_id: str, item: MediaFile, *, check_first: bool) -> bool:
        """Poll until processed (True), or False when Mastodon no longer has the file (404)."""
        waited, polls = 0.0, 0
        while True:
            if polls or not check_first:
                delay = POLL_DELAYS[min(polls, len(POLL_DELAYS) - 1)]
                if self.http.deadline is None and waited + delay > NO_DEADLINE_WAIT:
                    raise TransientError(
                        f"Mastodon was still processing {item.filename} after {waited:g}s; nothing was posted"
                    )
                self.http.pause(delay, f"Mastodon is processing {item.filename}")
                waited += delay
            polls += 1
            response = self._send("GET", f"{self.base_url}/api/v1/media/{media_id}", item)
            if response.status_code == 404:
                return False
            data = self._checked(response, item)
            if response.status_code == 200 and isinstance(data, dict) and data.get("url") is not None:
                return True
