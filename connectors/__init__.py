"""Connectors: one module per network behind one interface.

A connector turns content plus credentials into HTTP calls and a response into a
`PublishResult` or a typed error. It never sleeps, retries, touches the database
or reads global configuration: the worker owns policy.
"""

from connectors.base import Connector, Content, Field, Measure, Problem, PublishResult
from connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from connectors.registry import available, get_connector

__all__ = [
    "AuthExpired",
    "Connector",
    "ConnectorError",
    "Content",
    "Field",
    "Measure",
    "OutcomeUnknown",
    "PermanentError",
    "Problem",
    "PublishResult",
    "RateLimited",
    "TransientError",
    "available",
    "get_connector",
]
