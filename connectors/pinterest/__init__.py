"""Pinterest: the connector and the parts only it uses.

- `connector`: the `Pinterest` connector: pins with an image (bytes or URL) or a video, options, lookups;
- `api`: the bearer token and its refresh, the error classification, the video upload.
"""

from postmast.connectors.pinterest.connector import Pinterest

__all__ = ["Pinterest"]
