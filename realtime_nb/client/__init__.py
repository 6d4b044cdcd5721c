"""The asyncio client: where to connect (`Endpoint`) and a live session (`RealtimeSession`), over a
WebSocket or a WebRTC call (``RealtimeSession(endpoint, transport="webrtc")``)."""

from realtime_nb.client.connection_state import ConnectionState
from realtime_nb.client.endpoints import AZURE_PREVIEW_API_VERSIONS, Endpoint
from realtime_nb.client.errors import (
    ConnectError,
    ConnectionClosedError,
    MissingCredentialError,
    ProtocolError,
    RealtimeClientError,
    ServerError,
)
from realtime_nb.client.failures import explain_failure
from realtime_nb.client.items import (
    AUDIO_PCM_KEY,
    AUDIO_RATE_KEY,
    function_call_output,
    message_text,
    truncate_point,
    user_text,
)
from realtime_nb.client.rtc_signalling import SignallingError
from realtime_nb.client.secret import Secret
from realtime_nb.client.session import (
    CONNECTION_CLOSED_EVENT,
    PROTOCOL_ERROR_EVENT,
    InvalidEventError,
    RealtimeSession,
    StreamResult,
)
from realtime_nb.client.stream import EventStream
from realtime_nb.client.transport import Transport

__all__ = [
    "AUDIO_PCM_KEY",
    "AUDIO_RATE_KEY",
    "AZURE_PREVIEW_API_VERSIONS",
    "CONNECTION_CLOSED_EVENT",
    "PROTOCOL_ERROR_EVENT",
    "ConnectError",
    "ConnectionClosedError",
    "ConnectionState",
    "Endpoint",
    "EventStream",
    "InvalidEventError",
    "MissingCredentialError",
    "ProtocolError",
    "RealtimeClientError",
    "RealtimeSession",
    "Secret",
    "ServerError",
    "SignallingError",
    "StreamResult",
    "Transport",
    "explain_failure",
    "function_call_output",
    "message_text",
    "truncate_point",
    "user_text",
]
