"""Calling the Bot API: one method per request, its answer or a typed error.

Every method is `POST {api_base}/bot{token}/{method}` with a JSON body, or multipart
when files are uploaded (each JSON-serialised field as a form value, files as parts
that `attach://NAME` points to). The token is in the path: error messages name the
host only (`connectors/http.py`) and never the URL. The answer is always
`{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters"?}`; `connectors/telegram/connector.py` has the table of how each becomes
an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from postmast.connectors.content import MediaFile
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient, json_or_none, short_body
from postmast.connectors.ratelimit import retry_after, retry_after_in_body

SENDS = frozenset({"sendMessage", "sendPhoto", "sendMediaGroup"})
"""Methods that post: an unclear answer to one of them may hide a message that went out."""


@dataclass(frozen=True)
class Call:
    """One Bot API request: the method, its fields, and files to upload by part name."""

    method: str
    fields: Mapping[str, Any]
    files: Sequence[tuple[str, MediaFile]] = field(default=())

    def shown(self) -> dict[str, Any]:
        """The request as `--dry-run` shows it: files by name and size, never their bytes."""
        shown: dict[str, Any] = {"method": self.method, **self.fields}
        items = [dict(item) for item in shown.get("media") or [] if isinstance(item, dict)]
        for name, media in self.files:
            upload = f"<upload {media.filename}, {media.size:,} bytes>"
            attached = [item for item in items if item.get("media") == f"attach://{name}"]
            for item in attached:
                item["media"] = upload
            if not attached:  # the file is the field itself (sendPhoto's `photo`)
                shown[name] = upload
        if items:
            shown["media"] = items
        return shown


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class BotApi:
    def __init__(self, http: HttpClient, base: str, token: str) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.token = token

    def call(self, call: Call, now: datetime) -> Any:
        """The method's `result`, or a `connectors.errors` error."""
        url = f"{self.base}/bot{self.token}/{call.method}"
        if call.files:
            data = {name: _form_value(value) for name, value in call.fields.items()}
            files = {name: (m.filename, m.data, m.mime) for name, m in call.files}
            response = self.http.post(url, data=data, files=files)
        else:
            response = self.http.post(url, json=dict(call.fields))
        return checked(response, call.method, now)


def _reason(response: requests.Response, data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("description"), str):
        return f"Telegram answered {response.status_code}: {data['description']}"
    return f"Telegram answered {response.status_code}: {short_body(response)}"


def checked(response: requests.Response, method: str, now: datetime) -> Any:
    """The `result` of a successful answer; otherwise the error its status and description mean."""
    status = response.status_code
    data = json_or_none(response)
    sends = method in SENDS
    if status == 200 and isinstance(data, dict) and data.get("ok") is True and "result" in data:
        return data["result"]
    reason = _reason(response, data)
    description = str(data.get("description", "")) if isinstance(data, dict) else ""
    parameters = data.get("parameters") if isinstance(data, dict) else None
    if status == 429:
        wait = retry_after_in_body(data)
        if wait is None:
            wait = retry_after(response.headers.get("Retry-After", ""), now)
        raise RateLimited(reason, retry_after=wait, http_status=status)
    if status in (401, 404):
        raise AuthExpired(f"{reason} (the bot token was revoked or is wrong)", http_status=status)
    if status == 403:
        raise AuthExpired(
            f"{reason} (add the bot back to the chat, as an administrator of a channel)", http_status=status
        )
    if status == 400 and isinstance(parameters, dict) and parameters.get("migrate_to_chat_id"):
        raise AuthExpired(
            f"{reason} (the group became a supergroup: set chat_id={parameters['migrate_to_chat_id']})",
            http_status=status,
        )
    if status == 400 and "chat not found" in description.lower():
        raise AuthExpired(
            f"{reason} (check chat_id, and that the bot was added to the chat)", http_status=status
        )
    if status >= 500 or (status == 200 and sends):
        # a send the Bot API server may have passed on before failing, or an answer it garbled
        if sends:
            raise OutcomeUnknown(f"{reason}; the message may have been sent", http_status=status)
        raise TransientError(reason, http_status=status)
    if status == 200:
        raise TransientError(f"{reason} (not a Bot API answer)", http_status=status)
    raise PermanentError(reason, http_status=status)
