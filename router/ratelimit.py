"""A token bucket per destination instance, shared by every worker through Redis.

The bucket holds at most one second's worth of requests (at least one), so
``100/minute`` is a steady request every 0.6 s, never a burst of 100. A worker
takes a few tokens per Redis call and spends them locally, so a destination
that makes one request per event does not add a Redis round trip per event.
"""
from __future__ import annotations

import time

import redis

from router.config_fields import RateLimit
from router.errors import Throttled

BUCKET = """
local key, now, rate, burst, want = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens, ts = tonumber(state[1]) or burst, tonumber(state[2]) or now
-- a time further ahead than a full refill is a clock that was wrong: it must not stall the others
if ts > now + burst / rate then ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local grant = math.min(want, math.floor(tokens))
tokens = tokens - grant
-- ts never goes back: a worker whose reading of the time is older (it reached Redis later, or
-- its host's clock is behind) would otherwise have the next caller refill that span again
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(math.max(ts, now)))
redis.call('PEXPIRE', key, math.ceil(burst / rate) + 1000)
local wait = 0
if grant == 0 then wait = math.ceil((1 - tokens) / rate) end
return {grant, wait}
"""

#: waits up to this long in place; longer ones hand the event back (Throttled)
INLINE_WAIT = 0.25


class Throttle:
    """A destination's limiters: the default one and any named per-endpoint buckets."""

    def __init__(self, default: "Limiter | None", named: dict[str, "Limiter"]) -> None:
        self.default = default
        self.named = named

    def __call__(self, bucket: str | None = None) -> None:
        limiter = self.named.get(bucket, self.default) if bucket else self.default
        if limiter is not None:
            limiter()


class Limiter:
    def __init__(self, client: redis.Redis, key: str, rate: RateLimit) -> None:
        self.key = key
        self.rate_per_ms = rate.per_second / 1000.0
        self.burst = max(1.0, rate.per_second)
        self.prefetch = max(1, min(int(self.burst), 20))
        self._script = client.register_script(BUCKET)
        self._local = 0
        self._local_until = 0.0

    def take(self, want: int) -> tuple[int, float]:
        """Ask the shared bucket for up to ``want`` tokens: (granted, seconds to wait if none)."""
        granted, wait_ms = self._script(keys=[self.key], args=[int(time.time() * 1000), self.rate_per_ms, self.burst, want])
        return int(granted), int(wait_ms) / 1000.0

    def __call__(self) -> None:
        """Spend one token; sleep briefly or raise Throttled when the bucket is empty."""
        if self._local > 0 and time.monotonic() < self._local_until:
            self._local -= 1
            return
        while True:
            granted, wait = self.take(self.prefetch)
            if granted:
                self._local = granted - 1
                # unused tokens must not outlive the second they were granted for
                self._local_until = time.monotonic() + 1.0
                return
            if wait > INLINE_WAIT:
                raise Throttled(f"rate limit reached; next request allowed in {wait:.1f}s", retry_after=wait)
            time.sleep(wait)
