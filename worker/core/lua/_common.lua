--[[
  Shared helpers, prepended by worker/core/script_sources.py to every script in this folder (so each script
  stays one atomic EVALSHA). Only locals: a global would poison fakeredis for later scripts.
  ROLE_RANK, LATENCY_BUCKETS_MS and TTFR_BUCKETS are not defined in any .lua file: script_sources.py
  generates them from Python (worker/core/shared_constants.py, schemas.common.Role) in a prelude
  sent before this file.
]]
local rcall = redis.call
local unpack = unpack or table.unpack

-- Append an already-encoded event to the account stream and the partition stream. The partition entry
-- carries the account entry's id (account_entry_id): the two streams' ids differ, and a reader of the
-- partition stream (the live toasts' fan-out) must hand out ids a client resumes from on the account stream.
local function emit_raw(accountStream, partitionStream, accountId, maxlen, partitionMaxlen, eventType, data)
  local entryId = rcall('XADD', accountStream, 'MAXLEN', '~', maxlen, '*', 'type', eventType, 'data', data)
  -- Partition streams feed consumer groups: they are trimmed by trim_events (never past what every
  -- group has read), not here, unless ops set an explicit cap ('0' = none, the default).
  if partitionMaxlen == '0' then
    rcall('XADD', partitionStream, '*', 'account_id', accountId, 'account_entry_id', entryId,
          'type', eventType, 'data', data)
  else
    rcall('XADD', partitionStream, 'MAXLEN', '~', partitionMaxlen, '*',
          'account_id', accountId, 'account_entry_id', entryId, 'type', eventType, 'data', data)
  end
end

-- Move the unassigned-queue depth of one channel:reason by delta, and file the new depth (and, when it
-- grew, the hour's peak) in the day's stats hash (docs/STATS.md).
local function record_depth(uqDepthKey, statsKey, hour, field, delta)
  local depth = rcall('HINCRBY', uqDepthKey, field, delta)
  rcall('HSET', statsKey, 'uq_depth:' .. hour .. ':' .. field, depth)
  local peakField = 'uq_peak:' .. hour .. ':' .. field
  if delta > 0 and depth > tonumber(rcall('HGET', statsKey, peakField) or '-1') then
    rcall('HSET', statsKey, peakField, depth)
  end
end

-- After the unassigned set grew: file its total depth (its ZCARD) as the hour's total peak if it is above
-- it, so a burst drained before the hour ends still shows (docs/STATS.md).
local function record_total_peak(statsKey, hour, total)
  local field = 'uq_peak_total:' .. hour
  if total > tonumber(rcall('HGET', statsKey, field) or '-1') then rcall('HSET', statsKey, field, total) end
end

-- SADD many members in chunks (Lua's unpack has a stack limit).
local function sadd_all(key, members)
  for i = 1, #members, 1000 do
    rcall('SADD', key, unpack(members, i, math.min(i + 999, #members)))
  end
end

-- Append one event to the account's stream and to its partition's stream (same hash slot), so a
-- decision and its events are one atomic write. `rawFields` is pre-encoded JSON members
-- (e.g. '"changes":{...}') spliced in verbatim: cjson would turn an empty JSON list into {}.
local function emit(accountStream, partitionStream, accountId, maxlen, partitionMaxlen,
                    eventId, eventType, nowIso, payload, rawFields)
  payload['id'] = eventId
  payload['type'] = eventType
  payload['schema_version'] = '1'
  payload['account_id'] = accountId
  payload['occurred_at'] = nowIso
  local data = cjson.encode(payload)
  if rawFields then
    data = string.sub(data, 1, -2) .. ',' .. rawFields .. '}'
  end
  emit_raw(accountStream, partitionStream, accountId, maxlen, partitionMaxlen, eventType, data)
end

-- Role of a user, or nil and an error message when the user is unknown.
local function role_of(usersKey, userId)
  local role = rcall('HGET', usersKey, userId)
  if not role then
    return nil, 'RR_UNKNOWN_USER unknown user ' .. userId
  end
  return role, nil
end

-- A role with its article, for messages: 'an owner', 'an admin', 'a manager', 'an agent', 'a viewer'.
local function a_role(role)
  if role == 'owner' or role == 'admin' or role == 'agent' then return 'an ' .. role end
  return 'a ' .. role
end

-- nil when `actorId` may manage the account (owner, admin, manager), else an error message.
local function require_manager(usersKey, actorId, action)
  local role, err = role_of(usersKey, actorId)
  if err then return err end
  if ROLE_RANK[role] < ROLE_RANK['manager'] then
    return 'RR_FORBIDDEN ' .. actorId .. ' is ' .. a_role(role) .. '; only owner, admin or manager may ' .. action
  end
  return nil
end

-- Change an agent's load (open tickets assigned to them) by `delta`, never below 0: tickets assigned
-- before load was tracked (an upgrade) have no unit to give back when they close or move.
local function add_load(loadKey, agentId, delta)
  if rcall('HINCRBY', loadKey, agentId, delta) < 0 then
    rcall('HSET', loadKey, agentId, 0)
  end
end

-- Capacity (docs/DESIGN.md, "Capacity and the waiting queue"). The capacity hash holds the account's
-- value under '*' and per-agent overrides under the agent's id ('*' is not a valid id). While it exists,
-- the ready zset holds exactly the Online agents whose load is below their capacity, scored by their
-- rotation place: round robin and releases pick its head. Without it nothing is capped and ready is gone.

-- An agent's capacity, or nil (no cap).
local function capacity_of(capacityKey, agentId)
  local caps = rcall('HMGET', capacityKey, agentId, '*')  -- one call: the override, else the account's
  local cap = caps[1] or caps[2]
  if cap then return tonumber(cap) end
  return nil
end

-- File one agent in or out of ready after their status, place, load or capacity changed. Returns whether the
-- account is capped and, when it is, the agent's place (nil: Offline) and whether they are at capacity (upkeep
-- reuses them for the per-channel pools).
local function refresh_ready(capacityKey, readyKey, onlineKey, loadKey, agentId)
  if rcall('EXISTS', capacityKey) == 0 then return false, nil, false end
  local place = rcall('ZSCORE', onlineKey, agentId)
  if place then
    local cap = capacity_of(capacityKey, agentId)
    if cap == nil or tonumber(rcall('HGET', loadKey, agentId) or '0') < cap then
      rcall('ZADD', readyKey, place, agentId)
      return true, place, false
    end
  end
  rcall('ZREM', readyKey, agentId)
  return true, place, place ~= nil
end

-- The waiting queue a release takes from: reasons whose tickets wait for any agent with room (not
-- round_robin_off or no_team_member_online: those wait for people). after_hours tickets wait in 'later'
-- (scored by available_at) until their opening, then join 'waiting' (scored by created_at).
local RELEASABLE = {no_agent_online = true, all_agents_at_capacity = true, older_tickets_waiting = true,
                    reopened = true, no_agent_for_channel = true}

-- File a ticket that just started waiting with `reason` where a release will find it.
local function park(waitingKey, laterKey, ticketId, reason, createdMs, availableMs)
  if RELEASABLE[reason] then
    rcall('ZADD', waitingKey, createdMs, ticketId)
  elseif reason == 'after_hours' and availableMs and availableMs ~= '' then
    rcall('ZADD', laterKey, availableMs, ticketId)
  end
end

-- Take a ticket out of the release queues (assigned, closed, or made to wait for people).
local function unpark(waitingKey, laterKey, ticketId)
  rcall('ZREM', waitingKey, ticketId)
  rcall('ZREM', laterKey, ticketId)
end

-- Note that the account owes a release from `dueMs` on (kept at the earliest such time).
local function release_due_at(releaseDueKey, accountId, dueMs)
  local current = rcall('ZSCORE', releaseDueKey, accountId)
  if (not current) or tonumber(current) > tonumber(dueMs) then
    rcall('ZADD', releaseDueKey, dueMs, accountId)
  end
end

-- Capacity may have appeared: when auto-assign is on, tickets wait and an agent has room, mark the
-- release due now and take its lease. Returns 1 when the caller must enqueue a release job (nobody
-- holds the lease: no release is queued or running), else 0. A release in flight sees the new room in
-- its next batch; one that died leaves the lease to expire and the sweep (release_due) to re-ring.
local function ring_release(settingsKey, waitingKey, readyKey, releaseDueKey, leaseKey, accountId, nowMs, leaseMs)
  local s = rcall('HMGET', settingsKey, 'auto_assign', 'round_robin')
  if s[1] ~= 'on' or s[2] ~= 'on' then return 0 end
  if rcall('ZCARD', waitingKey) == 0 or rcall('ZCARD', readyKey) == 0 then return 0 end
  release_due_at(releaseDueKey, accountId, nowMs)
  if rcall('SET', leaseKey, nowMs, 'NX', 'PX', leaseMs) then return 1 end
  return 0
end

-- Presence timeout (docs/DESIGN.md, "Presence timeout"): an Online agent of an account with a timeout is
-- filed in the partition's presenceDue zset at (last heartbeat + timeout); the workers' sweep sets them
-- Offline once that passes without a newer heartbeat.
local function file_presence(settingsKey, presenceDueKey, accountId, userId, heartbeatMs)
  local timeout = tonumber(rcall('HGET', settingsKey, 'presence_timeout') or '')
  if timeout then
    rcall('ZADD', presenceDueKey, heartbeatMs + timeout * 1000, accountId .. ' ' .. userId)
  end
end

local function unfile_presence(presenceDueKey, accountId, userId)
  rcall('ZREM', presenceDueKey, accountId .. ' ' .. userId)
end

-- Per-channel pools (docs/DESIGN.md, "Per-channel pools"). The agent_channels hash holds agent → the channels
-- they take (comma list; absent: every channel). While it exists (some agent is restricted) each pool:<channel>
-- zset holds exactly the Online agents who take that channel, scored by their rotation place, times POOL_FULL
-- while the account has a capacity and the agent is not in ready (at capacity). waiting:<channel> holds the
-- waiting zset's tickets of that channel, always (so turning pools on finds the backlog). Scripts take the nine
-- keys as one block, in this order (keys.py AccountKeys.channel_block).
-- ``keys``: the table to read (default the script's KEYS; decide_batch passes each ticket's own).
local function channel_block(first, keys)
  keys = keys or KEYS
  local cb = {channels = keys[first], pool = {}, waiting = {}}
  for i, channel in ipairs(CHANNELS) do
    cb.pool[channel] = keys[first + i]
    cb.waiting[channel] = keys[first + #CHANNELS + i]
  end
  return cb
end

-- Whether pools are on, read once per script (cb.on); a script that changes agent_channels sets cb.on = nil.
local function pools_on(cb)
  if cb.on == nil then cb.on = rcall('EXISTS', cb.channels) == 1 end
  return cb.on
end

-- Whether a comma list of channels (nil: every channel) holds `channel`.
local function takes_channel(list, channel)
  if not list then return true end
  return string.find(',' .. list .. ',', ',' .. channel .. ',', 1, true) ~= nil
end

-- File one agent in every pool from what is known of them: their rotation place while Online (nil: Offline or
-- below agent), whether they are at capacity, and their channel list. Only call while pools are on.
local function file_pools(cb, agentId, place, full)
  local list = rcall('HGET', cb.channels, agentId)
  for _, channel in ipairs(CHANNELS) do
    if place and takes_channel(list, channel) then
      local score = tonumber(place)
      if full then score = score * POOL_FULL end
      rcall('ZADD', cb.pool[channel], score, agentId)
    else
      rcall('ZREM', cb.pool[channel], agentId)
    end
  end
end

-- The one upkeep after an agent's status, place, load, capacity or channels changed: ready (capacity) and the
-- pools (when on). Every script that refreshed ready calls this instead, so no script forgets a pool.
local function upkeep(capacityKey, readyKey, onlineKey, loadKey, cb, agentId)
  local capped, place, full = refresh_ready(capacityKey, readyKey, onlineKey, loadKey, agentId)
  if not pools_on(cb) then return end
  if not capped then place = rcall('ZSCORE', onlineKey, agentId) end
  file_pools(cb, agentId, place, full)
end

-- Rebuild every pool from the Online agents (pools turned on, or the account's capacity changed) with one
-- ZUNIONSTORE per channel (a copy made by Redis itself, not a Lua loop: ~10x cheaper with 10,000 agents), then
-- take out the restricted agents who do not take the channel. Capped: online weighted POOL_FULL, ready 1, the
-- minimum: an agent with room is filed at their place, one at capacity at place * POOL_FULL (file_pools' rule).
local function rebuild_pools(cb, capacityKey, readyKey, onlineKey)
  for _, channel in ipairs(CHANNELS) do rcall('DEL', cb.pool[channel]) end
  if not pools_on(cb) then return end
  local capped = rcall('EXISTS', capacityKey) == 1
  local restricted = rcall('HGETALL', cb.channels)
  for _, channel in ipairs(CHANNELS) do
    local pool = cb.pool[channel]
    if capped then
      rcall('ZUNIONSTORE', pool, 2, onlineKey, readyKey, 'WEIGHTS', POOL_FULL, 1, 'AGGREGATE', 'MIN')
    else
      rcall('ZUNIONSTORE', pool, 1, onlineKey)
    end
    local out = {}
    for i = 1, #restricted, 2 do
      if not takes_channel(restricted[i + 1], channel) then out[#out + 1] = restricted[i] end
    end
    for i = 1, #out, 1000 do rcall('ZREM', pool, unpack(out, i, math.min(i + 999, #out))) end
  end
end

-- Why nobody took a ticket of `channel`: 'no_agent_online' (nobody Online but skipAgentId), else with pools on
-- 'all_agents_at_capacity' when agents for the channel are Online (all at capacity) or 'no_agent_for_channel',
-- else (seed and capacity path) 'all_agents_at_capacity' when capped.
local function nobody_for_channel(capacityKey, onlineKey, cb, channel, skipAgentId)
  local others = rcall('ZCARD', onlineKey)
  if skipAgentId and rcall('ZSCORE', onlineKey, skipAgentId) then others = others - 1 end
  if others <= 0 then return 'no_agent_online' end
  if pools_on(cb) then
    local eligible = rcall('ZCARD', cb.pool[channel])
    if skipAgentId and rcall('ZSCORE', cb.pool[channel], skipAgentId) then eligible = eligible - 1 end
    if eligible > 0 then return 'all_agents_at_capacity' end
    return 'no_agent_for_channel'
  end
  if rcall('EXISTS', capacityKey) == 1 then return 'all_agents_at_capacity' end
  return 'no_agent_online'
end

-- THE PICK: who gets a ticket of `channel` now. The least recently assigned Online agent (below capacity when
-- the account has one) who takes `channel`, other than `skipAgentId` (nil: nobody is skipped; reassignment
-- passes the previous assignee). O(log n): the head of ready / online (no pools: the seed's and capacity's
-- pick, unchanged) or of pool:<channel> below POOL_FULL. Returns the agent id, or nil and the reason
-- (nobody_for_channel). Places are not touched: the caller records the assignment.
local function pick_for_channel(capacityKey, readyKey, onlineKey, cb, channel, skipAgentId)
  local head
  if pools_on(cb) then
    head = rcall('ZRANGEBYSCORE', cb.pool[channel], '-inf', '(' .. POOL_FULL, 'LIMIT', 0, 2)
  elseif rcall('EXISTS', capacityKey) == 1 then
    head = rcall('ZRANGE', readyKey, 0, 1)
  else
    head = rcall('ZRANGE', onlineKey, 0, 1)
  end
  local agentId = head[1]
  if agentId ~= nil and agentId == skipAgentId then agentId = head[2] end
  if agentId then return agentId, nil end
  return nil, nobody_for_channel(capacityKey, onlineKey, cb, channel, skipAgentId)
end

-- A channel whose oldest waiting ticket an agent with room could take now (pools on), or nil.
local function channel_with_room(cb)
  for _, channel in ipairs(CHANNELS) do
    if rcall('ZCARD', cb.waiting[channel]) > 0 and
       #rcall('ZRANGEBYSCORE', cb.pool[channel], '-inf', '(' .. POOL_FULL, 'LIMIT', 0, 1) > 0 then
      return channel
    end
  end
  return nil
end

-- File / unfile a ticket in its channel's waiting zset, next to park / unpark (same rule: RELEASABLE reasons).
local function park_channel(cb, ticketId, channel, reason, createdMs)
  if RELEASABLE[reason] and channel and cb.waiting[channel] then
    rcall('ZADD', cb.waiting[channel], createdMs, ticketId)
  end
end

local function unpark_channel(cb, ticketId, channel)
  if channel and cb.waiting[channel] then rcall('ZREM', cb.waiting[channel], ticketId) end
end

-- An agent who went Offline (or below agent) leaves every pool.
local function drop_from_pools(cb, agentId)
  if pools_on(cb) then file_pools(cb, agentId, nil, false) end
end

-- Whether the account releases at all (auto-assign and round robin on, an account capacity), and whether
-- a release has work now: toasts not yet sent (whatever the settings), or, releasing, tickets waiting while
-- an agent has room, or an after-hours ticket whose opening has come (claim_release, end_release).
local function releasing(settingsKey, capacityKey)
  local s = rcall('HMGET', settingsKey, 'auto_assign', 'round_robin')
  return s[1] == 'on' and s[2] == 'on' and rcall('HEXISTS', capacityKey, '*') == 1
end

-- With per-channel pools on (cb given), room means a channel whose waiting tickets an agent with room takes.
local function release_work(settingsKey, capacityKey, waitingKey, laterKey, readyKey, toastsKey, nowMs, cb)
  local on = releasing(settingsKey, capacityKey)
  local dueLater = #rcall('ZRANGEBYSCORE', laterKey, '-inf', nowMs, 'LIMIT', 0, 1) > 0
  local room = rcall('ZCARD', waitingKey) > 0 and rcall('ZCARD', readyKey) > 0
  if room and cb and pools_on(cb) then room = channel_with_room(cb) ~= nil end
  return on, rcall('HLEN', toastsKey) > 0 or (on and (room or dueLater))
end

-- Nothing to release now: the account owes a release at its next after-hours opening, or none.
local function file_next_opening(on, laterKey, releaseDueKey, accountId)
  local nextLater = rcall('ZRANGE', laterKey, 0, 0, 'WITHSCORES')
  if on and #nextLater > 0 then
    rcall('ZADD', releaseDueKey, nextLater[2], accountId)
  else
    rcall('ZREM', releaseDueKey, accountId)
  end
end

-- Reassignment (docs/DESIGN.md, "Reassignment (away, unanswered)"): a customer reply or reopen while the
-- assignee is away, or no first reply in time, sends an assigned ticket through the rotation again.

-- The TTFR bucket (seconds) a duration falls in: TTFR_BUCKETS, the generated prelude.
local function ttfr_bucket(seconds)
  for _, bound in ipairs(TTFR_BUCKETS) do
    if seconds <= bound then return tostring(bound) end
  end
  return 'inf'
end

-- The largest value seen of one figure in the day's stats hash ('<name>_max'): the report never shows a
-- bucket estimate above it.
local function file_max(statsKey, field, seconds)
  if seconds > tonumber(rcall('HGET', statsKey, field) or '-1') then rcall('HSET', statsKey, field, seconds) end
end

-- One duration into a histogram of the day's stats hash: '<name>:<bucket>', '<name>_sum', '<name>_count',
-- '<name>_max'.
local function file_histogram(statsKey, name, seconds)
  rcall('HINCRBY', statsKey, name .. ':' .. ttfr_bucket(seconds), 1)
  rcall('HINCRBY', statsKey, name .. '_sum', seconds)
  rcall('HINCRBY', statsKey, name .. '_count', 1)
  file_max(statsKey, name .. '_max', seconds)
end

-- The no-first-reply timer of an assignment made at `assignedMs`: '<account> <ticket>' → due ms (`after`
-- seconds later) in the partition's unansweredDue zset.
local function file_timer(unansweredDueKey, accountId, ticketId, assignedMs, after)
  rcall('ZADD', unansweredDueKey, tonumber(assignedMs) + after * 1000, accountId .. ' ' .. ticketId)
end

-- File the timer of an automatic assignment while the account has reassign-unanswered on, unless the ticket was
-- already reassigned for no first reply as often as the setting allows (`done`; nil: never).
local function file_unanswered(settingsKey, unansweredDueKey, accountId, ticketId, assignedMs, done)
  local s = rcall('HMGET', settingsKey, 'unanswered_after', 'unanswered_max')
  local after = tonumber(s[1] or '')
  if after and tonumber(done or 0) < tonumber(s[2] or '1') then
    file_timer(unansweredDueKey, accountId, ticketId, assignedMs, after)
  end
end

-- The keys and arguments every reassignment takes, in one order (KEYS[1..13] and ARGV[1..12] of
-- customer_reply and expire_unanswered, with the channel block at KEYS[cbFirst]; reopen_ticket builds the same
-- tables from its own).
local function reassign_context(K, A, cbFirst)
  return {ticket = K[1], settings = K[2], online = K[3], ready = K[4], places = K[5], seq = K[6],
          capacity = K[7], load = K[8], counts = K[9], stats = K[10], events = K[11], pevents = K[12],
          unansweredDue = K[13], cb = channel_block(cbFirst)},
         {accountId = A[1], ticketId = A[2], nowMs = tonumber(A[3]), nowIso = A[4], hour = A[5], eventId = A[6],
          toastId = A[7], maxlen = A[8], pmaxlen = A[9], statsTtl = A[10], recordTtl = tonumber(A[11]),
          leaseMs = A[12]}
end

-- The ticket leaves its assignee: their load goes down; the figures of the reassignment (by reason, and how
-- long the ticket sat with them since its assignment) go into the day's stats.
local function leave_assignee(k, a, rec, reason)
  add_load(k.load, rec.agent, -1)
  upkeep(k.capacity, k.ready, k.online, k.load, k.cb, rec.agent)
  rcall('HINCRBY', k.stats, 'reassigned:' .. reason, 1)
  local since = tonumber(rec.assignedMs or rec.createdMs or a.nowMs)
  file_histogram(k.stats, 'reassign_held', math.max(0, math.floor((a.nowMs - since) / 1000)))
  rcall('EXPIRE', k.stats, a.statsTtl)
  rcall('ZREM', k.unansweredDue, a.accountId .. ' ' .. a.ticketId)
end

-- The record of the assigned ticket `k.ticket` as a reassignment needs it.
local function assigned_record(k)
  local r = rcall('HMGET', k.ticket, 'agent_id', 'channel', 'assigned_ms', 'created_ms')
  return {agent = r[1], channel = r[2], assignedMs = r[3], createdMs = r[4]}
end

-- Send the assigned ticket to the next agent (skipping its assignee) like round robin, by the one pick
-- (pick_for_channel: capacity and, with pools on, the ticket's channel): place, counts, load, stats, record
-- (reason, previous_agent_id, reassignments, reassigned_at/ms, auto), the no-first-reply timer,
-- ticket.assigned and a toast. Returns the new assignee, or nil and why nobody else is available (nothing
-- written).
local function reassign(k, a, rec, reason)
  local agentId, nobody = pick_for_channel(k.capacity, k.ready, k.online, k.cb, rec.channel, rec.agent)
  if not agentId then return nil, nobody end
  leave_assignee(k, a, rec, reason)
  local place = rcall('INCR', k.seq)
  rcall('ZADD', k.online, place, agentId)
  rcall('HSET', k.places, agentId, place)
  rcall('HINCRBY', k.counts, agentId, 1)
  add_load(k.load, agentId, 1)
  upkeep(k.capacity, k.ready, k.online, k.load, k.cb, agentId)
  rcall('HINCRBY', k.stats, 'assigned:' .. agentId, 1)
  rcall('HSET', k.ticket, 'status', 'assigned', 'agent_id', agentId, 'previous_agent_id', rec.agent,
        'reason', reason, 'auto', '1', 'assigned_ms', a.nowMs, 'reassigned_at', a.nowIso, 'reassigned_ms', a.nowMs,
        'decided_at', a.nowIso)
  rcall('HINCRBY', k.ticket, 'reassignments', 1)
  local done = rcall('HGET', k.ticket, 'unanswered_reassignments')
  if reason == 'no_first_reply' then done = rcall('HINCRBY', k.ticket, 'unanswered_reassignments', 1) end
  if a.recordTtl and a.recordTtl > 0 then rcall('EXPIRE', k.ticket, a.recordTtl) end
  file_unanswered(k.settings, k.unansweredDue, a.accountId, a.ticketId, a.nowMs, done)
  -- Ids are validated to [A-Za-z0-9._@+-]; channels and reasons are ours: nothing needs JSON escaping.
  emit_raw(k.events, k.pevents, a.accountId, a.maxlen, a.pmaxlen, 'ticket.assigned',
           '{"id":"' .. a.eventId .. '","type":"ticket.assigned","schema_version":"1","account_id":"' ..
           a.accountId .. '","occurred_at":"' .. a.nowIso .. '","ticket_id":"' .. a.ticketId .. '","channel":"' ..
           rec.channel .. '","agent_id":"' .. agentId .. '","previous_agent_id":"' .. rec.agent ..
           '","reason":"' .. reason .. '","team_id":null}')
  emit_raw(k.events, k.pevents, a.accountId, a.maxlen, a.pmaxlen, 'toast',
           '{"id":"' .. a.toastId .. '","type":"toast","schema_version":"1","account_id":"' .. a.accountId ..
           '","occurred_at":"' .. a.nowIso .. '","user_id":"' .. agentId .. '","text":"' .. rec.channel ..
           ' ticket ' .. a.ticketId .. ' reassigned to you (' .. reason .. ')","ticket_ids":["' .. a.ticketId ..
           '"]}')
  return agentId
end

-- Nobody else available for a ticket whose assignee is away: it becomes unassigned with `why` (reassign's
-- reason: no_agent_online, all_agents_at_capacity or no_agent_for_channel), back in the unassigned set and
-- parked in waiting (and its channel's) by its created_ms, so a release takes it in its turn (and assigns it
-- with previous_agent_id). w: {unassigned, waiting, uqDepth, releaseDue, lease}. Returns whether to enqueue a
-- release.
local function reassign_to_waiting(k, w, a, rec, trigger, why)
  leave_assignee(k, a, rec, trigger)
  rcall('HINCRBY', k.stats, 'reassign_waiting:' .. trigger, 1)
  local createdMs = rec.createdMs or a.nowMs
  rcall('HDEL', k.ticket, 'agent_id', 'assigned_ms')
  rcall('HSET', k.ticket, 'status', 'unassigned', 'reason', why, 'previous_agent_id', rec.agent,
        'reassign_reason', trigger, 'available_at', '', 'available_ms', '', 'reassigned_at', a.nowIso,
        'reassigned_ms', a.nowMs, 'decided_at', a.nowIso)
  rcall('PERSIST', k.ticket)  -- waiting: kept until assigned, like every waiting ticket
  rcall('ZADD', w.unassigned, createdMs, a.ticketId)
  rcall('ZADD', w.waiting, createdMs, a.ticketId)
  park_channel(k.cb, a.ticketId, rec.channel, why, createdMs)
  record_depth(w.uqDepth, k.stats, a.hour, rec.channel .. ':' .. why, 1)
  record_total_peak(k.stats, a.hour, rcall('ZCARD', w.unassigned))
  emit_raw(k.events, k.pevents, a.accountId, a.maxlen, a.pmaxlen, 'ticket.unassigned',
           '{"id":"' .. a.eventId .. '","type":"ticket.unassigned","schema_version":"1","account_id":"' ..
           a.accountId .. '","occurred_at":"' .. a.nowIso .. '","ticket_id":"' .. a.ticketId .. '","channel":"' ..
           rec.channel .. '","reason":"' .. why .. '","available_at":null}')
  return ring_release(k.settings, w.waiting, k.ready, w.releaseDue, w.lease, a.accountId, a.nowMs, a.leaseMs)
end

-- Whether the assignee is away at `atMs` for reassign-away: the setting is on, round robin is on, and the
-- assignee is Offline since at least the grace before `atMs` (Offline since before this version: since ever).
local function assignee_away(settingsKey, onlineKey, offlineSinceKey, agentId, atMs)
  local s = rcall('HMGET', settingsKey, 'reassign_away', 'reassign_away_grace', 'round_robin')
  if s[1] ~= 'on' or s[3] ~= 'on' or not agentId then return false end
  if rcall('ZSCORE', onlineKey, agentId) then return false end
  local since = tonumber(rcall('HGET', offlineSinceKey, agentId) or '0')
  return since + tonumber(s[2] or '0') * 1000 <= tonumber(atMs)
end
