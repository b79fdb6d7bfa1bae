"""The delivery queue in Redis: buffers, drain tokens, leases, retries, dead letters.

Every key lives here. For a destination instance ``d`` under namespace ``ns``:

    ns:buf:d          list    envelopes waiting (RPUSH at ingest)
    ns:drainers:d     zset    drain token -> deadline (ms); at most ``concurrency`` live,
                              so ingest enqueues an RQ drain job only when none is live
    ns:inflight:d     zset    batch id -> lease deadline; ns:batch:d:<id> holds its envelopes
    ns:retry:d        zset    envelope -> due time (ms)
    ns:dead:d         stream  dead letters (field ``d``: JSON), trimmed by age
    ns:stats:d        hash    delivered / retried / rejected / skipped / forgotten counters
    ns:breaker:d      hash    the circuit breaker: fails / until / probe (see CLAIM)
    ns:dedup:<src>:<messageId>, ns:suppressed (set of user-id hashes),
    ns:forgotten (hash user-id hash -> delete time), ns:rejected (stream of ingest rejections)
    ns:m:...          per-minute counters and latency histograms (router/timeseries.py)
    ns:failing:d      string  set while the destination fails: when and why (router/logs.py)
    ns:busy:d, ns:held:d:<user>, ns:ready:d   per-user order (``ordering: per_user``), see ORDER_PRELUDE
    ns:tr:<messageId>, ns:trring, ns:tu:<user hash>   event traces (router/trace.py)

Each state change is one Lua script, so a crash between two steps can't lose
or double an event, and ingest costs one round trip per request.

An envelope is the JSON ``{"u": user hash, "r": received ms, "id", "a": attempts,
"f": first attempt ms, "l": last error, "e": the event}``; ``u`` and ``r``
come first so scripts can read them without decoding. An anonymous event (no userId)
has ``"o"``, its anonymousId hash, right after ``u``: the ordered scripts read both.
"""
from __future__ import annotations

import enum
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import orjson
import redis

from router import timeseries

INGEST = """
local ns, now, ttl, src, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
-- observe: the source's minute bucket (router/timeseries.py); trace cap (0 = no traces) and the
-- request's distinct trace entries, which each item names by index (router/trace.py)
local minute, mexpire, tcap, ntr = ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local sup = ns .. ':suppressed'
local check_sup = redis.call('SCARD', sup) > 0
local status, touched, order = {}, {}, {}
local i = 10 + ntr
while i <= #ARGV do
  local mid, uh, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local env, tr = ARGV[i + 3 + n], ARGV[9 + tonumber(ARGV[i + 4 + n])]
  local st = 'accepted'
  if check_sup and uh ~= '' and redis.call('SISMEMBER', sup, uh) == 1 then
    st = 'suppressed'
  elseif mid ~= '' and not redis.call('SET', ns .. ':dedup:' .. src .. ':' .. mid, '1', 'NX', 'PX', ttl) then
    st = 'duplicate'
  else
    for j = 1, n do
      local d = ARGV[i + 2 + j]
      redis.call('RPUSH', ns .. ':buf:' .. d, env)
      if not touched[d] then touched[d] = true; order[#order + 1] = d end
    end
  end
  status[#status + 1] = st
  -- observe: the event's trace begins (or a duplicate is noted), bounded by the ring
  if tcap > 0 and mid ~= '' then
    local tk = ns .. ':tr:' .. mid
    if redis.call('RPUSH', tk, string.sub(tr, 1, -2) .. ',"status":"' .. st .. '"}') == 1 then
      redis.call('PEXPIRE', tk, ttl)
      local ring = ns .. ':trring'
      if redis.call('RPUSH', ring, mid) > tcap then redis.call('DEL', ns .. ':tr:' .. redis.call('LPOP', ring)) end
    end
    if uh ~= '' and st ~= 'suppressed' then  -- a suppressed user is not indexed by their hash
      local uk = ns .. ':tu:' .. uh
      redis.call('ZADD', uk, now, mid)
      redis.call('ZREMRANGEBYRANK', uk, 0, -101)
      redis.call('PEXPIRE', uk, ttl)
    end
  end
  i = i + 5 + n
end
local counts = {}
for _, st in ipairs(status) do counts[st] = (counts[st] or 0) + 1 end
for st, c in pairs(counts) do redis.call('HINCRBY', ns .. ':stats:_ingest', st, c) end
-- observe: per-source counters, per minute and in total (router/timeseries.py)
local mk = ns .. ':m:s:' .. src .. ':' .. minute
for st, c in pairs(counts) do
  redis.call('HINCRBY', mk, st, c)
  redis.call('HINCRBY', ns .. ':m:src:' .. src, st, c)
end
if #status > 0 then redis.call('EXPIREAT', mk, mexpire) end
local wake = {}
for _, d in ipairs(order) do
  local dk = ns .. ':drainers:' .. d
  redis.call('ZREMRANGEBYSCORE', dk, '-inf', now)
  if redis.call('ZCARD', dk) == 0 then
    local tok = tostring(redis.call('INCR', ns .. ':seq'))
    redis.call('ZADD', dk, now + lease, tok)
    wake[#wake + 1] = d
    wake[#wake + 1] = tok
  end
end
return {status, wake}
"""

PUSH = """
local ns, d, now, lease, front = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local buf = ns .. ':buf:' .. d
if #ARGV > 5 then
  if front == '1' then
    for i = #ARGV, 6, -1 do redis.call('LPUSH', buf, ARGV[i]) end
  else
    redis.call('RPUSH', buf, unpack(ARGV, 6))
  end
end
local dk = ns .. ':drainers:' .. d
redis.call('ZREMRANGEBYSCORE', dk, '-inf', now)
if redis.call('LLEN', buf) > 0 and redis.call('ZCARD', dk) == 0 then
  local tok = tostring(redis.call('INCR', ns .. ':seq'))
  redis.call('ZADD', dk, now + lease, tok)
  return tok
end
return ''
"""

