"""Mastodon: the connector and the parts only it uses.

- `connector`: the `Mastodon` connector, publishing, options and lookups after a lost answer;
- `rules`: the instance's limits, the length rule, languages and the error classification;
- `media`: uploads through `POST /api/v2/media` and waiting for processing.
"""

from postmast.connectors.mastodon.connector import Mastodon

__all__ = ["Mastodon"]
