"""Bluesky (AT Protocol): the connector and the parts only it uses.

- `connector`: the `Bluesky` connector, records, replies, images and its error table;
- `atproto`: XRPC calls with an app-password session kept in the account's state;
- `facets`: rich-text links, mentions and hashtags with UTF-8 byte offsets;
- `tid`: record keys (TIDs), derived from idempotency keys so a retry cannot post twice.
"""

from postmast.connectors.bluesky.connector import Bluesky

__all__ = ["Bluesky"]