# The circuit breaker of a destination, ns:breaker:d (hash), shared by every worker:
#   fails  consecutive batches the vendor did not answer (timeout, refused/reset connection)
#   until  ms: while now < until the breaker is open and no batch is claimed; after it,
#          half-open: one drainer (``probe``) claims batches until a settle closes or reopens it
#   probe  the drain token of the half-open probe
# Closed = the key is absent (or only ``fails`` below the threshold).
CLAIM = """
local ns, d, tok, now, lease, n, bid, conc, pickup =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local buf, dk = ns .. ':buf:' .. d, ns .. ':drainers:' .. d
redis.call('ZADD', dk, now + lease, tok)
-- breaker: open -> nothing, and the caller parks its token until it half-opens;
-- half-open -> only the probe drainer claims, and it spawns no other
local bk = ns .. ':breaker:' .. d
local opened = tonumber(redis.call('HGET', bk, 'until') or '0')
if opened > now then return {{}, '', opened, 0} end
if opened > 0 then
  local probe = redis.call('HGET', bk, 'probe')
  local alive = probe and probe ~= tok and tonumber(redis.call('ZSCORE', dk, probe) or '0') > now
  if alive then return {{}, '', 0, 0} end
  redis.call('HSET', bk, 'probe', tok)
end
local items = redis.call('LPOP', buf, n)
if not items then return {{}, '', 0, 0} end
redis.call('RPUSH', ns .. ':batch:' .. d .. ':' .. bid, unpack(items))
redis.call('ZADD', ns .. ':inflight:' .. d, now + lease, bid)
local spawn = ''
if opened == 0 and redis.call('LLEN', buf) >= n then
  redis.call('ZREMRANGEBYSCORE', dk, '-inf', now)
  if redis.call('ZCARD', dk) < conc then
    spawn = tostring(redis.call('INCR', ns .. ':seq'))
    redis.call('ZADD', dk, now + pickup, spawn)
  end
end
-- fairness: does a drain job of another destination wait for a worker? (ARGV[10..]: their RQ queue lists)
local others = 0
for k = 10, #ARGV do
  if redis.call('LLEN', ARGV[k]) > 0 then others = 1; break end
end
return {items, spawn, 0, others}
"""

EXTEND = """
local ns, d, tok, bid, deadline = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
redis.call('ZADD', ns .. ':drainers:' .. d, deadline, tok)
if bid ~= '' then redis.call('ZADD', ns .. ':inflight:' .. d, 'XX', deadline, bid) end
return 1
"""

SETTLE = """
local ns, d, bid, minid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- GDPR: an item of a user deleted while this batch was at the vendor is dropped, not stored
-- (the delete purged everything else; forgotten:<u> holds the delete's time)
local function gone(item)
  local u = string.match(item, '"u":"(%x+)"')
  if not u then return false end
  local t = redis.call('GET', ns .. ':forgotten:' .. u)
  if not t then return false end
  local r = string.match(item, '"r":(%d+)')
  return r == nil or tonumber(r) <= tonumber(t)
end
-- breaker: what this batch said about the vendor, applied even when the lease was lost.
-- 'ok' (it answered) closes; 'fail' (no answer) counts, and from ``threshold`` consecutive
-- ones opens for pause * 2^(fails - threshold), at most maxpause; '' tells nothing
local now, verdict, threshold, pause, maxpause =
  tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local bk = ns .. ':breaker:' .. d
if verdict == 'ok' then
  redis.call('DEL', bk)
elseif verdict == 'fail' then
  local fails = redis.call('HINCRBY', bk, 'fails', 1)
  if fails >= threshold then
    local wait = math.floor(math.min(maxpause, pause * 2 ^ math.min(fails - threshold, 30)))
    redis.call('HSET', bk, 'until', now + wait)
    redis.call('HDEL', bk, 'probe')
  end
  redis.call('PEXPIRE', bk, maxpause + 86400000)
end
if redis.call('ZREM', ns .. ':inflight:' .. d, bid) == 0 then return 0 end
redis.call('DEL', ns .. ':batch:' .. d .. ':' .. bid)
-- observe: the minute's counters and latency buckets, and the failing/recovered state
-- (router/timeseries.py, router/logs.py), the events' trace entries (router/trace.py).
-- ARGV 10..: minute, expire-at, n, n (field, count) pairs, health, note, g, g x (entry, k, k messageIds),
-- a delivered exchange for the recent-deliveries sample ('' for none) and the sample's length
local mkey, nm = ns .. ':m:d:' .. d .. ':' .. ARGV[10], tonumber(ARGV[12])
local i = 13
for _ = 1, nm do
  redis.call('HINCRBY', mkey, ARGV[i], ARGV[i + 1])
  if string.sub(ARGV[i], 1, 1) == 'l' then redis.call('HINCRBY', ns .. ':m:lat:' .. d, ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
if nm > 0 then redis.call('EXPIREAT', mkey, ARGV[11]) end
local health, note, change = ARGV[i], ARGV[i + 1], ''
i = i + 2
local fk = ns .. ':failing:' .. d
if health == 'fail' then
  if redis.call('SET', fk, note, 'NX') then change = 'failing' end
elseif health == 'ok' then
  local was = redis.call('GET', fk)
  if was then redis.call('DEL', fk); change, note = 'recovered', was end
end
local ngroups = tonumber(ARGV[i]); i = i + 1
for _ = 1, ngroups do
  local entry, k = ARGV[i], tonumber(ARGV[i + 1])
  for j = i + 2, i + 1 + k do redis.call('RPUSHX', ns .. ':tr:' .. ARGV[j], entry) end
  i = i + 2 + k
end
local sample, cap = ARGV[i], tonumber(ARGV[i + 1])
i = i + 2
if sample ~= '' and cap > 0 and not gone(sample) then
  local sk = ns .. ':sample:' .. d
  redis.call('LPUSH', sk, sample)
  redis.call('LTRIM', sk, 0, cap - 1)
end
-- end observe
local nretry = tonumber(ARGV[i]); i = i + 1
for _ = 1, nretry do
  if not gone(ARGV[i + 1]) then redis.call('ZADD', ns .. ':retry:' .. d, ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
local nfront = tonumber(ARGV[i]); i = i + 1
for k = i + nfront - 1, i, -1 do if not gone(ARGV[k]) then redis.call('LPUSH', ns .. ':buf:' .. d, ARGV[k]) end end
i = i + nfront
local ndead = tonumber(ARGV[i]); i = i + 1
for _ = 1, ndead do
  if not gone(ARGV[i]) then redis.call('XADD', ns .. ':dead:' .. d, 'MINID', '~', minid, '*', 'd', ARGV[i]) end
  i = i + 1
end
local stats = ns .. ':stats:' .. d
while i < #ARGV do
  if tonumber(ARGV[i + 1]) > 0 then redis.call('HINCRBY', stats, ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
return {1, change, note}
"""

