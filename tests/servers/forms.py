"""Request bodies as the chat networks' contract servers read them: JSON, form or multipart."""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.servers.base import Request


@dataclass(frozen=True)
class Part:
    """One file of a multipart body."""

    filename: str | None
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class Body:
    """A request body: its media type, text fields (JSON values for a JSON body) and files."""

    media: str
    fields: dict[str, Any]
    files: dict[str, Part]


def read_body(request: Request) -> Body:
    """The fields and files of `request`; a body that cannot be read has `media` "invalid"."""
    header = request.header("Content-Type") or ""
    media = header.split(";")[0].strip().lower()
    if media == "application/json":
        try:
            data = json.loads(request.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            return Body("invalid", {}, {})
        return Body(media, data if isinstance(data, dict) else {"": data}, {})
    if media == "multipart/form-data":
        head = f"Content-Type: {header}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        fields: dict[str, Any] = {}
        files: dict[str, Part] = {}
        if not message.is_multipart():
            return Body("invalid", {}, {})
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            raw = payload if isinstance(payload, bytes) else b""
            if not isinstance(name, str):
                continue
            if part.get_filename() is not None:
                files[name] = Part(part.get_filename(), part.get_content_type(), raw)
            else:
                fields[name] = raw.decode("utf-8")
        return Body(media, fields, files)
    if media in ("application/x-www-form-urlencoded", ""):
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return Body("invalid", {}, {})
        return Body(media or "application/x-www-form-urlencoded", {k: v[-1] for k, v in form.items()}, {})
    return Body(media, {}, {})
