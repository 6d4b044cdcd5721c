"""Two process-wide adjustments of aiortc / aioice that WebRTC on one machine needs.

Both ends of realtime_nb's WebRTC use them (the engine answering calls, the client placing them);
each is idempotent and changes only the one value it names.

``allow_loopback_candidates()``
    aioice gathers host candidates from the machine's interfaces but leaves 127.0.0.1 out (a remote
    peer could never use it). Here the peer is usually on the same machine (the embedded engine and
    a notebook, a test peer), and a container may have no interface but ``lo``: without the loopback
    address such a host offers no candidate at all and ICE never starts. The patch wraps aioice's
    host-address lookup (used only for host candidates; STUN and TURN gathering are untouched) so
    127.0.0.1 is offered too whenever IPv4 candidates are gathered. A peer whose offer carries only
    an mDNS name still connects: aioice learns its address from the first check (peer-reflexive).

``fit_sctp_to_small_mtu()``
    Data-channel messages travel as SCTP DATA chunks inside DTLS inside UDP. aiortc fills a chunk
    with up to ``USERDATA_MAX_LENGTH`` bytes (about 1200), which with the DTLS record overhead of its
    CBC suites, SCTP, UDP and IPv6 headers exceeds a 1280-byte path (the IPv6 minimum, common on
    tunnels and VPNs). Such packets vanish without an error and a large event (a tool call's
    arguments, a retrieved item) stalls the channel while small ones still pass. 1100 bytes of user
    data keeps every packet under 1280 with any suite aiortc negotiates. aiortc reads the module
    value at send time, so lowering it applies to every association; it is never raised here.
"""

from __future__ import annotations

from collections.abc import Callable

LOOPBACK_V4 = "127.0.0.1"
SCTP_USER_DATA_BYTES = 1100

_MARK = "_realtime_nb_with_loopback"


def allow_loopback_candidates() -> None:
    """Offer 127.0.0.1 as a host candidate too (see the module docstring). Idempotent."""
    import aioice.ice

    lookup = aioice.ice.get_host_addresses
    if getattr(lookup, _MARK, False):
        return
    aioice.ice.get_host_addresses = _with_loopback(lookup)


def _with_loopback(lookup: Callable[..., list[str]]) -> Callable[..., list[str]]:
    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = list(lookup(use_ipv4=use_ipv4, use_ipv6=use_ipv6))
        if use_ipv4 and LOOPBACK_V4 not in addresses:
            addresses.append(LOOPBACK_V4)
        return addresses

    setattr(get_host_addresses, _MARK, True)
    get_host_addresses.__wrapped__ = lookup  # type: ignore[attr-defined]
    return get_host_addresses


def fit_sctp_to_small_mtu(user_data_bytes: int = SCTP_USER_DATA_BYTES) -> int:
    """Lower aiortc's SCTP user-data size so data-channel packets fit a 1280-byte path.

    Returns the size now in force. Idempotent; a smaller value set elsewhere is kept.
    """
    import aiortc.rtcsctptransport as sctp

    if user_data_bytes < 256 or user_data_bytes % 4:
        raise ValueError(f"user_data_bytes must be a multiple of 4, at least 256; got {user_data_bytes}")
    sctp.USERDATA_MAX_LENGTH = min(int(sctp.USERDATA_MAX_LENGTH), user_data_bytes)
    return int(sctp.USERDATA_MAX_LENGTH)
