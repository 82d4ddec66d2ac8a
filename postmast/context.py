"""The objects every command needs, built once from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from postmast.clock import Clock, system
from postmast.scheduler.config import Settings
from postmast.scheduler.store import Store

if TYPE_CHECKING:  # cryptography loads only for the commands that open the vault
    from postmast.scheduler.vault import Vault


@dataclass
class Context:
    settings: Settings
    clock: Clock = field(default=system)

    @classmethod
    def from_env(cls) -> Context:
        return cls(Settings.from_env())

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.database_url, clock=self.clock)

    @cached_property
    def vault(self) -> Vault:
        from postmast.scheduler.vault import Vault

        return Vault.from_settings(self.settings.secret_key, self.settings.key_file)