# ``wake`` '0': the drainer yielded its worker to another destination's waiting job, so it
# hands out no successor (which RQ's queue order could pick first); a remaining drainer's
# claim, the next ingest or the scheduler's tick wakes the destination again.
RELEASE = """
local ns, d, tok, now, park, pickup, wake =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local dk = ns .. ':drainers:' .. d
if park > now then redis.call('ZADD', dk, park, tok); return '' end
redis.call('ZREM', dk, tok)
redis.call('ZREMRANGEBYSCORE', dk, '-inf', now)
if wake == '1' and redis.call('LLEN', ns .. ':buf:' .. d) > 0 and redis.call('ZCARD', dk) == 0 then
  local t = tostring(redis.call('INCR', ns .. ':seq'))
  redis.call('ZADD', dk, now + pickup, t)
  return t
end
return ''
"""

# Give a claimed batch back at once (its drain job could not settle it): the envelopes go
# to the head of the buffer as they were, no attempt used. The lease no longer needs to lapse.
RETURN = """
local ns, d, bid = ARGV[1], ARGV[2], ARGV[3]
if redis.call('ZREM', ns .. ':inflight:' .. d, bid) == 0 then return 0 end
local bk = ns .. ':batch:' .. d .. ':' .. bid
local items = redis.call('LRANGE', bk, 0, -1)
for k = #items, 1, -1 do redis.call('LPUSH', ns .. ':buf:' .. d, items[k]) end
redis.call('DEL', bk)
return #items
"""

TICK = """
local ns, d, now, pickup, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local buf, rk, ik = ns .. ':buf:' .. d, ns .. ':retry:' .. d, ns .. ':inflight:' .. d
local due = redis.call('ZRANGEBYSCORE', rk, '-inf', now, 'LIMIT', 0, limit)
if #due > 0 then
  redis.call('RPUSH', buf, unpack(due))
  redis.call('ZREM', rk, unpack(due))
end
local reaped = 0
for _, bid in ipairs(redis.call('ZRANGEBYSCORE', ik, '-inf', now)) do
  local bk = ns .. ':batch:' .. d .. ':' .. bid
  local items = redis.call('LRANGE', bk, 0, -1)
  for k = #items, 1, -1 do redis.call('LPUSH', buf, items[k]) end
  reaped = reaped + #items
  redis.call('DEL', bk)
  redis.call('ZREM', ik, bid)
end
local dk = ns .. ':drainers:' .. d
redis.call('ZREMRANGEBYSCORE', dk, '-inf', now)
local tok = ''
if redis.call('LLEN', buf) > 0 and redis.call('ZCARD', dk) == 0 then
  tok = tostring(redis.call('INCR', ns .. ':seq'))
  redis.call('ZADD', dk, now + pickup, tok)
end
return {#due, reaped, tok}
"""

# Remove every envelope of the given users (by hash) from a destination's buffer,
# retries, in-flight batches and dead letters: the router forgets deleted users.
# ``"u"`` is the first key of envelopes and records, so the first match is it.
PURGE = """
local ns, d = ARGV[1], ARGV[2]
local doomed = {}
for i = 3, #ARGV do doomed[ARGV[i]] = true end
local function hit(item) local u = string.match(item, '"u":"(%x*)"'); return u ~= nil and doomed[u] end
local removed = 0
local function drop_from_list(key)
  for _, item in ipairs(redis.call('LRANGE', key, 0, -1)) do
    if hit(item) then removed = removed + redis.call('LREM', key, 0, item) end
  end
end
if d ~= '' then
  -- observe: the recent-deliveries sample holds whole requests (other users' events too): it refills
  redis.call('DEL', ns .. ':sample:' .. d)
  drop_from_list(ns .. ':buf:' .. d)
  for _, bid in ipairs(redis.call('ZRANGE', ns .. ':inflight:' .. d, 0, -1)) do
    drop_from_list(ns .. ':batch:' .. d .. ':' .. bid)
  end
  local rk = ns .. ':retry:' .. d
  for _, item in ipairs(redis.call('ZRANGE', rk, 0, -1)) do
    if hit(item) then removed = removed + redis.call('ZREM', rk, item) end
  end
  -- ordering: the users' held events, and their busy / ready marks
  for u in pairs(doomed) do
    local hk = ns .. ':held:' .. d .. ':' .. u
    removed = removed + redis.call('LLEN', hk)
    redis.call('DEL', hk)
    redis.call('HDEL', ns .. ':busy:' .. d, u)
    redis.call('SREM', ns .. ':ready:' .. d, u)
  end
end
local streams = {ns .. ':rejected'}
if d ~= '' then streams = {ns .. ':dead:' .. d} end
for _, xk in ipairs(streams) do
  for _, entry in ipairs(redis.call('XRANGE', xk, '-', '+')) do
    if hit(entry[2][2]) then removed = removed + redis.call('XDEL', xk, entry[1]) end
  end
end
return removed
"""


