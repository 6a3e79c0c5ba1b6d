"""Where cached answers live, one store per process: Redis when ``REDIS_URL`` is set (every
instance shares it), else an SQLite file beside the database that every worker process
of this instance shares.

Each store also holds the two things that make identical misses one upstream call: a
leader's lock per question, and the result it publishes for whoever waited on it.
"""

import threading

from django.conf import settings


class StoreError(Exception):
    """The store could not be read or written: the call goes on without the cache."""


_lock = threading.Lock()
_store = None


def get_store():
    global _store
    store = _store
    if store is None:
        with _lock:
            if _store is None:
                _store = _configured()
            store = _store
    return store


def reset() -> None:
    """Forget this process's store (tests that change its settings)."""
    global _store
    with _lock:
        if _store is not None:
            _store.close()
        _store = None


def _configured():
    if settings.REDIS_URL:
        from usage.cache.stores.redis import RedisStore

        return RedisStore(
            settings.REDIS_URL, prefix=settings.REDIS_PREFIX, timeout=settings.REDIS_TIMEOUT
        )
    from usage.cache.stores.embedded import EmbeddedStore

    return EmbeddedStore(settings.CACHE_FILE, max_bytes=settings.CACHE_MAX_MB * 1024 * 1024)
