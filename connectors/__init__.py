"""Connectors: one module or subpackage per network behind one interface.

A connector turns content plus credentials into HTTP calls and a response into a
`PublishResult` or a typed error. It never sleeps, retries, touches the database
or reads global configuration: the worker owns policy.
"""

from postmast.connectors.base import Connector
from postmast.connectors.content import (
    FIRST_COMMENT,
    Absent,
    Content,
    Field,
    Found,
    Lookup,
    Measure,
    MediaFile,
    Option,
    Problem,
    PublishResult,
    RemoteRef,
    Renewal,
    SecretSet,
    Undecidable,
)
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    DuplicateContent,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.registry import available, get_connector

__all__ = [
    "FIRST_COMMENT",
    "Absent",
    "AuthExpired",
    "Connector",
    "ConnectorError",
    "Content",
    "DuplicateContent",
    "Field",
    "Found",
    "Lookup",
    "Measure",
    "MediaFile",
    "Option",
    "OutcomeUnknown",
    "PermanentError",
    "Problem",
    "PublishResult",
    "RateLimited",
    "RemoteRef",
    "Renewal",
    "SecretSet",
    "TransientError",
    "Undecidable",
    "available",
    "get_connector",
]
