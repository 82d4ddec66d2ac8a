"""The scheduler's planning round: work that creates deliveries ahead of time.

Run by every dispatcher every `POSTMAST_PLAN_EVERY` (and by the CLI for what it just
queued): recurring posts get their occurrences up to the horizon, evergreen posts go
back into free slots, and imports whose process died while staging are cleaned up.
Each step is safe with several schedulers at once (compare-and-set, unique keys).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from postmast.scheduler import evergreen, imports, recurrence
from postmast.scheduler.store import Store

log = logging.getLogger("postmast.scheduler")


@dataclass(frozen=True)
class Planned:
    occurrences: int
    evergreen: int
    abandoned_imports: int


def run(store: Store, now: datetime, *, horizon: float) -> Planned:
    abandoned = imports.abandon_stale(store, now)
    with store.write() as session:
        occurrences = recurrence.plan_all(session, now, horizon)
    with store.write() as session:
        again = evergreen.requeue(session, now, horizon)
    planned = Planned(occurrences, again, abandoned)
    if occurrences or again or abandoned:
        log.info(
            "planned %d occurrences of recurring posts, %d evergreen posts; %d abandoned imports removed",
            occurrences,
            again,
            abandoned,
        )
    return planned
