"""LinkedIn: the connector and the parts only it uses.

- `connector`: the `LinkedIn` connector: posts, images, comments, options, lookups;
- `api`: the versioned REST headers and the error classification;
- `little`: the "little" text format of `commentary` (escaping, hashtag templates).
"""

from postmast.connectors.linkedin.connector import LinkedIn

__all__ = ["LinkedIn"]
