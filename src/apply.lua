#!lua
-- apply.lua: a batch of steps, each all or nothing (see src/apply.c for
-- the encoding). Every check of a step, key types included, comes before
-- its first write, so that a step that cannot be applied leaves nothing
-- behind; each step has its own answer.
--
-- KEYS: 1 gr:due, 2 gr:open, 3 gr:out:assignments, 4 gr:out:notifications,
-- 5 gr:deadletter, 6 gr:deadlines; then per step: for a creation or an update, its
-- incident's hash, document, timeline and seen set, its dedup key, the
-- source stream and its extra keys (KPI hashes, sets); for a dead letter
-- or an acknowledgement, the source stream.
--
-- ARGV: 1 group, 2 MAXLEN of the output streams, 3 the events channel,
-- 4 EXPIRE seconds of a closed incident, 5 the number of steps; then per
-- step its mode and arguments:
--   'a' entry                                  acknowledge
--   'd' entry reason error payload             dead-letter and acknowledge
--   'c'|'u' id entry member expect sha due-op due-score open-op open-score
--       deadlines-op deadlines-score dedup-op expire-op doc n-extra-keys
--       nfields field value ... nevents event ... nassignments ... nnotifications ...
--       nops (op key-index arg arg) ...
-- member is "<source>/<entry>": for an update, the seen-set member; for a
-- creation, compared with the source and entry of the incident's first
-- event (the creating entry is not in the seen set). expect is the version an
-- update needs, or the incident a creation's dedup key must name ('' for
-- none, '-' for no condition). Ops: 's' set, 'r' remove, 'k' keep; expire
-- 'e' EXPIRE, 'p' PERSIST, 'k' keep; extra ops 'h' HINCRBY key field n,
-- 'H' HINCRBY key field 1 and 'S' SADD key member, each with PEXPIREAT key
-- ms when the key is new. A creation's fields are those of CREATED (the
-- fields of §7 at their first value, and version 1), then its own, in a
-- second HSET (lifecycle.c leaves out of a creation's fields what has
-- CREATED's value: lc_create_defaults; one table of both costs more).
--
-- Answers, per step: ok, seen, exists, same, conflict, retry, gone,
-- d:<id> (the dedup key names that incident), wrongtype:<key>.
--
-- What every step of a batch does to gr:due and gr:open, the KPI
-- counters, sets and expiries and the acknowledgements is done at the end,
-- one call each per key (the
-- script is atomic: nobody sees the difference); nothing a step checks
-- depends on those. A KPI counter someone made a non-integer is skipped
-- (pcall), the rest of its step applied.
local group, maxlen, channel, expire_s = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local CREATED = {'co_assignees', '[]', 'case_deadline', '', 'verify_deadline', '',
  'review_deadline', '', 'parked_until', '', 'resolved_at', '', 'verifiers', '[]',
  'resolved_by', '', 'handled_by', '', 'pending_extension', '', 'extensions', '0',
  'reworks', '0', 'reopens', '0', 'urges', '0', 'late', '0', 'parked_at', '', 'version', '1'}
local types = {}
local function shared(k, want)
  local t = types[k]
  if t == nil then
    t = redis.call('TYPE', k)['ok']
    types[k] = t
  end
  return t == 'none' or t == want
end
local function failed(v)
  return type(v) == 'table' and v['err'] ~= nil
end
local res = {}
-- what every step of the batch does to these is done once at the end, in
-- one call each: the acknowledgements, per stream; gr:due and gr:open,
-- the last operation on a member winning; the KPI increments, summed
local acks, ackstreams = {}, {}
local zsets = {{}, {}, {}}
local zorder = {{}, {}, {}}
local zkey = {1, 2, 6}
local incr, incrorder = {}, {}
local sadd, saddorder = {}, {}
local pexp, pexporder = {}, {}
local function ack(src, entry)
  local l = acks[src]
  if l == nil then
    l = {}
    acks[src] = l
    ackstreams[#ackstreams + 1] = src
  end
  l[#l + 1] = entry
end
local function zop(z, op, score, id)
  if op == 'k' then return end
  if zsets[z][id] == nil then zorder[z][#zorder[z] + 1] = id end
  zsets[z][id] = op == 's' and score or false
end
local a, k = 6, 7
for s = 1, tonumber(ARGV[5]) do
  local mode, r = ARGV[a], 'ok'
  if mode == 'd' or mode == 'a' then
    local src, entry = KEYS[k], ARGV[a + 1]
    k = k + 1
    if not shared(src, 'stream') then
      r = 'wrongtype:' .. src
    elseif mode == 'a' then
      ack(src, entry)
    elseif not shared(KEYS[5], 'stream') then
      r = 'wrongtype:' .. KEYS[5]
    elseif redis.call('XACK', src, group, entry) == 0 then
      r = 'seen'
    else
      redis.call('XADD', KEYS[5], '*', 'source', src, 'entry', entry, 'reason', ARGV[a + 2],
        'error', ARGV[a + 3], 'payload', ARGV[a + 4])
    end
    a = a + (mode == 'a' and 2 or 5)
  else
    local inc, doc, tl, seen, dedup, src = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3],
      KEYS[k + 4], KEYS[k + 5]
    local id, entry, member, expect, sha = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4],
      ARGV[a + 5]
    local dueop, duescore, openop, openscore = ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
    local dlop, dlscore = ARGV[a + 10], ARGV[a + 11]
    local dedupop, expop, docv, nx = ARGV[a + 12], ARGV[a + 13], ARGV[a + 14], tonumber(ARGV[a + 15])
    local xk = k + 6
    k = xk + nx
    local fi = a + 16
    local nf = tonumber(ARGV[fi])
    local ei = fi + 2 * nf + 1
    local ne = tonumber(ARGV[ei])
    local ai = ei + ne + 1
    local na = tonumber(ARGV[ai])
    local ni = ai + na + 1
    local nn = tonumber(ARGV[ni])
    local oi = ni + nn + 1
    local no = tonumber(ARGV[oi])
    a = oi + 4 * no + 1
    -- every check before the first write
    if entry ~= '' and not shared(src, 'stream') then r = 'wrongtype:' .. src
    elseif dueop ~= 'k' and not shared(KEYS[1], 'zset') then r = 'wrongtype:' .. KEYS[1]
    elseif openop ~= 'k' and not shared(KEYS[2], 'zset') then r = 'wrongtype:' .. KEYS[2]
    elseif dlop ~= 'k' and not shared(KEYS[6], 'zset') then r = 'wrongtype:' .. KEYS[6]
    elseif na > 0 and not shared(KEYS[3], 'stream') then r = 'wrongtype:' .. KEYS[3]
    elseif nn > 0 and not shared(KEYS[4], 'stream') then r = 'wrongtype:' .. KEYS[4]
    elseif mode == 'c' then
      local t = redis.call('TYPE', inc)['ok']
      if t == 'hash' then
        -- a redelivery of the creating entry, a retry with the same bytes, or a conflict
        local first = redis.call('LINDEX', tl, 0)
        local ev = first and cjson.decode(first) or {}
        if ev['source'] ~= nil and ev['source'] .. '/' .. tostring(ev['entry']) == member then
          r = 'exists'
        elseif redis.call('HGET', inc, 'report_sha1') == sha then r = 'same'
        else r = 'conflict' end
      elseif t ~= 'none' then r = 'wrongtype:' .. inc
      elseif dedupop == 's' and expect ~= '-' then
        local cur = redis.pcall('GET', dedup)
        if failed(cur) then r = 'wrongtype:' .. dedup
        elseif (cur or '') ~= expect then r = 'd:' .. (cur or '') end
      end
    else
      local v
      if member ~= '' then
        v = redis.pcall('SISMEMBER', seen, member)
        if failed(v) then r = 'wrongtype:' .. seen elseif v == 1 then r = 'seen' end
      end
      if r == 'ok' then
        v = redis.pcall('HGET', inc, 'version')
        if failed(v) then r = 'wrongtype:' .. inc
        elseif not v then r = 'gone'
        elseif v ~= expect then r = 'retry' end
      end
      if r == 'ok' and dedupop ~= 'k' then
        v = redis.pcall('GET', dedup)
        if failed(v) then r = 'wrongtype:' .. dedup end
        if dedupop == 'r' and v ~= id then dedupop = 'k' end
        if dedupop == 's' and v and v ~= id then dedupop = 'k' end
      end
    end
    for o = 0, no - 1 do
      local op, key = ARGV[oi + 1 + 4 * o], KEYS[xk + tonumber(ARGV[oi + 2 + 4 * o]) - 1]
      if r == 'ok' and (((op == 'h' or op == 'H') and not shared(key, 'hash')) or
          (op == 'S' and not shared(key, 'set'))) then
        r = 'wrongtype:' .. key
      end
    end
    -- the first write is the only one that can still fail (the timeline's
    -- type): when it does, nothing was written
    if r == 'ok' and ne > 0 and failed(redis.pcall('RPUSH', tl, unpack(ARGV, ei + 1, ei + ne))) then
      r = 'wrongtype:' .. tl
    end
    if r == 'ok' then
      if mode == 'c' then
        redis.call('HSET', inc, unpack(CREATED))
        if nf > 0 then redis.call('HSET', inc, unpack(ARGV, fi + 1, fi + 2 * nf)) end
      elseif nf > 0 then redis.call('HSET', inc, unpack(ARGV, fi + 1, fi + 2 * nf)) end
      if docv ~= '' then redis.call('SET', doc, docv) end
      for e = ei + 1, ei + ne do redis.call('PUBLISH', channel, ARGV[e]) end
      for e = ai + 1, ai + na do
        redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'assignment', ARGV[e])
      end
      for e = ni + 1, ni + nn do
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', 'notification', ARGV[e])
      end
      zop(1, dueop, duescore, id)
      zop(2, openop, openscore, id)
      zop(3, dlop, dlscore, id)
      if dedupop == 's' then redis.call('SET', dedup, id)
      elseif dedupop == 'r' then redis.call('DEL', dedup) end
      if mode == 'u' and member ~= '' then redis.call('SADD', seen, member) end
      for o = 0, no - 1 do
        local p = oi + 1 + 4 * o
        local key = KEYS[xk + tonumber(ARGV[p + 1]) - 1]
        local op = ARGV[p]
        if op == 'h' or op == 'H' then
          local f = incr[key]
          if f == nil then
            f = {}
            incr[key] = f
            incrorder[#incrorder + 1] = key
          end
          f[ARGV[p + 2]] = (f[ARGV[p + 2]] or 0) + (op == 'H' and 1 or tonumber(ARGV[p + 3]))
        else
          local m = sadd[key]
          if m == nil then
            m = {}
            sadd[key] = m
            saddorder[#saddorder + 1] = key
          end
          m[ARGV[p + 2]] = true
        end
        -- a new key's expiry: the same instant for every op on it
        if op ~= 'h' and types[key] == 'none' and pexp[key] == nil then
          pexporder[#pexporder + 1] = key
          pexp[key] = ARGV[p + 3]
        end
      end
      if expop == 'e' then
        for _, key in ipairs({inc, doc, tl, seen}) do redis.call('EXPIRE', key, expire_s) end
      elseif expop == 'p' then
        for _, key in ipairs({inc, doc, tl, seen}) do redis.call('PERSIST', key) end
      end
    end
    if entry ~= '' and (r == 'ok' or r == 'seen' or r == 'exists' or r == 'same') then
      ack(src, entry)
    end
  end
  res[s] = r
end
for z = 1, 3 do
  local add, rem = {}, {}
  for _, id in ipairs(zorder[z]) do
    local score = zsets[z][id]
    if score then
      add[#add + 1] = score
      add[#add + 1] = id
    else
      rem[#rem + 1] = id
    end
  end
  if #add > 0 then redis.call('ZADD', KEYS[zkey[z]], unpack(add)) end
  if #rem > 0 then redis.call('ZREM', KEYS[zkey[z]], unpack(rem)) end
end
for _, key in ipairs(incrorder) do
  for f, n in pairs(incr[key]) do
    if n ~= 0 then redis.pcall('HINCRBY', key, f, n) end
  end
end
for _, key in ipairs(saddorder) do
  local m = {}
  for member in pairs(sadd[key]) do m[#m + 1] = member end
  redis.call('SADD', key, unpack(m))
end
for _, key in ipairs(pexporder) do redis.call('PEXPIREAT', key, pexp[key]) end
for _, src in ipairs(ackstreams) do redis.call('XACK', src, group, unpack(acks[src])) end
return res
