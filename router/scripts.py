"""The delivery queue's Lua scripts (router/queue.py runs them; every key is documented there).

Each state change is one script, so a crash between two steps can't lose or double an event."""

# Writes are what a script costs most: Redis propagates each write command on its own (to the AOF
# and replicas), so INGEST gathers a request's events and writes each key once where it can:
# one RPUSH per destination, one RPUSH to the trace ring, one ZADD per user to their index. CHUNK values
# per command keep unpack() well below Lua's stack limit (~8000).
INGEST = """
-- ARGV[5], the drain lease, and ARGV[8], the trace cap, are read as numbers only where needed:
-- tonumber (strtod) is dear next to what a one-event request does
local ns, now, ttl, src = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- observe: the source's minute bucket (router/timeseries.py); trace cap (0 = no traces) and the
-- request's distinct trace entries, which each item names by index (router/trace.py)
local minute, mexpire, traced, ntr = ARGV[6], ARGV[7], ARGV[8] ~= '0', tonumber(ARGV[9])
local CHUNK, TRIM_ROUNDS = 1000, 10
-- cmd key values... (no key: cmd values...) in commands of at most CHUNK values; the last answer
local function call_all(cmd, key, values)
  local r = 0
  for k = 1, #values, CHUNK do
    local upto = math.min(k + CHUNK - 1, #values)
    if key then r = redis.call(cmd, key, unpack(values, k, upto)) else r = redis.call(cmd, unpack(values, k, upto)) end
  end
  return r
end
-- tonumber (strtod) once per distinct text: the items' counts and trace references repeat
local nums = {}
local function num(text)
  local v = nums[text]
  if not v then v = tonumber(text); nums[text] = v end
  return v
end
local sup = ns .. ':suppressed'
local check_sup = redis.call('SCARD', sup) > 0
local dedup, trp = ns .. ':dedup:' .. src .. ':', ns .. ':trace:'
local status, counts, bufs, order = {}, {}, {}, {}
-- observe: each (status, entry) pair's text is built once; the ring entries of the traces begun
-- here, and each user's (score, messageId) pairs for their index (router/trace.py)
local texts, ring, users, uorder = {}, {}, {}, {}
local nargs, i = #ARGV, 10 + ntr
while i <= nargs do
  local mid, uh, n = ARGV[i], ARGV[i + 1], num(ARGV[i + 2])
  local st = 'accepted'
  if check_sup and uh ~= '' and redis.call('SISMEMBER', sup, uh) == 1 then
    st = 'suppressed'
  elseif mid ~= '' and not redis.call('SET', dedup .. mid, '1', 'NX', 'PX', ttl) then
    st = 'duplicate'
  else
    local env = ARGV[i + 3 + n]
    for j = i + 3, i + 2 + n do
      local d = ARGV[j]
      local b = bufs[d]
      if not b then b = {}; bufs[d] = b; order[#order + 1] = d end
      b[#b + 1] = env
    end
  end
  status[#status + 1] = st
  counts[st] = (counts[st] or 0) + 1
  -- observe: the event's trace begins (or a duplicate is noted in it)
  if traced and mid ~= '' then
    local ref = num(ARGV[i + 4 + n])
    local byref = texts[st]
    if not byref then byref = {}; texts[st] = byref end
    local text = byref[ref]
    if not text then
      text = string.sub(ARGV[9 + ref], 1, -2) .. ',"status":"' .. st .. '"}'
      byref[ref] = text
    end
    local tk = trp .. mid
    if redis.call('SET', tk, text, 'NX', 'PX', ttl) then
      ring[#ring + 1] = ':' .. now .. ':' .. mid
    else
      redis.call('APPEND', tk, '\\n' .. text)
    end
    -- indexed also when the trace was begun already (by another source's event of that messageId)
    if uh ~= '' and st ~= 'suppressed' then  -- a suppressed user is not indexed by their hash
      local u = users[uh]
      if not u then u = {}; users[uh] = u; uorder[#uorder + 1] = uh end
      u[#u + 1] = mid
    end
  end
  i = i + 5 + n
end
for _, d in ipairs(order) do call_all('RPUSH', ns .. ':buf:' .. d, bufs[d]) end
-- observe: a user's index holds their newest USER_TRACES messageIds (scored by received ms) and
-- lives as long as their newest trace. Small per-user sorted sets: one big index costs Redis a
-- cache miss per level of its skiplist, dearer than the writes it saves.
for _, uh in ipairs(uorder) do
  local uk, u = ns .. ':tu:' .. uh, users[uh]
  -- more than USER_TRACES of a user in one request: their newest (the older would be trimmed at once).
  -- Scored by the request's ms plus a fraction in arrival order, so that a client's batch of one
  -- user's events is found newest first (equal scores would order them by messageId)
  local first = math.max(1, #u - 99)
  local n, scored = #u - first + 1, {now, u[first]}  -- one event: the ms as text (a number costs an snprintf)
  if n > 1 then
    local t0 = tonumber(now)
    for k = first + 1, #u do
      scored[#scored + 1] = t0 + (k - first) / n
      scored[#scored + 1] = u[k]
    end
  end
  call_all('ZADD', uk, scored)
  if redis.call('ZCARD', uk) > 100 then redis.call('ZREMRANGEBYRANK', uk, 0, -101) end
  redis.call('PEXPIRE', uk, ttl)
end
-- observe: the ring bounds the traces: past the cap the oldest go, a few commands for many; the
-- ring's entries past the dedup window (their traces expired) are dropped once a minute (below)
local ringk = ns .. ':trring'
local function drop(entries, traces)
  local keys = {}
  for k, e in ipairs(entries) do
    local mid = string.match(e, '^%x*:%d+:(.*)$')
    keys[k] = mid and trp .. mid or ns .. ':tr:' .. e  -- else a messageId an older version rang
  end
  if traces then call_all('DEL', nil, keys) end
end
if #ring > 0 then
  local over = call_all('RPUSH', ringk, ring) - tonumber(ARGV[8])
  if over > 0 then drop(redis.call('LPOP', ringk, over), true) end
end
-- observe: per-source counters, per minute and in total (router/timeseries.py); a minute's
-- hash gets its expiry when one of its counters is new (the hash is then new too, or has it)
local mk, fresh = ns .. ':m:s:' .. src .. ':' .. minute, false
for st, c in pairs(counts) do
  local by = c == 1 and '1' or tostring(c)  -- a number argument costs Redis an snprintf
  -- one counter for the source's total and the router's: router/timeseries.py ingest_totals
  redis.call('HINCRBY', ns .. ':stats:_ingest', src .. '|' .. st, by)
  if redis.call('HINCRBY', mk, st, by) == c then fresh = true end
end
if fresh then redis.call('EXPIREAT', mk, mexpire) end
-- observe: a source's first request of a minute drops the ring's entries past the dedup window
-- (their traces have expired), up to TRIM_ROUNDS * CHUNK. An older version's entry (a bare
-- messageId) goes too: its trace expires by itself. Also with traces turned off.
if fresh then
  local oldest = tonumber(now) - tonumber(ttl)
  local function expired(e) return tonumber(string.match(e, '^%x*:(%d+):') or '0') <= oldest end
  for _ = 1, TRIM_ROUNDS do
    local head = redis.call('LINDEX', ringk, 0)
    if not head or not expired(head) then break end
    local first, k = redis.call('LRANGE', ringk, 0, CHUNK - 1), 1
    while first[k + 1] and expired(first[k + 1]) do k = k + 1 end
    drop(redis.call('LPOP', ringk, k), false)
  end
end
local wake = {}
for _, d in ipairs(order) do
  local dk = ns .. ':drainers:' .. d
  if redis.call('ZCOUNT', dk, '(' .. now, '+inf') == 0 then  -- no live drainer: wake one
    redis.call('ZREMRANGEBYSCORE', dk, '-inf', now)
    local tok = tostring(redis.call('INCR', ns .. ':seq'))
    redis.call('ZADD', dk, now + tonumber(ARGV[5]), tok)
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

# Replay: each dead letter (ARGV 6.. quadruples: entry id, messageId, regulation id or '', envelope)
# goes back to the buffer only when this call removed it from the dead letters, so two replays at
# once (or a replay and a discard) never both act on one; ARGV[5], the ``replayed`` trace entry
# ('' for none), is appended to its trace if that exists. A GDPR delete's regulation counts it as
# pending again instead of failed (while the regulation is kept). Returns {a drain token or ''
# (as PUSH), the entry ids moved...}.
REPLAY = """
local ns, d, now, lease, entry = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local dead, buf = ns .. ':dead:' .. d, ns .. ':buf:' .. d
local out = {''}
for i = 6, #ARGV, 4 do
  if redis.call('XDEL', dead, ARGV[i]) == 1 then
    redis.call('RPUSH', buf, ARGV[i + 3])
    out[#out + 1] = ARGV[i]
    local tk = ns .. ':trace:' .. ARGV[i + 1]
    if entry ~= '' and redis.call('EXISTS', tk) == 1 then redis.call('APPEND', tk, '\\n' .. entry) end
    local rk = ns .. ':reg:' .. ARGV[i + 2]
    if ARGV[i + 2] ~= '' and redis.call('EXISTS', rk) == 1 then
      redis.call('HINCRBY', rk, d .. ':pending', 1)
      if redis.call('HINCRBY', rk, d .. ':failed', -1) <= 0 then redis.call('HDEL', rk, d .. ':reason') end
    end
  end
end
local dk = ns .. ':drainers:' .. d
redis.call('ZREMRANGEBYSCORE', dk, '-inf', now)
if #out > 1 and redis.call('ZCARD', dk) == 0 then
  local tok = tostring(redis.call('INCR', ns .. ':seq'))
  redis.call('ZADD', dk, now + lease, tok)
  out[1] = tok
end
return out
"""

#: GDPR: how long a deleted user's delete time is kept (forgotten:<u>): their events received
#: before it are refused at send time (purging already removed the queued ones)
FORGET_SECONDS = 86400
#: how long after the newest regulation CLAIM looks a batch's users up: while a forgotten:<u> key
#: may live, and an hour for the hosts' clocks
LOOKUP_MS = (FORGET_SECONDS + 3600) * 1000

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
-- GDPR: the delete times of the batch's users who were deleted (forgotten:<u>), so the drainer
-- drops their events without a round trip of its own; and how many users were looked up. Only
-- while a forgotten:<u> key may live: every delete records its regulation (ns:regs, scored by its
-- time) just before it writes its users' keys for FORGET_SECONDS, so past the newest regulation's
-- time and the lookup window none can; then the answer says no user is forgotten (clear)
local forgot, nusers, clear = {}, 0, 1
local newest = redis.call('ZREVRANGE', ns .. ':regs', 0, 0, 'WITHSCORES')
local forgetting = #newest > 0 and tonumber(newest[2]) + LOOKUP_MS > now
if forgetting then
  clear = 0
  local users, seen = {}, {}
  for _, it in ipairs(items) do
    local u = string.match(it, '"u":"(%x*)"')  -- the envelope's own (first); '' for none
    if u and u ~= '' and not seen[u] then seen[u] = true; users[#users + 1] = u end
  end
  nusers = #users
  if nusers > 0 then
    local keys = {}
    for k, u in ipairs(users) do keys[k] = ns .. ':forgotten:' .. u end
    for k, t in ipairs(redis.call('MGET', unpack(keys))) do
      if t then forgot[#forgot + 1] = users[k]; forgot[#forgot + 1] = t end
    end
  end
end
-- one reply string rather than one per envelope (byte 255 never occurs in UTF-8 JSON)
local plain = true
for _, it in ipairs(items) do
  if string.find(it, '\\255', 1, true) then plain = false; break end
end
if plain then items = table.concat(items, '\\255') end
return {items, spawn, 0, others, 0, forgot, nusers, clear}
""".replace("LOOKUP_MS", str(LOOKUP_MS))

EXTEND = """
local ns, d, tok, bid, deadline = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
redis.call('ZADD', ns .. ':drainers:' .. d, deadline, tok)
if bid ~= '' then redis.call('ZADD', ns .. ':inflight:' .. d, 'XX', deadline, bid) end
return 1
"""

SETTLE = """
local ns, d, bid, minid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- GDPR: an item of a user deleted while this batch was at the vendor is dropped, not stored
-- (the delete purged everything else; forgotten:<u> holds the delete's time). The first "u" is
-- the item's own (no string before it holds a bare quote); '' (no user) ends the search there
local function gone(item)
  local u = string.match(item, '"u":"(%x*)"')
  if not u or u == '' then return false end
  local t = redis.call('GET', ns .. ':forgotten:' .. u)
  if not t then return false end
  local r = string.match(item, '"r":(%d+)')
  return r == nil or tonumber(r) <= tonumber(t)
end
-- breaker: what this batch said about the vendor, applied even when the lease was lost.
-- 'ok' (it answered) closes; 'fail' (no answer) counts, and from ``threshold`` consecutive
-- ones opens for pause * 2^(fails - threshold), at most maxpause; '' tells nothing. A silence
-- while it is open is of the outage that opened it (batches that were out together): no count
local now, verdict, threshold, pause, maxpause =
  tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local bk = ns .. ':breaker:' .. d
if verdict == 'ok' then
  redis.call('DEL', bk)
elseif verdict == 'fail' and tonumber(redis.call('HGET', bk, 'until') or '0') <= now then
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
-- Only to a trace that exists: one already dropped stays dropped. The ring drops the oldest
-- traces first, so a batch's are all there or, in a backlog past the cap, its older ones gone:
-- APPEND alone while they are there (a trace it made, it deletes), EXISTS first once one was not
local ngroups, check = tonumber(ARGV[i]), false
i = i + 1
for _ = 1, ngroups do
  local entry, k = ARGV[i], tonumber(ARGV[i + 1])
  local line = '\\n' .. entry
  for j = i + 2, i + 1 + k do
    local tk = ns .. ':trace:' .. ARGV[j]
    if check then
      if redis.call('EXISTS', tk) == 1 then redis.call('APPEND', tk, line) end
    elseif redis.call('APPEND', tk, line) == #line then
      redis.call('DEL', tk)
      check = true
    end
  end
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
-- GDPR: the outcomes of the batch's delete events on their regulations, in the settle's own step
-- (a worker killed after the settle left a delivered delete pending for ever). ARGV: n, n x
-- (regulation id, 'finished' / 'failed' / 'last_error', reason). Added to, as the record may come
-- later (ingest wakes the drainers before it records the regulation)
local nreg = tonumber(ARGV[i]); i = i + 1
for _ = 1, nreg do
  local rk, what, why = ns .. ':reg:' .. ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if what == 'last_error' then
    redis.call('HSET', rk, d .. ':last_error', why)
  else
    redis.call('HINCRBY', rk, d .. ':pending', -1)
    redis.call('HINCRBY', rk, d .. ':' .. what, 1)
    if what == 'failed' then redis.call('HSET', rk, d .. ':reason', why) end
  end
  i = i + 3
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
