"""Drafts: posts as people write them (CLI options, rows of import files), turned into requests.

This is where user input is parsed: times and zones, media specs (`[N:]PATH` with alt
texts), thread items, options (`[SCOPE.]NAME=VALUE`), reply targets, variants for one
network or account, posting slots, recurrence and evergreen intervals. `build` checks
every field and reports every problem it finds, each with the field it comes from
(`DraftProblems`), so an import file names each bad cell; nothing is stored here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from postmast.connectors import MediaFile
from postmast.scheduler.accounts import FIELD_RE
from postmast.scheduler.body import Item, OptionValue, Variant
from postmast.scheduler.config import parse_duration
from postmast.scheduler.errors import UserError
from postmast.scheduler.media import media_file
from postmast.scheduler.posts import PostRequest
from postmast.scheduler.recurrence import Recurrence, parse_recurrence
from postmast.scheduler.targets import NETWORK_RE, parse_target
from postmast.scheduler.timespec import parse_when, zone

T = TypeVar("T")

SHORTCUTS = {"cw": "spoiler_text", "lang": "language", "visibility": "visibility"}
"""Options with a flag and an import column of their own: `--cw TEXT` is `--option spoiler_text=TEXT`."""
VARIANT_FIELDS = ("text", "then", "media", "alt")
"""What a variant for one network or account may replace (`--text-for SCOPE TEXT`, `SCOPE.text`)."""
NEXT_SLOT = frozenset({"next slot", "next-slot", "slot", "queue"})
"""`--at` values (and `at` cells) that mean: the target's next free posting slot."""
MAX_EVERGREEN = 3650 * 86400


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
    variants: list[tuple[str, str, str]] = field(default_factory=list)
    """(SCOPE, FIELD, VALUE): FIELD one of `VARIANT_FIELDS`, for the network or account SCOPE."""
    next_slot: bool = False
    repeat: str | None = None
    """An RRULE, a cron expression or `every N days|weeks|months` (see `recurrence`)."""
    until: str | None = None
    count: str | None = None
    evergreen: str | None = None
    """The shortest time between two posts of an evergreen post (e.g. 30d)."""


class DraftProblems(UserError):
    """Raised when a draft has problems: each is (field, message), the field as a column names it."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__("; ".join(message for _, message in problems[:3]) + more)


MediaCache = dict[str, MediaFile]


def _media_spec(spec: str, items: int) -> tuple[int, str]:
    number, sep, path = spec.partition(":")
    if sep and number.isdecimal():
        position = int(number)
        if not 1 <= position <= items:
            raise UserError(f"media {spec!r} names item {position}, but the post has {items} item(s)")
        return position - 1, path
    return 0, spec


def _attachments(
    media: Sequence[str], alts: Sequence[str], items: int, base: Path | None, cache: MediaCache
) -> list[list[MediaFile]]:
    if len(alts) > len(media):
        raise UserError(f"{len(alts)} alt texts for {len(media)} media files")
    attached: list[list[MediaFile]] = [[] for _ in range(items)]
    for index, spec in enumerate(media):
        position, path = _media_spec(spec, items)
        if base is not None and not path.startswith("~") and not Path(path).is_absolute():
            path = str(base / path)
        if path not in cache:
            cache[path] = media_file(path)
        attached[position].append(replace(cache[path], alt=alts[index] if index < len(alts) else ""))
    return attached


def _reply_targets(specs: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for spec in specs:
        target, sep, remote = spec.partition("=")
        if not sep or not target.strip() or not remote.strip():
            raise UserError(f"reply target {spec[:80]!r} must look like NETWORK:NAME=REMOTE_ID")
        found[target.strip()] = remote.strip()
    return found


def parse_scope(scope: str) -> str:
    """`NETWORK` (lower-cased) or `NETWORK:ACCOUNT`; UserError for anything else."""
    if ":" in scope:
        network, account = parse_target(scope)
        return f"{network}:{account}"
    if not NETWORK_RE.fullmatch(scope):
        raise UserError(f"{scope[:40]!r} is not a network or NETWORK:ACCOUNT")
    return scope.lower()


def parse_option(spec: str) -> OptionValue:
    """`NAME=VALUE` (every target that takes NAME), `NETWORK.NAME=VALUE` or `NETWORK:ACCOUNT.NAME=VALUE`."""
    left, sep, value = spec.partition("=")
    scope, _, name = left.strip().rpartition(".")
    if not sep or not FIELD_RE.fullmatch(name):
        raise UserError(
            f"option {spec[:80]!r} must look like NAME=VALUE, NETWORK.NAME=VALUE "
            "or NETWORK:ACCOUNT.NAME=VALUE"
        )
    try:
        return OptionValue(parse_scope(scope) if scope else "", name, value)
    except UserError as exc:
        raise UserError(f"option {spec[:80]!r}: {exc}") from None


def shortcut(name: str, value: str | None) -> list[str]:
    """The option spec a shortcut flag or column stands for (none when it is not given)."""
    return [f"{SHORTCUTS[name]}={value}"] if value else []


class _Collector:
    """Runs each part of a build and keeps every problem with the field it belongs to."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def run(self, where: str, part: Callable[[], T], fallback: T) -> T:
        try:
            return part()
        except DraftProblems as exc:
            self.problems += exc.problems
        except UserError as exc:
            self.problems.append((where, str(exc)))
        return fallback


