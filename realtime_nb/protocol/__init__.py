"""Sans-I/O protocol layer: both dialects, translation, session configuration, ids.

No sockets, no asyncio, no numpy here: everything is pure functions and dataclasses.
"""

from realtime_nb.protocol.dialect import GA_ONLY, Dialect, canonical_type, wire_type
from realtime_nb.protocol.ids import new_id

__all__ = ["GA_ONLY", "Dialect", "canonical_type", "new_id", "wire_type"]
