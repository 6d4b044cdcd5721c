"""The WebRTC flows the engine serves, as the services define them: one table, the whole truth.

* OpenAI GA: mint ``POST /v1/realtime/client_secrets``, call ``POST /v1/realtime/calls``;
* Azure GA: mint ``POST /openai/v1/realtime/client_secrets``, call ``POST /openai/v1/realtime/calls``;
* OpenAI preview: mint ``POST /v1/realtime/sessions``, call ``POST /v1/realtime?model=M``;
* Azure preview: mint ``POST /openai/realtimeapi/sessions?api-version=2025-04-01-preview``, call
  ``POST /v1/realtimertc?model=DEPLOYMENT`` (on the service, a regional host; here the same port).

A key is minted with the standard key (a JSON body) and opens calls of its flow (``application/sdp``
body, the key as ``Authorization: Bearer ek_…``). The GA call endpoints also take the "unified"
form (``multipart/form-data`` with ``sdp`` and ``session``, sent with the standard key). A call is
hung up at ``POST {calls_root}/{call_id}/hangup``, the GA calls path of its URL family, which is
also what a GA answer's ``Location`` names. A preview answer carries no ``Location`` (the services
send none: a preview call has no id its caller learns, and is ended by closing the peer connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from realtime_nb.protocol.dialect import Dialect

__all__ = ["FLOWS", "Flow", "FlowPaths"]


class Flow(Enum):
    """A WebRTC flow: a dialect and a URL family (OpenAI or Azure)."""

    GA_OPENAI = "ga-openai"
    GA_AZURE = "ga-azure"
    PREVIEW_OPENAI = "preview-openai"
    PREVIEW_AZURE = "preview-azure"

    @property
    def paths(self) -> FlowPaths:
        return FLOWS[self]

    @property
    def dialect(self) -> Dialect:
        return self.paths.dialect

    @property
    def title(self) -> str:
        return self.paths.title


@dataclass(frozen=True)
class FlowPaths:
    title: str
    dialect: Dialect
    mint: str  # where a key is minted (the query it needs, if any, is part of the hint only)
    mint_hint: str  # how an error message tells a user to mint one
    call: str  # where a call is opened with the key
    calls_root: str  # {calls_root}/{call_id} is the call's Location; /hangup below it hangs it up
    model_in_query: bool  # the call names its model (deployment) as ?model=
    unified: bool  # the call endpoint also takes multipart/form-data with the standard key
    names_call: bool  # the answer names the call: Location: {calls_root}/{call_id} (GA only)
    api_version_required: bool = False


FLOWS: dict[Flow, FlowPaths] = {
    Flow.GA_OPENAI: FlowPaths(
        "OpenAI GA",
        Dialect.GA,
        "/v1/realtime/client_secrets",
        "POST /v1/realtime/client_secrets",
        "/v1/realtime/calls",
        "/v1/realtime/calls",
        model_in_query=False,
        unified=True,
        names_call=True,
    ),
    Flow.GA_AZURE: FlowPaths(
        "Azure GA",
        Dialect.GA,
        "/openai/v1/realtime/client_secrets",
        "POST /openai/v1/realtime/client_secrets",
        "/openai/v1/realtime/calls",
        "/openai/v1/realtime/calls",
        model_in_query=False,
        unified=True,
        names_call=True,
    ),
    Flow.PREVIEW_OPENAI: FlowPaths(
        "OpenAI preview",
        Dialect.PREVIEW,
        "/v1/realtime/sessions",
        "POST /v1/realtime/sessions",
        "/v1/realtime",
        "/v1/realtime/calls",
        model_in_query=True,
        unified=False,
        names_call=False,
    ),
    Flow.PREVIEW_AZURE: FlowPaths(
        "Azure preview",
        Dialect.PREVIEW,
        "/openai/realtimeapi/sessions",
        "POST /openai/realtimeapi/sessions?api-version=2025-04-01-preview",
        "/v1/realtimertc",
        "/openai/v1/realtime/calls",
        model_in_query=True,
        unified=False,
        names_call=False,
        api_version_required=True,
    ),
}