def _lateness(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        raise UserError(f"max lateness {text[:40]!r} is not a duration (e.g. 30m, 2h)") from None


def _evergreen(text: str | None) -> float | None:
    if not text:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise UserError(f"evergreen interval {text[:40]!r} is not a duration (e.g. 30d)") from None
    if not 1 <= seconds <= MAX_EVERGREEN:
        raise UserError("the evergreen interval must be between 1 second and 10 years")
    return seconds


def _variants(
    draft: Draft, base: Path | None, cache: MediaCache, check: _Collector
) -> tuple[Variant[MediaFile], ...]:
    grouped: dict[str, dict[str, list[str]]] = {}
    for raw_scope, name, value in draft.variants:
        where = f"{raw_scope}.{name}"
        scope: str | None = check.run(where, partial(parse_scope, raw_scope), None)
        if scope is None:
            continue
        if name not in VARIANT_FIELDS:
            check.problems.append((where, f"a variant sets {', '.join(VARIANT_FIELDS)}, not {name!r}"))
            continue
        grouped.setdefault(scope, {}).setdefault(name, []).append(value)
    variants = []
    for scope, fields in grouped.items():
        texts = fields.get("text", [draft.text])
        if len(texts) > 1:
            check.problems.append((f"{scope}.text", f"{scope} is given {len(texts)} texts; give one"))
        then = fields.get("then", draft.then)
        media = fields.get("media", draft.media)
        alts = fields.get("alt", draft.alt if "media" not in fields else [])
        size = 1 + len(then)
        attached: list[list[MediaFile]] | None = check.run(
            f"{scope}.media", partial(_attachments, media, alts, size, base, cache), None
        )
        if attached is None:
            continue
        items = (
            Item(texts[0], tuple(attached[0])),
            *(Item(text, tuple(attached[n + 1])) for n, text in enumerate(then)),
        )
        variants.append(Variant(scope, items))
    return tuple(variants)


def build(
    draft: Draft, now: datetime, *, base: Path | None = None, cache: MediaCache | None = None
) -> PostRequest:
    """The request for `draft`: times resolved in its zone, media files read and recognised.

    Raises `DraftProblems` with every problem found, each naming its field.
    """
    cache = {} if cache is None else cache
    check = _Collector()
    tz = check.run("tz", lambda: zone(draft.tz), None)
    lateness = check.run("max_lateness", lambda: _lateness(draft.max_lateness), None)
    evergreen = check.run("evergreen", lambda: _evergreen(draft.evergreen), None)
    empty: list[list[MediaFile]] = [[] for _ in range(1 + len(draft.then))]
    attached = check.run(
        "media", partial(_attachments, draft.media, draft.alt, 1 + len(draft.then), base, cache), empty
    )
    options: list[OptionValue] = []
    for spec in draft.options:
        option: OptionValue | None = check.run("options", partial(parse_option, spec), None)
        if option is not None:
            options.append(option)
    no_replies: dict[str, str] = {}
    reply_to = check.run("reply_to", partial(_reply_targets, draft.reply_to), no_replies)
    variants = _variants(draft, base, cache, check)
    at = (draft.at or "").strip()
    next_slot = draft.next_slot or at.lower() in NEXT_SLOT
    due = now
    recurrence: Recurrence | None = None
    if tz is not None:
        if at and at.lower() not in NEXT_SLOT:
            due = check.run("at", lambda: parse_when(at, tz, now), now)
            if next_slot:
                check.problems.append(("at", "give a time or the next slot, not both"))
        recurrence = _recurrence(draft, tz, now, check)
        if recurrence is not None and next_slot:
            check.problems.append(("repeat", "a recurring post starts at a time (--at), not in a slot"))
    if evergreen is not None and recurrence is not None:
        check.problems.append(("evergreen", "a post is either recurring or evergreen, not both"))
    if check.problems:
        raise DraftProblems(check.problems)
    assert tz is not None
    return PostRequest(
        text=draft.text,
        targets=list(draft.to),
        due_at=due,
        timezone=tz.key,
        max_lateness=lateness,
        options=tuple(options),
        media=tuple(attached[0]),
        then=tuple(Item(text, tuple(attached[n + 1])) for n, text in enumerate(draft.then)),
        reply_to=reply_to,
        variants=variants,
        next_slot=next_slot,
        recurrence=recurrence,
        evergreen_every=evergreen,
    )


def _recurrence(draft: Draft, tz: ZoneInfo, now: datetime, check: _Collector) -> Recurrence | None:
    if not draft.repeat:
        for name, value in (("until", draft.until), ("count", draft.count)):
            if value:
                check.problems.append((name, f"{name} ends a recurring post: give repeat too"))
        return None
    problems_before = len(check.problems)
    until = check.run("until", lambda: parse_when(draft.until, tz, now) if draft.until else None, None)
    count = None
    if draft.count:
        text = draft.count.strip()
        if not (text.isascii() and text.isdecimal() and 1 <= int(text[:6]) <= 10_000 and len(text) <= 6):
            check.problems.append(
                ("count", f"count {draft.count[:20]!r} must be a whole number from 1 to 10000")
            )
        else:
            count = int(text)
    if until is not None and count is not None:
        check.problems.append(("count", "end a recurring post with until or count, not both"))
    if len(check.problems) > problems_before:
        return None
    return check.run("repeat", lambda: parse_recurrence(draft.repeat or "", until=until, count=count), None)