# --- per-user order (``ordering: per_user``) --------------------------------------------
# Extra keys of an ordered destination d:
#   ns:busy:d        hash  user -> the batch id holding the user's oldest events, 'r' while that
#                          event waits in ns:retry:d, or 'ready': the user's later events wait
#   ns:held:d:<user> list  the user's events that wait, oldest first
#   ns:ready:d       set   the 'ready' users (none in flight or retrying, events held): the next
#                          claims take them
# Invariant: a user's held events are older than the user's events in the buffer, and a
# user with held events is in ns:busy:d, so one HSETNX tells a claim whether it may take. The ordered scripts are the unordered ones with
# the steps below swapped in (text substitution, checked), so ``ordering: none`` runs the
# scripts above unchanged.
ORDER_PRELUDE = """
local busyk, readyk, heldp = ARGV[1] .. ':busy:' .. ARGV[2], ARGV[1] .. ':ready:' .. ARGV[2], ARGV[1] .. ':held:' .. ARGV[2] .. ':'
-- the ordering key: the user-id hash, else the anonymousId hash ("o", right after it); '' = unordered
local function okey(item)
  local u = string.match(item, '^{"u":"(%x*)"')
  if u == '' then u = string.match(item, '^{"u":"","o":"(%x*)"') end
  return u or ''
end
"""

# CLAIM: the ready users' held events (at most ``per`` each; an event already attempted goes
# alone, as a probe) for half the batch, then at most ``scan`` buffer events oldest first: a free
# user's are taken (at most ``per``), a busy or ready user's move to the tail of its held list;
# then ready users again for what room is left.
ORDER_TAKE = """
local per, scan = tonumber(ARGV[10]), tonumber(ARGV[11])
local items, st, held = {}, {}, {}
local function from_ready(upto)
  if #items >= upto or redis.call('SCARD', readyk) == 0 then return end
  for _, u in ipairs(redis.call('SRANDMEMBER', readyk, upto - #items)) do
    if #items >= upto then break end
    redis.call('SREM', readyk, u)
    st[u] = 0
    local b = redis.call('HGET', busyk, u)
    if b == 'ready' or not b then
      local hk = heldp .. u
      local head = redis.call('LINDEX', hk, 0)
      if head then
        local k = math.min(per, upto - #items)
        if tonumber(string.match(head, '^{.-,"a":(%d+),') or '0') > 0 then k = 1 end
        for _, it in ipairs(redis.call('LPOP', hk, k)) do items[#items + 1] = it end
        redis.call('HSET', busyk, u, bid)
      else
        redis.call('HDEL', busyk, u)
      end
    end
  end
end
-- held users fill at most half a batch before the buffer is looked at: newcomers keep flowing
from_ready(math.ceil(n / 2))
local scanned = 0
while #items < n and scanned < scan do
  local w = redis.call('LRANGE', buf, scanned, scanned + math.min(n, scan - scanned) - 1)
  if #w == 0 then break end
  for _, it in ipairs(w) do
    scanned = scanned + 1
    local u = okey(it)
    if u == '' then
      items[#items + 1] = it
    else
      local c = st[u]
      if c == nil then
        c = 0
        if redis.call('HSETNX', busyk, u, bid) == 1 then c = per end
      end
      if c > 0 then
        items[#items + 1] = it
        st[u] = c - 1
      else
        st[u] = 0
        local h = held[u]
        if not h then h = {}; held[u] = h end
        h[#h + 1] = it
      end
    end
    if #items >= n then break end
  end
end
if scanned > 0 then redis.call('LTRIM', buf, scanned, -1) end
for u, h in pairs(held) do redis.call('RPUSH', heldp .. u, unpack(h)) end
from_ready(n)
if #items == 0 then
  local more = 0
  if scanned > 0 and redis.call('LLEN', buf) > 0 then more = 1 end
  return {{}, '', 0, 0, more}
end
"""

# SETTLE: per user of the batch, its unfinished later events go back to the head of its held
# list; the user stays busy when its oldest went to retry, else it is released (ready when
# events wait). A dead letter of a user says how many of its later events now continue.
ORDER_SETTLE = """
local nu = tonumber(ARGV[i]); i = i + 1
for _ = 1, nu do
  local u, keep, nh = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local hk = heldp .. u
  for k = i + 2 + nh, i + 3, -1 do if not gone(ARGV[k]) then redis.call('LPUSH', hk, ARGV[k]) end end
  i = i + 3 + nh
  if keep == '1' and redis.call('EXISTS', ns .. ':forgotten:' .. u) == 0 then
    redis.call('HSET', busyk, u, 'r')
  elseif redis.call('EXISTS', hk) == 1 then
    redis.call('HSET', busyk, u, 'ready')
    redis.call('SADD', readyk, u)
  else
    redis.call('HDEL', busyk, u)
  end
end
local nd = tonumber(ARGV[i]); i = i + 1
for _ = 1, nd do
  local u, rec = ARGV[i], ARGV[i + 1]
  if u ~= '' then rec = string.sub(rec, 1, -2) .. ',"held_back":' .. redis.call('LLEN', heldp .. u) .. '}' end
  if not gone(rec) then redis.call('XADD', ns .. ':dead:' .. d, 'MINID', '~', minid, '*', 'd', rec) end
  i = i + 2
end
local stats = ns .. ':stats:' .. d"""

