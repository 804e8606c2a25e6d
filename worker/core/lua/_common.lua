--[[
  Shared helpers, prepended by worker/core/script_sources.py to every script in this folder (so each script
  stays one atomic EVALSHA). Only locals: a global would poison fakeredis for later scripts.
  ROLE_RANK, LATENCY_BUCKETS_MS and TTFR_BUCKETS are not defined in any .lua file: script_sources.py
  generates them from Python (worker/core/shared_constants.py, schemas.common.Role) in a prelude
  sent before this file.
]]
local rcall = redis.call
local unpack = unpack or table.unpack

-- Append an already-encoded event to the account stream and the partition stream.
local function emit_raw(accountStream, partitionStream, accountId, maxlen, partitionMaxlen, eventType, data)
  rcall('XADD', accountStream, 'MAXLEN', '~', maxlen, '*', 'type', eventType, 'data', data)
  -- Partition streams feed consumer groups: they are trimmed by trim_events (never past what every
  -- group has read), not here, unless ops set an explicit cap ('0' = none, the default).
  if partitionMaxlen == '0' then
    rcall('XADD', partitionStream, '*', 'account_id', accountId, 'type', eventType, 'data', data)
  else
    rcall('XADD', partitionStream, 'MAXLEN', '~', partitionMaxlen, '*',
          'account_id', accountId, 'type', eventType, 'data', data)
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
  local cap = rcall('HGET', capacityKey, agentId) or rcall('HGET', capacityKey, '*')
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
local function channel_block(first)
  local cb = {channels = KEYS[first], pool = {}, waiting = {}}
  for i, channel in ipairs(CHANNELS) do
    cb.pool[channel] = KEYS[first + i]
    cb.waiting[channel] = KEYS[first + #CHANNELS + i]
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
