"""The HTTP side of placing a WebRTC call, given an SDP offer made elsewhere: mint (where the flow
needs it), POST the offer, read the answer; and the hangup.

Two callers share it, so the sequence of requests exists once: `webrtc_transport.open_webrtc` (the
offer comes from aiortc in this process) and the notebook's `Call` widget (the offer comes from the
browser page over the comm, and the kernel sends it on, so no key ever reaches the page). The
requests themselves are built and parsed by `rtc_signalling` (sans-I/O); this module only moves them
with httpx and keeps every key it used for the redaction of error bodies.
"""

from __future__ import annotations

from typing import Any

from realtime_nb.client.endpoints import Endpoint, Flow
from realtime_nb.client.errors import ConnectError, connect_failure_kind
from realtime_nb.client.rtc_signalling import (
    CallAnswer,
    EphemeralKey,
    HttpRequest,
    hangup_request,
    mint_request,
    offer_request,
    parse_answer,
    parse_hangup,
    parse_mint,
)
from realtime_nb.protocol import Dialect

__all__ = ["exchange_offer", "hang_up", "server_flow"]


def server_flow(endpoint: Endpoint) -> Flow:
    """The flow a server (the kernel) uses to place a call for a page.

    GA has the unified form (offer + session + standard key in one POST): one request, and no key of
    any kind is minted, so none can leak. Preview has no such form: the kernel mints an ephemeral key
    and POSTs the offer with it itself; the key still never leaves the kernel.
    """
    return "unified" if endpoint.dialect is Dialect.GA else "ephemeral"


async def exchange_offer(
    endpoint: Endpoint,
    offer_sdp: str,
    session: dict[str, Any],
    *,
    flow: Flow,
    timeout: float,
    key_ttl_s: int | None = None,
) -> CallAnswer:
    """Mint (flow ``"ephemeral"``), then POST `offer_sdp`; the service's answer SDP and call id.

    Raises `SignallingError` for a refused step, `ConnectError` when the service cannot be reached.
    """
    urls = endpoint.webrtc_urls(flow)
    auth = await endpoint.auth_headers()
    secrets = [v.removeprefix("Bearer ") for v in auth.values()]
    async with _http(endpoint, timeout) as http:
        key: EphemeralKey | None = None
        if urls.mint is not None:
            minted = mint_request(urls, endpoint.dialect, auth, session, ttl_s=key_ttl_s)
            status, headers, body = await _send(http, minted, endpoint)
            key = parse_mint(status, headers, body, endpoint.dialect, url=minted.url, secrets_in_use=secrets)
            secrets.append(key.value.reveal())
        request = offer_request(urls, offer_sdp, key=key, auth_headers=auth, session=session)
        status, headers, body = await _send(http, request, endpoint)
        return parse_answer(status, headers, body, url=request.url, secrets_in_use=secrets)


async def hang_up(endpoint: Endpoint, call_id: str, timeout: float) -> bool:
    """``POST .../calls/{call_id}/hangup`` with the endpoint's standard key: True if the call was
    ended, False if it was already over (404). Raises `SignallingError` / `ConnectError` otherwise."""
    auth = await endpoint.auth_headers()
    request = hangup_request(endpoint.hangup_url(call_id), auth)
    async with _http(endpoint, timeout) as http:
        status, _, body = await _send(http, request, endpoint)
    secrets = [v.removeprefix("Bearer ") for v in auth.values()]
    return parse_hangup(status, body, url=request.url, secrets_in_use=secrets)


def _http(endpoint: Endpoint, timeout: float) -> Any:
    import httpx

    # A loopback service is reached directly: an HTTP(S)_PROXY from the environment must not apply.
    return httpx.AsyncClient(timeout=timeout, trust_env=not endpoint.is_loopback, follow_redirects=False)


async def _send(http: Any, request: HttpRequest, endpoint: Endpoint) -> tuple[int, dict[str, str], bytes]:
    import httpx

    try:
        response = await http.request(
            request.method, request.url, headers=list(request.headers), content=request.body
        )
    except httpx.TimeoutException:
        raise ConnectError(
            request.url, f"no answer within {http.timeout.read:g} s ({request.step})", kind="timeout"
        ) from None
    except httpx.HTTPError as exc:
        hint = (
            " (is the local engine running? see realtime_nb.engine.start_engine)"
            if endpoint.service == "local"
            else ""
        )
        cause = exc.__cause__ or exc.__context__
        kind = connect_failure_kind(cause) if isinstance(cause, OSError) else "network"
        raise ConnectError(request.url, f"{type(exc).__name__}: {exc}{hint}", kind=kind) from None
    return response.status_code, dict(response.headers), response.content
