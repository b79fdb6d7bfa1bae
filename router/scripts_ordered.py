"""The ordered twins of the queue's scripts (``ordering: per_user``): the unordered scripts of
router/scripts.py with a few steps swapped in, so ``ordering: none`` runs those unchanged."""
from __future__ import annotations

from router.scripts import CLAIM, SETTLE, RELEASE, RETURN, TICK

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
# list; the user stays busy when its oldest went to retry (``keep``: its received ms, '' for
# none) and gone() did not drop that retry, else it is released (ready when events wait).
# A dead letter of a user says how many of its later events now continue.
ORDER_SETTLE = """
local nu = tonumber(ARGV[i]); i = i + 1
for _ = 1, nu do
  local u, keep, nh = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local hk = heldp .. u
  for k = i + 2 + nh, i + 3, -1 do if not gone(ARGV[k]) then redis.call('LPUSH', hk, ARGV[k]) end end
  i = i + 3 + nh
  local owner = redis.call('HGET', busyk, u)
  if owner and owner ~= bid then
    -- a purge cleared this batch's mark and a newer batch holds the user: its settle decides
  elseif keep ~= '' and tonumber(keep) > tonumber(redis.call('GET', ns .. ':forgotten:' .. u) or '-1') then
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
