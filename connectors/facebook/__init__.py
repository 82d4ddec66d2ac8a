"""Facebook Pages: the connector and the parts only it uses.

- `connector`: the `Facebook` connector: feed posts, photos, video, comments, options;
- `media`: photo uploads and the resumable video upload;
- `lookup`: reconciliation by reading the Page's recent posts.
"""

from postmast.connectors.facebook.connector import Facebook

__all__ = ["Facebook"]
