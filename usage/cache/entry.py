"""An answer as the cache keeps it: status, upstream headers, body, when it was fetched.

Packed as one bytes value (a JSON line, then the body) so that Redis and the SQLite file
store the same thing and a read is one value, not a hash of fields.
"""

import json
from dataclasses import dataclass


@dataclass(slots=True)
class Entry:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    stored_at: float  # wall-clock seconds, shared by every process and instance
    ttl: float = 0.0
    # For a leader's published result: the outcome its waiters record ("" for an answer
    # to keep), and "retry" / "pass" when it has no answer to share.
    outcome: str = ""

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)

    def fresh(self, now: float) -> bool:
        return self.age(now) < self.ttl

    def stale_usable(self, now: float, stale_seconds: float) -> bool:
        """Expired less than ``stale_seconds`` ago: good enough when the upstream fails."""
        return self.age(now) < self.ttl + stale_seconds

    def pack(self) -> bytes:
        head = {
            "s": self.status,
            "h": self.headers,
            "t": self.stored_at,
            "ttl": self.ttl,
            "o": self.outcome,
        }
        return json.dumps(head, separators=(",", ":")).encode() + b"\n" + self.body

    @classmethod
    def unpack(cls, blob: bytes) -> "Entry":
        head, _, body = bytes(blob).partition(b"\n")
        meta = json.loads(head)
        return cls(
            status=meta["s"],
            headers=[tuple(pair) for pair in meta["h"]],
            body=body,
            stored_at=meta["t"],
            ttl=meta["ttl"],
            outcome=meta["o"],
        )
