"""Google Business Profile: the connector and the parts only it uses.

- `connector`: the `GoogleBusiness` connector: updates, events and offers, options, lookups;
- `api`: the access token from the refresh token, Google's error JSON as typed errors.
"""

from postmast.connectors.google_business.connector import GoogleBusiness

__all__ = ["GoogleBusiness"]