# a batch given back (RETURN) or reaped (TICK): its events go back to the head of their
# users' held lists, and the users are released
ORDER_GIVE_BACK = """
  for k = #items, 1, -1 do
    local u = okey(items[k])
    if u == '' then redis.call('LPUSH', ns .. ':buf:' .. d, items[k]) else redis.call('LPUSH', heldp .. u, items[k]) end
  end
  for k = 1, #items do
    local u = okey(items[k])
    if u ~= '' then
      local b = redis.call('HGET', busyk, u)
      if b == bid or not b then redis.call('HSET', busyk, u, 'ready'); redis.call('SADD', readyk, u) end
    end
  end
"""

# TICK: a due retry is its user's oldest event: the head of its held list, the user ready
ORDER_DUE = """
if #due > 0 then
  redis.call('ZREM', rk, unpack(due))
  for _, it in ipairs(due) do
    local u = okey(it)
    if u == '' then
      redis.call('RPUSH', buf, it)
    else
      redis.call('LPUSH', heldp .. u, it)
      local owner = redis.call('HGET', busyk, u)
      if owner == 'r' or owner == 'ready' or not owner then redis.call('HSET', busyk, u, 'ready'); redis.call('SADD', readyk, u) end
    end
  end
end
"""

ORDER_PENDING = "(redis.call('LLEN', buf) > 0 or redis.call('SCARD', readyk) > 0)"

# A destination switched back to ``ordering: none``: its held events return to the buffer head.
UNHOLD = ORDER_PRELUDE + """
local ns, d = ARGV[1], ARGV[2]
if redis.call('EXISTS', busyk, readyk) == 0 then return 0 end
local users = redis.call('SMEMBERS', readyk)
for _, u in ipairs(redis.call('HKEYS', busyk)) do users[#users + 1] = u end
local buf, moved = ns .. ':buf:' .. d, 0
for _, u in ipairs(users) do
  local items = redis.call('LRANGE', heldp .. u, 0, -1)
  for k = #items, 1, -1 do redis.call('LPUSH', buf, items[k]) end
  moved = moved + #items
  redis.call('DEL', heldp .. u)
end
redis.call('DEL', busyk, readyk)
return moved
"""


def _variant(script: str, *swaps: tuple[str, str]) -> str:
    """The ordered twin of an unordered script: each swapped text must occur exactly once."""
    for old, new in swaps:
        assert script.count(old) == 1, old
        script = script.replace(old, new)
    return ORDER_PRELUDE + script


CLAIM_ORDERED = _variant(
    CLAIM,
    ("local items = redis.call('LPOP', buf, n)\nif not items then return {{}, '', 0, 0} end\n", ORDER_TAKE),
    ("redis.call('LLEN', buf) >= n", "redis.call('LLEN', buf) + redis.call('SCARD', readyk) >= n"),
    ("for k = 10, #ARGV do", "for k = 12, #ARGV do"),
)
SETTLE_ORDERED = _variant(SETTLE, ("local stats = ns .. ':stats:' .. d", ORDER_SETTLE))
RETURN_ORDERED = _variant(RETURN, ("for k = #items, 1, -1 do redis.call('LPUSH', ns .. ':buf:' .. d, items[k]) end\n", ORDER_GIVE_BACK))
TICK_ORDERED = _variant(
    TICK,
    ("""if #due > 0 then
  redis.call('RPUSH', buf, unpack(due))
  redis.call('ZREM', rk, unpack(due))
end
""", ORDER_DUE),
    ("  for k = #items, 1, -1 do redis.call('LPUSH', buf, items[k]) end\n", ORDER_GIVE_BACK),
    ("if redis.call('LLEN', buf) > 0 and", f"if {ORDER_PENDING} and"),
)
RELEASE_ORDERED = _variant(
    RELEASE,
    ("redis.call('LLEN', ns .. ':buf:' .. d) > 0", ORDER_PENDING.replace("buf", "ns .. ':buf:' .. d", 1)),
)
#: at most this many of one user's events go in one batch
PER_USER = 25


def scan_limit(batch_size: int) -> int:
    """How many buffer events one ordered claim looks at, at most: enough to fill a batch past
    busy users, bounded so that a user with thousands of waiting events can't stall a claim."""
    return min(5000, 4 * batch_size + 100)  # also keeps unpack() below Lua's stack limit


def now_ms() -> int:
    return int(time.time() * 1000)


def user_hash(user_id: Any) -> str:
    """The only form in which the router keeps a user id outside the event itself."""
    if user_id in (None, ""):
        return ""
    return hashlib.sha256(str(user_id).encode("utf-8")).hexdigest()[:32]


def subject_hash(event: dict[str, Any]) -> str:
    """The user hash an event is filed under: none for a delete, so neither suppressing nor
    purging the user can ever drop the delete itself."""
    return "" if event.get("type") == "delete" else user_hash(event.get("userId"))


def _envelope(event: dict[str, Any], event_id: str, received_ms: int, regulation: str, uhash: str | None) -> dict[str, Any]:
    """The envelope's fields, in the order the scripts read them. ``uhash``: the event's subject_hash,
    when the caller has it already. A delete carries its regulation id (``g``) for status tracking.
    An event with an anonymousId and no userId carries ``o``, the key its user's events are ordered
    by (``ordering: per_user``), right after ``u``."""
    u = subject_hash(event) if uhash is None else uhash
    env: dict[str, Any] = {"u": u}
    if not u and event.get("anonymousId") not in (None, "") and event.get("type") != "delete":
        env["o"] = user_hash("anon:" + str(event["anonymousId"]))
    env.update(r=received_ms, id=event_id, a=0, f=0)
    if event.get("type") == "delete":
        env["g"] = regulation
    env["e"] = event  # last: scripts read "u" at the front without decoding
    return env


def envelope(event: dict[str, Any], event_id: str, received_ms: int, regulation: str = "", uhash: str | None = None) -> str:
    """One event as it waits in Redis (JSON text)."""
    return json.dumps(_envelope(event, event_id, received_ms, regulation, uhash), separators=(",", ":"), ensure_ascii=False)


