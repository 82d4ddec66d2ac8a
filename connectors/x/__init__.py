"""X (Twitter): the connector and the parts only it uses.

- `connector`: the `X` connector, its length rule and its error table (in its docstring);
- `api`: authenticated requests to API v2, error classification, rate-limit windows;
- `media`: image, GIF and video uploads (simple and chunked), processing, alt text;
- `lookup`: after an unknown outcome, the search of the account's recent posts.

OAuth 1.0a signing stays in `connectors/oauth1.py`: it is not X's alone.
"""

from postmast.connectors.x.connector import X

__all__ = ["X"]
