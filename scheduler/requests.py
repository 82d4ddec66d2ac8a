"""A post as the user asked for it, parsed and typed, before validation and storage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from postmast.connectors import MediaFile
from postmast.scheduler.body import Body, Item, OptionValue, Variant
from postmast.scheduler.recurrence import Recurrence


@dataclass(frozen=True)
class PostRequest:
    """One post as the user asked for it; `due_at` is an aware UTC datetime.

    `text` and `media` make the first item; `then` holds the thread's further items.
    `options` are `--option` values with their scopes; `reply_to` maps a target
    (`network:name`) to the remote id the first item answers; `variants` replace the
    items for one network or account. `next_slot` puts each target in its next free
    posting slot instead of `due_at`; `recurrence` repeats the post from `due_at`;
    `evergreen_every` re-queues it into free slots, at most that often (seconds).
    """

    text: str
    targets: Sequence[str]
    due_at: datetime
    timezone: str
    max_lateness: float | None = None
    options: tuple[OptionValue, ...] = ()
    media: tuple[MediaFile, ...] = ()
    then: tuple[Item[MediaFile], ...] = ()
    reply_to: Mapping[str, str] = field(default_factory=dict)
    variants: tuple[Variant[MediaFile], ...] = ()
    next_slot: bool = False
    recurrence: Recurrence | None = None
    evergreen_every: float | None = None

    @property
    def items(self) -> list[Item[MediaFile]]:
        return [Item(self.text, self.media), *self.then]

    @cached_property
    def body(self) -> Body[MediaFile]:
        return Body(tuple(self.items), tuple(self.options), dict(self.reply_to), tuple(self.variants))
