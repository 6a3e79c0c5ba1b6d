"""The cache in Redis: shared by every worker and every instance that uses this Redis.

Entries expire by themselves (Redis' own expiry, set to the time-to-live plus the stale
window); Redis' ``maxmemory`` policy bounds the memory, not CACHE_MAX_MB.
"""

from redis.exceptions import RedisError

from usage.cache.entry import Entry
from usage.cache.stores import StoreError

# Delete the lead only if it is still ours: it may have expired and gone to another.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    def __init__(self, url: str, *, prefix: str, timeout: float):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self.release = self.client.register_script(RELEASE)
        self.prefix = f"{prefix}:cache"

    def close(self) -> None:
        self.client.close()

    def get(self, key: str) -> Entry | None:
        try:
            blob = self.client.get(f"{self.prefix}:e:{key}")
        except RedisError as exc:
            raise StoreError(exc) from exc
        return Entry.unpack(blob) if blob else None

    def put(self, key: str, entry: Entry, *, keep: float) -> None:
        try:
            self.client.set(f"{self.prefix}:e:{key}", entry.pack(), px=max(1, int(keep * 1000)))
        except RedisError as exc:
            raise StoreError(exc) from exc

    def lead(self, key: str, token: str, *, seconds: float) -> str:
        """Become the leader for ``key`` unless someone is: the leader's token."""
        try:
            held = self.client.set(
                f"{self.prefix}:l:{key}", token, nx=True, get=True, px=int(seconds * 1000)
            )
        except RedisError as exc:
            raise StoreError(exc) from exc
        return token if held is None else held.decode()

    def publish(self, key: str, token: str, result: Entry, *, keep: float) -> None:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.set(f"{self.prefix}:r:{key}:{token}", result.pack(), px=int(keep * 1000))
                self.release(keys=[f"{self.prefix}:l:{key}"], args=[token], client=pipe)
                pipe.execute()
        except RedisError as exc:
            raise StoreError(exc) from exc

    def poll(self, key: str, token: str) -> tuple[Entry | None, bool]:
        """The leader's result if published, and whether its lead still stands."""
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.get(f"{self.prefix}:r:{key}:{token}")
                pipe.get(f"{self.prefix}:l:{key}")
                blob, holder = pipe.execute()
        except RedisError as exc:
            raise StoreError(exc) from exc
        result = Entry.unpack(blob) if blob else None
        return result, holder is not None and holder.decode() == token
