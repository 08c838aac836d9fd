#!lua
-- apply.lua: a batch of steps, each all or nothing (see src/apply.c for
-- the encoding). Every check of a step, key types included, comes before
-- its first write, so that a step that cannot be applied leaves nothing
-- behind; each step has its own answer.
--
-- KEYS: 1 gr:due, 2 gr:open, 3 gr:out:assignments, 4 gr:out:notifications,
-- 5 gr:deadletter, 6 gr:deadlines, 7 gr:defaults; then the batch's
-- counters (KPI hashes, the months' unit sets, gr:stats, gr:daily:<day>);
-- then per step: for a creation or an update, its incident's hash,
-- document, timeline and seen set, its dedup key and the source stream;
-- for a dead letter or an acknowledgement, the source stream.
--
-- ARGV: 1 group, 2 MAXLEN of the output streams, 3 the events channel,
-- 4 EXPIRE seconds of a closed incident, 5 the number of steps, 6 the
-- number of counters; then per counter: its kind ('h' a hash of
-- HINCRBY counters, 's' a set), the PEXPIREAT ms it gets when the batch
-- creates it ('' for none), its number of items and the items: for a
-- hash, field and the sum of every step's increments; for a set, member
-- and the number of steps that add it. Then per step a head, its first
-- byte the mode, and the step's arguments:
--   'a' entry                                  acknowledge
--   'd' entry reason error payload             dead-letter and acknowledge
--   'c'|'C'|'u' id entry expect sha due-score open-score deadlines-score
--       doc counts [11 values: 'c'] field value ... event ... assignment ...
--       notification ...
-- A 'c', 'C' or 'u' head is 14 bytes: the mode, then the ops on gr:due,
-- gr:open, gr:deadlines and the dedup key ('s' set, 'r' remove, 'k'
-- keep) and the expiry ('e' EXPIRE, 'p' PERSIST, 'k' keep), then the
-- numbers of field pairs, events, assignments and notifications, two
-- bytes each, high first (bytes, not numbers in text: no argument and no
-- tonumber for each). 'c' is a creation whose fields are, in this
-- order, the values of channel, created_at, level_key, assignees,
-- policy, ack_deadline, resolve_deadline, last_seen_at, unit, category
-- and updated_at, then report_sha1 = sha and the pairs of the others
-- that differ from gr:defaults (names written here cost no argument);
-- 'C' a creation with every field a pair; 'u' an update.
-- The seen-set member is "<source>/<entry>"; a creation is recognized as
-- its first event's source and entry (the creating entry is not in the
-- seen set). expect is the version an update needs, or the incident a
-- creation's dedup key must name ('' for none, '-' for no condition).
-- counts: the step's share of the counters, "<counter> <item> <n> ..."
-- (numbers from 1), '' for none: read only when the step is refused (its
-- share is taken out of the sums) or a counter has the wrong type (the
-- steps that count in it are refused).
--
-- A creation's hash is a COPY of gr:defaults (the fields of §7 at their
-- first value, and version 1: CREATED, checked and written again when it
-- is not exactly that), then its own fields (those at CREATED's value are
-- left out: lifecycle.c's lc_create_defaults, apply.c's field_class). A copy costs less than
-- writing the fields: a new small hash scans its fields on every insert.
--
-- Answers, per step: ok, seen, exists, same, conflict, retry, gone,
-- d:<id> (the dedup key names that incident), wrongtype:<key>.
--
-- What every step of a batch does to gr:due, gr:open and gr:deadlines,
-- the counters and the acknowledgements is done at the end, one call each
-- per key (the script is atomic: nobody sees the difference); nothing a
-- step checks depends on those. A counter someone made a non-integer is
-- skipped (pcall), the rest of its step applied.
local group, maxlen, channel, expire_s = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- the number of a 'c' creation's positional values (apply.c's create_pos)
local NPOS = 11
local CREATED = {'channel', '', 'created_at', '', 'state', 'open', 'level', '1',
  'level_key', '', 'assignees', '[]', 'policy', '', 'ack_deadline', '', 'resolve_deadline', '',
  'last_seen_at', '', 'count', '1', 'unit', '', 'category', '', 'updated_at', '',
  'co_assignees', '[]', 'case_deadline', '', 'verify_deadline', '',
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
-- gr:defaults is exactly CREATED, with no expiry, before the batch's first copy
local defaults_checked = false
local function defaults()
  defaults_checked = true
  local key = KEYS[7]
  local cur = redis.pcall('HGETALL', key)
  local good = not failed(cur) and #cur == #CREATED
  if good then
    local m = {}
    for i = 1, #cur, 2 do m[cur[i]] = cur[i + 1] end
    for i = 1, #CREATED, 2 do
      if m[CREATED[i]] ~= CREATED[i + 1] then good = false break end
    end
    good = good and redis.call('PTTL', key) == -1
  end
  if not good then
    redis.call('DEL', key)
    redis.call('HSET', key, unpack(CREATED))
  end
end
-- a creation's incident that exists: a redelivery of the creating entry,
-- a retry with the same bytes, a conflict, or a key of another type; nil
-- when there is none
local function existing(inc, tl, src, entry, sha)
  local t = redis.call('TYPE', inc)['ok']
  if t == 'none' then return nil end
  if t ~= 'hash' then return 'wrongtype:' .. inc end
  local first = redis.call('LINDEX', tl, 0)
  local ev = first and cjson.decode(first) or {}
  if entry ~= '' and ev['source'] == src and tostring(ev['entry']) == entry then
    return 'exists'
  end
  if redis.call('HGET', inc, 'report_sha1') == sha then return 'same' end
  return 'conflict'
end
local res = {}
-- the counters: key, kind, expiry, first item's ARGV index, items, type fit
local ncnt = tonumber(ARGV[6])
-- (HLEN and SCARD answer a number, 0 for a key that is not there, and
-- fail on another type: cheaper than TYPE)
local ckey, ckind, cexp, cfirst, cn, cok, cnew = {}, {}, {}, {}, {}, {}, {}
local nbad = 0
local a = 7
for i = 1, ncnt do
  local key = KEYS[7 + i]
  ckey[i], ckind[i], cexp[i], cfirst[i], cn[i] = key, ARGV[a], ARGV[a + 1], a + 3, tonumber(ARGV[a + 2])
  local len = redis.pcall(ARGV[a] == 's' and 'SCARD' or 'HLEN', key)
  cok[i], cnew[i] = not failed(len), len == 0
  if not cok[i] then nbad = nbad + 1 end
  a = a + 3 + 2 * cn[i]
end
-- the refused steps' shares, per counter and item
local undo = nil
local function takeout(counts)
  undo = undo or {}
  for c, it, n in string.gmatch(counts, '(%d+) (%d+) (%-?%d+)') do
    c = tonumber(c)
    local u = undo[c]
    if u == nil then
      u = {}
      undo[c] = u
    end
    it = tonumber(it)
    u[it] = (u[it] or 0) + tonumber(n)
  end
end
-- what every step of the batch does to these is done once at the end, in
-- one call each: the acknowledgements, per stream; gr:due, gr:open and
-- gr:deadlines, the last operation on a member winning
local acks, ackstreams = {}, {}
local zsets = {{}, {}, {}}
local zorder = {{}, {}, {}}
local zkey = {1, 2, 6}
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
  if op == 107 then return end -- 'k'
  if zsets[z][id] == nil then zorder[z][#zorder[z] + 1] = id end
  zsets[z][id] = op == 115 and score or false -- 's'
end
local k = 8 + ncnt
-- the shared keys a step writes, checked once (each step again only if one does not fit)
local sharedok = shared(KEYS[1], 'zset') and shared(KEYS[2], 'zset') and shared(KEYS[6], 'zset')
  and shared(KEYS[3], 'stream') and shared(KEYS[4], 'stream')
local A, D, CR, CRALL, U = 97, 100, 99, 67, 117 -- 'a' 'd' 'c' 'C' 'u'
local S, R, K, E, P = 115, 114, 107, 101, 112 -- 's' 'r' 'k' 'e' 'p'
for s = 1, tonumber(ARGV[5]) do
  local h, r = ARGV[a], 'ok'
  local mode = string.byte(h, 1)
  if mode == D or mode == A then
    local src, entry = KEYS[k], ARGV[a + 1]
    k = k + 1
    if not shared(src, 'stream') then
      r = 'wrongtype:' .. src
    elseif mode == A then
      ack(src, entry)
    elseif not shared(KEYS[5], 'stream') then
      r = 'wrongtype:' .. KEYS[5]
    elseif redis.call('XACK', src, group, entry) == 0 then
      r = 'seen'
    else
      redis.call('XADD', KEYS[5], '*', 'source', src, 'entry', entry, 'reason', ARGV[a + 2],
        'error', ARGV[a + 3], 'payload', ARGV[a + 4])
    end
    a = a + (mode == A and 2 or 5)
  else
    local inc, doc, tl, seen, dedup, src = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3],
      KEYS[k + 4], KEYS[k + 5]
    k = k + 6
    local _, dueop, openop, dlop, dedupop, expop, f1, f2, e1, e2, a1, a2, n1, n2 = string.byte(h, 1, 14)
    local nf, ne, na, nn = f1 * 256 + f2, e1 * 256 + e2, a1 * 256 + a2, n1 * 256 + n2
    local id, entry, expect, sha = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
    local duescore, openscore, dlscore = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
    local docv, counts = ARGV[a + 8], ARGV[a + 9]
    local pi = a + 10 -- a positional creation's values
    local fi = mode == CR and pi + NPOS or pi
    local ei = fi + 2 * nf
    local ai = ei + ne
    local ni = ai + na
    a = ni + nn
    local member = ''
    if mode == U and entry ~= '' then member = src .. '/' .. entry end
    -- every check before the first write
    if entry ~= '' and not shared(src, 'stream') then r = 'wrongtype:' .. src
    elseif sharedok then -- (the shared keys all fit: the common case)
    elseif dueop ~= K and not shared(KEYS[1], 'zset') then r = 'wrongtype:' .. KEYS[1]
    elseif openop ~= K and not shared(KEYS[2], 'zset') then r = 'wrongtype:' .. KEYS[2]
    elseif dlop ~= K and not shared(KEYS[6], 'zset') then r = 'wrongtype:' .. KEYS[6]
    elseif na > 0 and not shared(KEYS[3], 'stream') then r = 'wrongtype:' .. KEYS[3]
    elseif nn > 0 and not shared(KEYS[4], 'stream') then r = 'wrongtype:' .. KEYS[4]
    end
    local create = mode == CR or mode == CRALL
    if r ~= 'ok' then
    elseif create then
      -- whether the incident exists is asked by the copy below, the first write
      if dedupop == S and expect ~= '-' then
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
      if r == 'ok' and dedupop ~= K then
        v = redis.pcall('GET', dedup)
        if failed(v) then r = 'wrongtype:' .. dedup end
        if dedupop == R and v ~= id then dedupop = K end
        if dedupop == S and v and v ~= id then dedupop = K end
      end
    end
    if r == 'ok' and nbad > 0 and counts ~= '' then
      for c in string.gmatch(counts, '(%d+) %d+ %-?%d+') do
        if not cok[tonumber(c)] then
          r = 'wrongtype:' .. ckey[tonumber(c)]
          break
        end
      end
    end
    if create then
      if r ~= 'ok' then
        -- an incident that exists answers first, after a source of another type
        if r ~= 'wrongtype:' .. src then r = existing(inc, tl, src, entry, sha) or r end
      else
        -- the first write: it fails when the incident exists
        if not defaults_checked then defaults() end
        if redis.call('COPY', KEYS[7], inc) == 0 then r = existing(inc, tl, src, entry, sha) or 'retry' end
      end
    end
    -- the only other write that can fail (the timeline's type): when it
    -- does, nothing was written (the copy is taken back)
    if r == 'ok' and ne > 0 and failed(redis.pcall('RPUSH', tl, unpack(ARGV, ei, ei + ne - 1))) then
      r = 'wrongtype:' .. tl
      if create then redis.call('DEL', inc) end
    end
    if r == 'ok' then
      if mode == CR then
        -- the fields in gr:defaults' order, each found near the front; then the others
        local p = pi
        redis.call('HSET', inc, 'channel', ARGV[p], 'created_at', ARGV[p + 1],
          'level_key', ARGV[p + 2], 'assignees', ARGV[p + 3], 'policy', ARGV[p + 4],
          'ack_deadline', ARGV[p + 5], 'resolve_deadline', ARGV[p + 6],
          'last_seen_at', ARGV[p + 7], 'unit', ARGV[p + 8], 'category', ARGV[p + 9],
          'updated_at', ARGV[p + 10], 'report_sha1', sha, unpack(ARGV, fi, fi + 2 * nf - 1))
      elseif nf > 0 then redis.call('HSET', inc, unpack(ARGV, fi, fi + 2 * nf - 1)) end
      if docv ~= '' then redis.call('SET', doc, docv) end
      for e = ei, ei + ne - 1 do redis.call('PUBLISH', channel, ARGV[e]) end
      for e = ai, ai + na - 1 do
        redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'assignment', ARGV[e])
      end
      for e = ni, ni + nn - 1 do
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', 'notification', ARGV[e])
      end
      zop(1, dueop, duescore, id)
      zop(2, openop, openscore, id)
      zop(3, dlop, dlscore, id)
      if dedupop == S then redis.call('SET', dedup, id)
      elseif dedupop == R then redis.call('DEL', dedup) end
      if mode == U and member ~= '' then redis.call('SADD', seen, member) end
      if expop == E then
        for _, key in ipairs({inc, doc, tl, seen}) do redis.call('EXPIRE', key, expire_s) end
      elseif expop == P then
        for _, key in ipairs({inc, doc, tl, seen}) do redis.call('PERSIST', key) end
      end
    elseif counts ~= '' then
      takeout(counts)
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
-- the counters: the sums of the applied steps; a key the batch creates
-- gets its expiry
for c = 1, ncnt do
  if cok[c] then
    local key, p, u, wrote = ckey[c], cfirst[c], undo and undo[c], false
    if ckind[c] == 's' then
      local m = {}
      for i = 1, cn[c] do
        if u == nil or u[i] == nil or tonumber(ARGV[p + 1]) > u[i] then m[#m + 1] = ARGV[p] end
        p = p + 2
      end
      if #m > 0 then
        redis.call('SADD', key, unpack(m))
        wrote = true
      end
    else
      for i = 1, cn[c] do
        local n = ARGV[p + 1]
        if u ~= nil and u[i] ~= nil then n = string.format('%d', tonumber(n) - u[i]) end
        if n ~= '0' then
          redis.pcall('HINCRBY', key, ARGV[p], n)
          wrote = true
        end
        p = p + 2
      end
    end
    if wrote and cexp[c] ~= '' and cnew[c] then redis.call('PEXPIREAT', key, cexp[c]) end
  end
end
for _, src in ipairs(ackstreams) do redis.call('XACK', src, group, unpack(acks[src])) end
return res
