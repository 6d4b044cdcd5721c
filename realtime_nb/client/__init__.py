"""The asyncio client: where to connect (`Endpoint`) and a live session (`RealtimeSession`)."""

from realtime_nb.client.endpoints import Endpoint
from realtime_nb.client.errors import (
    ConnectError,
    ConnectionClosedError,
    MissingCredentialError,
    ProtocolError,
    RealtimeClientError,
    ServerError,
)
from realtime_nb.client.secret import Secret

__all__ = [
    "ConnectError",
    "ConnectionClosedError",
    "Endpoint",
    "MissingCredentialError",
    "ProtocolError",
    "RealtimeClientError",
    "Secret",
    "ServerError",
]