def envelope_bytes(event: dict[str, Any], event_id: str, received_ms: int, regulation: str = "", uhash: str | None = None) -> bytes:
    """``envelope`` as UTF-8, written by orjson (ingest's hot path). For an event that holds no
    NaN/Infinity (orjson would write null): ingest has checked that. Integers beyond 64 bits and
    nesting past orjson's limit are written by ``json``, as ``envelope`` does."""
    env = _envelope(event, event_id, received_ms, regulation, uhash)
    try:
        return orjson.dumps(env)
    except orjson.JSONEncodeError:
        return json.dumps(env, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Claimed:
    batch_id: str
    items: list[bytes]
    spawn: str = ""
    #: ms: the destination's circuit breaker is open until then (nothing was claimed)
    open_until: int = 0
    #: a drain job of another destination is waiting for a worker
    others_waiting: bool = False
    #: ordered: nothing could be taken (its users were busy), but the buffer has more to look at
    more: bool = False


class Verdict(str, enum.Enum):
    """What a batch told the circuit breaker about the vendor."""

    ANSWERED = "ok"
    NO_ANSWER = "fail"
    UNKNOWN = ""


@dataclass(frozen=True)
class Breaker:
    """A destination's circuit breaker: open after ``failures`` batches in a row got no answer,
    for ``pause`` seconds (doubling each time the probe fails, at most ``max_pause``)."""

    failures: int = 1
    pause: float = 5.0
    max_pause: float = 120.0


@dataclass
class Settlement:
    """What a drain decided for one batch; written in one script call."""

    retry: list[tuple[int, str]] = field(default_factory=list)
    front: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    #: (regulation id, outcome) of the GDPR deletes in the batch
    regulations: list[tuple[str, Any]] = field(default_factory=list)
    # observe: what the batch adds to the minute series (router/timeseries.py), and the
    # destination's health ("ok" / "fail" with a note / "" unknown). SETTLE answers with
    # ``health_change``: ("failing", note) or ("recovered", the note it was failing with).
    metrics: dict[str, int] = field(default_factory=dict)
    health: str = ""
    health_note: str = ""
    health_change: tuple[str, str] = ("", "")
    #: trace entry -> the messageIds whose traces it is appended to (most of a batch shares one entry)
    trace: dict[str, list[str]] = field(default_factory=dict)
    #: one delivered exchange (JSON, redacted) for the recent-deliveries list, and the list's length
    sample: str = ""
    sample_cap: int = 0
    #: what the batch told the circuit breaker
    verdict: Verdict = Verdict.UNKNOWN

    #: an ordered destination's per-user outcome (router/ordering.py); None: unordered
    ordered: "UserOrder | None" = None

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


@dataclass
class UserOrder:
    """What settling a batch does to its users at an ordered destination."""

    #: every user of the batch -> its unfinished events, oldest first, back to the head of its held list
    held: dict[str, list[str]] = field(default_factory=dict)
    #: users whose oldest event went to retry: they stay busy
    busy: set[str] = field(default_factory=set)
    #: (user, dead-letter record): SETTLE adds how many of the user's later events continue
    dead: list[tuple[str, str]] = field(default_factory=list)


class Keys:
    def __init__(self, ns: str) -> None:
        self.ns = ns

    def buf(self, d: str) -> str:
        return f"{self.ns}:buf:{d}"

    def retry(self, d: str) -> str:
        return f"{self.ns}:retry:{d}"

    def inflight(self, d: str) -> str:
        return f"{self.ns}:inflight:{d}"

    def dead(self, d: str) -> str:
        return f"{self.ns}:dead:{d}"

    def stats(self, d: str) -> str:
        return f"{self.ns}:stats:{d}"

    def drainers(self, d: str) -> str:
        return f"{self.ns}:drainers:{d}"

    def sample(self, d: str) -> str:
        """The newest delivered exchanges (router/exchanges.py), newest first, capped."""
        return f"{self.ns}:sample:{d}"

    def breaker(self, d: str) -> str:
        return f"{self.ns}:breaker:{d}"

    def busy(self, d: str) -> str:
        return f"{self.ns}:busy:{d}"

    def ready(self, d: str) -> str:
        return f"{self.ns}:ready:{d}"

    def held(self, d: str, user: str) -> str:
        return f"{self.ns}:held:{d}:{user}"

    @property
    def rejected(self) -> str:
        return f"{self.ns}:rejected"

    @property
    def ingest_stats(self) -> str:
        return f"{self.ns}:stats:_ingest"

    @property
    def suppressed(self) -> str:
        return f"{self.ns}:suppressed"

    def forgotten(self, uhash: str) -> str:
        return f"{self.ns}:forgotten:{uhash}"

    def regulation(self, reg_id: str) -> str:
        return f"{self.ns}:reg:{reg_id}"

    @property
    def regulations(self) -> str:
        return f"{self.ns}:regs"

    @property
    def ticker(self) -> str:
        return f"{self.ns}:ticker"


class DeliveryQueue:
    """All of the queue's Redis operations."""

    def __init__(
        self, client: redis.Redis, namespace: str, *, lease: float = 60.0, pickup: float = 300.0,
        retention: float = timeseries.DEFAULT_RETENTION, trace_cap: int = 100_000,
    ) -> None:
        self.redis = client
        #: how long the per-minute metrics are kept (``metrics: {retention: 7d}``)
        self.retention = retention
        #: at most this many event traces are kept (``trace: {max_events: ...}``; 0: none)
        self.trace_cap = trace_cap
        self.ns = namespace
        self.keys = Keys(namespace)
        self.lease_ms = int(lease * 1000)
        #: how long a freshly enqueued drain job may wait for a worker before another is enqueued
        self.pickup_ms = int(max(pickup, lease) * 1000)
        self._ingest = client.register_script(INGEST)
        self._push = client.register_script(PUSH)
        self._claim = client.register_script(CLAIM)
        self._extend = client.register_script(EXTEND)
        self._settle = client.register_script(SETTLE)
        self._release = client.register_script(RELEASE)
        self._return = client.register_script(RETURN)
        self._tick = client.register_script(TICK)
        self._purge = client.register_script(PURGE)
        self._claim_ordered = client.register_script(CLAIM_ORDERED)
        self._settle_ordered = client.register_script(SETTLE_ORDERED)
        self._return_ordered = client.register_script(RETURN_ORDERED)
        self._tick_ordered = client.register_script(TICK_ORDERED)
        self._release_ordered = client.register_script(RELEASE_ORDERED)
        self._unhold = client.register_script(UNHOLD)

    # ingest --------------------------------------------------------------
    def ingest(
        self, source: str, items: Sequence[tuple[str | bytes, str, Sequence[str], str | bytes]], dedup_ttl: float,
        traces: Sequence[str] | None = None, replica_wait_ms: int = 0,
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Store accepted events in their destinations' buffers, in one round trip.

        ``items``: (messageId, user hash, destination names, envelope). Returns the
        per-item status (accepted / duplicate / suppressed) and the drain jobs to enqueue.
        ``traces``: each item's ``received`` trace entry (router/trace.py), or None for no traces.
        ``replica_wait_ms``: ``durability: replicated`` (see ``replicated``); 0: answer at once.
        """
        now = now_ms()
        minute = timeseries.minute_of(now)
        # observe: each distinct trace entry once, items refer to it by index (most requests have one or two)
        distinct: dict[str, int] = {}
        refs = [distinct.setdefault(t, len(distinct) + 1) for t in traces] if traces else [0] * len(items)
        args: list[Any] = [self.ns, now, int(dedup_ttl * 1000), source, self.pickup_ms,
                           minute, timeseries.expire_at(minute, self.retention), self.trace_cap if traces else 0,
                           len(distinct), *distinct]
        for k, (mid, uh, dests, env) in enumerate(items):
            args += [mid, uh, len(dests), *dests, env, refs[k]]
        if not replica_wait_ms:
            status, wake = self._ingest(args=args)
            return [s.decode() for s in status], _pairs(wake)
        try:
            status, wake = replicated(self._ingest, args, replica_wait_ms)
        except NotReplicated as exc:
            exc.wakes = _pairs(exc.result[1])
            raise
        return [s.decode() for s in status], _pairs(wake)

    def push(self, dest: str, envelopes: Sequence[str], *, front: bool = False) -> str:
        """Append envelopes to a buffer (replay, backfill); returns a drain token to enqueue, or ''."""
        tok = self._push(args=[self.ns, dest, now_ms(), self.pickup_ms, "1" if front else "0", *envelopes])
        return tok.decode() if isinstance(tok, bytes) else tok

    # drain ----------------------------------------------------------------
    def claim(
        self, dest: str, token: str, batch_id: str, size: int, concurrency: int, others: Sequence[str] = (),
        *, ordered: bool = False,
    ) -> Claimed:
        """Lease up to ``size`` envelopes; nothing while the destination's breaker is open.
        ``others``: the RQ queue keys of the other destinations, to tell whether one waits for a worker.
        ``ordered``: skip (hold) the events of users whose earlier events are in flight or retrying."""
        args = [self.ns, dest, token, now_ms(), self.lease_ms, size, batch_id, concurrency, self.pickup_ms]
        if ordered:
            got = self._claim_ordered(args=[*args, PER_USER, scan_limit(size), *others])
        else:
            got = self._claim(args=[*args, *others])
        items, spawn, open_until, waiting = got[:4]
        spawn = spawn.decode() if isinstance(spawn, bytes) else spawn
        return Claimed(batch_id, list(items), spawn, int(open_until), bool(waiting), len(got) > 4 and bool(got[4]))

    def extend(self, dest: str, token: str, batch_id: str = "") -> None:
        self._extend(args=[self.ns, dest, token, batch_id, now_ms() + self.lease_ms])

    def settle(self, dest: str, batch_id: str, s: Settlement, dead_letter_ttl: float, breaker: Breaker = Breaker()) -> bool:
        """Apply one batch's outcomes (and its verdict to the breaker); False when the lease had
        expired and the batch was already returned."""
        now = now_ms()
        minute = timeseries.minute_of(now)
        args: list[Any] = [self.ns, dest, batch_id, now - int(dead_letter_ttl * 1000), now, Verdict(s.verdict).value,
                           breaker.failures, int(breaker.pause * 1000), int(breaker.max_pause * 1000)]
        args += [minute, timeseries.expire_at(minute, self.retention), len(s.metrics)]
        for name, n in s.metrics.items():
            args += [name, n]
        args += [s.health, s.health_note, len(s.trace)]
        for entry, mids in s.trace.items():
            args += [entry, len(mids), *mids]
        args += [s.sample, s.sample_cap]
        args += [len(s.retry)]
        for due, env in s.retry:
            args += [due, env]
        args += [len(s.front), *s.front, len(s.dead), *s.dead]
        if s.ordered is not None:
            o = s.ordered
            args += [len(o.held)]
            for user, envs in o.held.items():
                args += [user, "1" if user in o.busy else "0", len(envs), *envs]
            args += [len(o.dead)]
            for user, record in o.dead:
                args += [user, record]
        for name, n in s.counts.items():
            args += [name, n]
        done = (self._settle if s.ordered is None else self._settle_ordered)(args=args)
        if not done:
            return False
        s.health_change = (done[1].decode(), done[2].decode())
        return True

    def give_back(self, dest: str, batch_id: str, *, ordered: bool = False) -> int:
        """Return a claimed batch to the head of the buffer (ordered: of its users' held lists) now;
        the number of envelopes (0: already gone)."""
        return int((self._return_ordered if ordered else self._return)(args=[self.ns, dest, batch_id]))

    def release(self, dest: str, token: str, park_until_ms: int = 0, *, successor: bool = True, ordered: bool = False) -> str:
        """End a drain job: park its token until ``park_until_ms``, or hand out a successor
        token when events remain (unless ``successor`` is False: it yielded its worker)."""
        script = self._release_ordered if ordered else self._release
        tok = script(args=[self.ns, dest, token, now_ms(), park_until_ms, self.pickup_ms, "1" if successor else "0"])
        return tok.decode() if isinstance(tok, bytes) else tok

    # scheduler -------------------------------------------------------------
    def tick(self, dest: str, limit: int = 5000, *, ordered: bool = False) -> tuple[int, int, str]:
        """Move due retries back, return expired leases, wake a drainer. (moved, reaped, token)"""
        script = self._tick_ordered if ordered else self._tick
        moved, reaped, tok = script(args=[self.ns, dest, now_ms(), self.pickup_ms, limit])
        return int(moved), int(reaped), tok.decode() if isinstance(tok, bytes) else tok

    def unhold(self, dest: str) -> int:
        """A destination no longer ordered: its held events go back to the buffer (how many)."""
        return int(self._unhold(args=[self.ns, dest]))

    def held(self, dest: str) -> dict[str, int]:
        """Ordered destinations: users whose later events wait behind an earlier one, and users
        whose waiting events are next in line."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hlen(self.keys.busy(dest))
        pipe.scard(self.keys.ready(dest))
        marked, ready = pipe.execute()
        return {"busy_users": int(marked) - int(ready), "ready_users": int(ready)}

    def trim_dead(self, dests: Iterable[str], dead_letter_ttl: float) -> None:
        minid = now_ms() - int(dead_letter_ttl * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for d in dests:
            pipe.xtrim(self.keys.dead(d), minid=minid, approximate=False)
        pipe.execute()

    # dead letters ----------------------------------------------------------
    def dead_letters(self, dest: str, *, since_ms: int = 0, count: int | None = None, newest_first: bool = False) -> list[tuple[str, dict[str, Any]]]:
        key = self.keys.dead(dest)
        if newest_first:
            entries = self.redis.xrevrange(key, "+", f"{since_ms}-0", count=count)
        else:
            entries = self.redis.xrange(key, f"{since_ms}-0", "+", count=count)
        return [(eid.decode(), json.loads(fields[b"d"])) for eid, fields in entries]

    def retrying(self, dest: str, count: int = 50) -> list[dict[str, Any]]:
        """Events waiting for their next attempt, soonest first, with why the last one failed."""
        out = []
        for raw, due in self.redis.zrange(self.keys.retry(dest), 0, count - 1, withscores=True):
            env = json.loads(raw)
            out.append({"id": env["id"], "next_attempt_at": int(due), "attempts": env["a"],
                        "first_attempt_at": env["f"], "last_error": env.get("l", ""), "event": env["e"]})
        return out

    def delete_dead(self, dest: str, entry_ids: Sequence[str]) -> int:
        return int(self.redis.xdel(self.keys.dead(dest), *entry_ids)) if entry_ids else 0

    def purge_users(self, dest: str, hashes: Sequence[str]) -> int:
        """Remove the users' events from a destination (or, with dest '', from the ingest rejections)."""
        return int(self._purge(args=[self.ns, dest, *hashes])) if hashes else 0

    def depth(self, dest: str) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(self.keys.buf(dest))
        pipe.zcard(self.keys.retry(dest))
        pipe.zcard(self.keys.inflight(dest))
        pipe.xlen(self.keys.dead(dest))
        pipe.hgetall(self.keys.stats(dest))
        pipe.hget(self.keys.breaker(dest), "until")
        pipe.hlen(self.keys.busy(dest))
        buffered, retrying, inflight, dead, stats, opened, marked = pipe.execute()
        out = {"buffered": buffered, "retrying": retrying, "inflight_batches": inflight, "dead_letters": dead,
               "breaker_open_until": int(opened or 0)}
        if marked:  # ordered: users whose oldest event is in flight, retrying, or whose held events are next
            out["ordered_users"] = int(marked)
        out.update({k.decode(): int(v) for k, v in stats.items()})
        return out


class NotReplicated(redis.RedisError):
    """``durability: replicated``: no replica confirmed the write in time. The events are on the
    master and may yet be delivered; the client's retry with the same messageIds is deduplicated."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        #: the script's answer: its drain jobs are still enqueued (the events are on the master)
        self.result = result
        self.wakes: list[tuple[str, str]] = []


def replicated(script: Any, args: list[Any], wait_ms: int) -> Any:
    """Run ``script`` and ``WAIT 1 wait_ms`` in one round trip; raise NotReplicated (ingest answers
    503) unless a replica acknowledged everything this connection wrote, the script's writes included.

    EVALSHA rather than the Script object in a pipeline: that one asks SCRIPT EXISTS first on
    every call, a second round trip. A NOSCRIPT answer (a fresh master after a failover) wrote
    nothing; the script is loaded and the pair sent again."""
    for attempt in (0, 1):
        pipe = script.registered_client.pipeline(transaction=False)
        pipe.evalsha(script.sha, 0, *args)
        pipe.execute_command("WAIT", 1, wait_ms)
        result, acked = pipe.execute(raise_on_error=False)
        if isinstance(result, redis.exceptions.NoScriptError) and attempt == 0:
            script.registered_client.script_load(script.script)
            continue
        if isinstance(result, Exception):
            raise result
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < 1:
            raise NotReplicated(f"no replica acknowledged the write within {wait_ms} ms", result)
        return result
    raise AssertionError("unreachable")


def _pairs(flat: Sequence[bytes]) -> list[tuple[str, str]]:
    return [(flat[i].decode(), flat[i + 1].decode()) for i in range(0, len(flat), 2)]
