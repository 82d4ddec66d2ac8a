"""Reddit: the connector and the parts only it uses.

- `connector`: the `Reddit` connector: self and link posts, options, validation, lookups;
- `api`: the script app's token, the User-Agent rule and the error classification.
"""

from postmast.connectors.reddit.connector import Reddit

__all__ = ["Reddit"]
