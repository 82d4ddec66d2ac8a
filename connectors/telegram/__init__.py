"""Telegram: the connector and the parts only it uses.

- `connector`: the `Telegram` connector: manifest, validation, the requests, publishing;
- `api`: calling the Bot API and turning its answers into results or typed errors;
- `markdown`: MarkdownV2 escaping (the text arrives literally) and Telegram's length rule.
"""

from postmast.connectors.telegram.connector import Telegram

__all__ = ["Telegram"]
