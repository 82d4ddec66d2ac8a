"""Discord: the connector and the parts only it uses.

- `connector`: the `Discord` connector: a webhook, or a bot with an idempotent nonce; lookups;
- `api`: webhook URLs, nonces, snowflakes, and Discord's answers turned into results or typed errors.
"""

from postmast.connectors.discord.connector import Discord

__all__ = ["Discord"]
