"""The response verbs: create (optionally wait for it to finish), cancel, clear the output buffer."""

from __future__ import annotations

import asyncio
from typing import Any

from realtime_nb.client.core import Event, SessionCore, check_id
from realtime_nb.protocol import new_id, response_create


class ResponseVerbs(SessionCore):
    """``response.*`` and ``output_audio_buffer.clear`` on a session."""

    def _response_create_wire(self, options: dict[str, Any]) -> Event:
        """The ``response.create`` wire event for `create_response`'s options, in the dialect.

        The one place that turns those options into an event (`ConfigError`: nothing was sent);
        everything else in `create_response` is about waiting for the reply. The options are
        validated once, by `protocol.ResponseParams` (the rules the engine reads response.create
        with); the envelope is built here, so the catalog check other verbs get has nothing to add.
        """
        return response_create(self.dialect, event_id=new_id("event"), **options)

    async def create_response(
        self, *, wait: bool = False, timeout: float | None = None, **options: Any
    ) -> str | Event:
        """Ask for a response; returns its id once ``response.created`` arrives.

        `options` are those of `realtime_nb.protocol.response_create` (``instructions``,
        ``output_modalities``, ``voice``, ``output_format``, ``tools``, ``tool_choice``,
        ``max_output_tokens``, ``conversation="none"``, ``metadata``, ``input``; ``temperature`` in
        preview only), validated before sending (`ConfigError`) and rendered for the dialect.
        With ``wait=True`` it returns the final response object of ``response.done`` (waiting up
        to `timeout`, default `response_timeout`). The server does not echo which
        request a ``response.created`` answers: with VAD's automatic responses a concurrent
        auto-response can be taken for ours.
        """
        self._check_open()
        wire = self._response_create_wire(options)
        created_id: dict[str, str] = {}

        def first_created(e: Event) -> bool:
            created_id.setdefault("id", str((e.get("response") or {}).get("id")))
            return True

        # Both waiters exist before sending: a fast peer's response.done can arrive before this
        # coroutine resumes after response.created.
        done = self._waiters.add(
            "response.done",
            lambda e: "id" in created_id and (e.get("response") or {}).get("id") == created_id["id"],
            event_id=wire["event_id"],
        )
        try:
            await self._request(wire, "response.created", first_created, exclusive=True, timeout=timeout)
            if not wait:
                return created_id["id"]
            try:
                reply = await asyncio.wait_for(done.future, timeout or self.response_timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"response {created_id['id']} not done within {timeout or self.response_timeout:g} s"
                ) from None
            return dict(reply["response"])
        finally:
            self._waiters.discard(done)
            if done.future.done() and not done.future.cancelled():
                done.future.exception()  # a refusal reached both waiters; it is raised above once
            else:
                done.future.cancel()

    async def cancel_response(self, response_id: str | None = None, timeout: float | None = None) -> Event:
        """Cancel the active response; returns its final ``response.done`` response object.

        Raises `ServerError` (``response_cancel_not_active``) when nothing is running.
        """
        event: Event = {"type": "response.cancel"}
        if response_id is not None:
            check_id(response_id, "response_id")
            event["response_id"] = response_id
        wire = self._prepare(event)
        target = response_id or self.active_response_id
        reply = await self._request(
            wire,
            "response.done",
            lambda e: target is None or (e.get("response") or {}).get("id") == target,
            timeout=timeout,
        )
        return dict(reply["response"])

    async def clear_output_audio(self, wait: bool = False, timeout: float | None = None) -> str:
        """Send ``output_audio_buffer.clear``; returns its event_id.

        WebRTC/SIP only on the services (the server holds the playout buffer there): on a
        ``RealtimeSession(..., transport="webrtc")`` it drops the audio the server still holds for the
        track, the server answers ``output_audio_buffer.cleared`` and truncates the item at what it
        sent (send `cancel_response` first to stop the response itself). Over a WebSocket the
        services do not implement it, so by default this does not wait for
        ``output_audio_buffer.cleared`` (the local engine sends it: use ``wait=True``). To stop
        playback over a WebSocket, stop the local player and `truncate()`.
        """
        wire = self._prepare({"type": "output_audio_buffer.clear"})
        if wait:
            await self._request(wire, "output_audio_buffer.cleared", exclusive=True, timeout=timeout)
        else:
            await self._send_wire(wire)
        return str(wire["event_id"])
