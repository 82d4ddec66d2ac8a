"""Drafts: posts as people write them (CLI options, import files), turned into requests.

This is where user input is parsed: times and zones, media specs (`[N:]PATH` with
alt texts), thread items, options (`[SCOPE.]NAME=VALUE`) and reply targets. Every
problem is a `UserError` naming the row or option it comes from; nothing is stored here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from postmast.connectors import MediaFile
from postmast.scheduler.accounts import FIELD_RE, NETWORK_RE, parse_target
from postmast.scheduler.body import OptionValue
from postmast.scheduler.config import parse_duration
from postmast.scheduler.errors import UserError
from postmast.scheduler.media import media_file
from postmast.scheduler.posts import Item, PostRequest
from postmast.scheduler.timespec import parse_when, zone

MAX_IMPORT_ROWS = 10_000
FIELDS = (
    "text",
    "to",
    "at",
    "tz",
    "media",
    "alt",
    "then",
    "options",
    "cw",
    "lang",
    "visibility",
    "max_lateness",
    "reply_to",
)
SHORTCUTS = {"cw": "spoiler_text", "lang": "language", "visibility": "visibility"}
"""Options with a flag and an import column of their own: `--cw TEXT` is `--option spoiler_text=TEXT`."""


@dataclass
class Draft:
    text: str
    to: list[str]
    at: str | None = None
    tz: str | None = None
    media: list[str] = field(default_factory=list)
    """`PATH` (first item) or `N:PATH` (item N of the thread)."""
    alt: list[str] = field(default_factory=list)
    """Alt texts, paired in order with `media`."""
    then: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    """`[SCOPE.]NAME=VALUE`, SCOPE being NETWORK or NETWORK:NAME (see `parse_option`)."""
    max_lateness: str | None = None
    reply_to: list[str] = field(default_factory=list)
    """`NETWORK:NAME=REMOTE_ID`: the first item answers that post on that account."""


def _media_spec(spec: str, items: int) -> tuple[int, str]:
    number, sep, path = spec.partition(":")
    if sep and number.isdecimal():
        position = int(number)
        if not 1 <= position <= items:
            raise UserError(f"media {spec!r} names item {position}, but the post has {items} item(s)")
        return position - 1, path
    return 0, spec


def _attachments(draft: Draft, items: int, base: Path | None) -> list[list[MediaFile]]:
    if len(draft.alt) > len(draft.media):
        raise UserError(f"{len(draft.alt)} alt texts for {len(draft.media)} media files")
    attached: list[list[MediaFile]] = [[] for _ in range(items)]
    for index, spec in enumerate(draft.media):
        position, path = _media_spec(spec, items)
        if base is not None and not path.startswith("~") and not Path(path).is_absolute():
            path = str(base / path)
        alt = draft.alt[index] if index < len(draft.alt) else ""
        attached[position].append(media_file(path, alt))
    return attached


def _reply_targets(specs: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for spec in specs:
        target, sep, remote = spec.partition("=")
        if not sep or not target.strip() or not remote.strip():
            raise UserError(f"--reply-to {spec!r} must look like NETWORK:NAME=REMOTE_ID")
        found[target.strip()] = remote.strip()
    return found


def parse_option(spec: str) -> OptionValue:
    """`NAME=VALUE` (every target that takes NAME), `NETWORK.NAME=VALUE` or `NETWORK:ACCOUNT.NAME=VALUE`."""
    left, sep, value = spec.partition("=")
    scope, _, name = left.strip().rpartition(".")
    if not sep or not FIELD_RE.fullmatch(name):
        raise UserError(
            f"--option {spec[:80]!r} must look like NAME=VALUE, NETWORK.NAME=VALUE "
            "or NETWORK:ACCOUNT.NAME=VALUE"
        )
    if ":" in scope:
        network, account = parse_target(scope)
        scope = f"{network}:{account}"
    elif scope:
        if not NETWORK_RE.fullmatch(scope):
            raise UserError(f"--option {spec[:80]!r}: {scope[:40]!r} is not a network or NETWORK:ACCOUNT")
        scope = scope.lower()
    return OptionValue(scope, name, value)


def shortcut(name: str, value: str | None) -> list[str]:
    """The option spec a shortcut flag or column stands for (none when it is not given)."""
    return [f"{SHORTCUTS[name]}={value}"] if value else []


def build(draft: Draft, now: datetime, *, base: Path | None = None) -> PostRequest:
    """The request for `draft`: times resolved in its zone, media files read and recognised."""
    tz = zone(draft.tz)
    lateness = None
    if draft.max_lateness:
        try:
            lateness = parse_duration(draft.max_lateness)
        except ValueError:
            raise UserError(f"max lateness {draft.max_lateness!r} is not a duration (e.g. 30m, 2h)") from None
    items = 1 + len(draft.then)
    attached = _attachments(draft, items, base)
    return PostRequest(
        text=draft.text,
        targets=list(draft.to),
        due_at=parse_when(draft.at, tz, now),
        timezone=tz.key,
        max_lateness=lateness,
        options=tuple(parse_option(spec) for spec in draft.options),
        media=tuple(attached[0]),
        then=tuple(Item(text, tuple(attached[n + 1])) for n, text in enumerate(draft.then)),
        reply_to=_reply_targets(draft.reply_to),
    )


# -- import files ---------------------------------------------------------------------------------


def _strings(value: Any, what: str, *, split: str | None = None) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(split)] if split else [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise UserError(f"{what} must be text or a list of texts")


def _optional(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UserError(f"{what} must be text")
    return value


def _options(value: Any) -> list[str]:
    """`options`: `NAME=VALUE` cells separated by ';' (CSV), or a JSON list of them or an object."""
    if isinstance(value, dict):
        if not all(isinstance(v, str | int | bool) for v in value.values()):
            raise UserError("options must map names to text, numbers or true/false")
        return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in value.items()]
    return [spec for spec in _strings(value, "options", split=";") if spec]


def draft_from_row(row: Mapping[str, Any]) -> Draft:
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise UserError(f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    text = row.get("text")
    if not isinstance(text, str):
        raise UserError("text is missing")
    media = row.get("media")
    paths: list[str]
    alts: list[str]
    if isinstance(media, list) and all(isinstance(m, dict) for m in media):  # JSON: [{"path", "alt"}]
        paths = [str(m.get("path", "")) for m in media]
        alts = [str(m.get("alt", "")) for m in media]
    else:
        paths = [p for p in _strings(media, "media", split=";") if p]
        alts = _strings(row.get("alt"), "alt", split=";")
    reply = row.get("reply_to")
    replies = (
        [f"{k}={v}" for k, v in reply.items()] if isinstance(reply, dict) else _strings(reply, "reply_to")
    )
    return Draft(
        text=text,
        to=[
            t
            for t in _strings(row.get("to"), "to", split=None if isinstance(row.get("to"), list) else " ")
            if t
        ],
        at=_optional(row.get("at"), "at"),
        tz=_optional(row.get("tz"), "tz"),
        media=paths,
        alt=alts,
        then=_strings(row.get("then"), "then"),
        options=_options(row.get("options"))
        + [spec for name in SHORTCUTS for spec in shortcut(name, _optional(row.get(name), name))],
        max_lateness=_optional(row.get("max_lateness"), "max_lateness"),
        reply_to=replies,
    )


def _rows(path: Path) -> Iterable[Mapping[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except RecursionError:
            raise UserError(f"{path} nests JSON too deeply") from None
        except ValueError as exc:
            raise UserError(f"{path} is not valid JSON (line {getattr(exc, 'lineno', '?')})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise UserError(f"{path} must hold a JSON list of post objects")
        return data
    if path.suffix.lower() == ".csv":
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            if not reader.fieldnames or "text" not in reader.fieldnames:
                raise UserError(f"{path}: the first line must name the columns, including 'text' and 'to'")
            rows = list(reader)
        except csv.Error as exc:
            raise UserError(f"{path} is not valid CSV: {exc}") from None
        for number, row in enumerate(rows, 2):
            if None in row:
                raise UserError(f"{path} line {number}: more cells than columns")
        return rows
    raise UserError(f"{path}: import files end in .json or .csv")


def load_file(path: Path, now: datetime) -> list[PostRequest]:
    """Every post of an import file as a request; the first bad row stops everything."""
    rows = list(_rows(path))
    if not rows:
        raise UserError(f"{path} holds no posts")
    if len(rows) > MAX_IMPORT_ROWS:
        raise UserError(f"{path} holds {len(rows)} posts; import at most {MAX_IMPORT_ROWS} at once")
    requests = []
    for number, row in enumerate(rows, 1):
        try:
            requests.append(build(draft_from_row(row), now, base=path.parent))
        except UserError as exc:
            raise UserError(f"{path.name} post {number}: {exc}") from None
    return requests
